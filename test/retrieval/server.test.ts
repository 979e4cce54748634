// Round trip (index → serve → RemoteRetriever), wire shapes, validation, fuzzing, client retries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { startRetrievalServer } from '../../src/retrieval/server.ts';
import { RemoteRetriever, RemoteRetrieverError } from '../../src/retrieval/remote.ts';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';
import { mulberry32 } from '../../src/core/rng.ts';
import type { Hit, Retriever } from '../../src/core/retriever.ts';
import { formatPassages } from '../../src/protocol/passages.ts';

function raw(
  port: number,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

const syn = new SyntheticCorpus({ numDocs: 1500, vocabSize: 2000, wordsPerDoc: 50, seed: 3 });
const docs = [...syn.docs()];
const queries = syn.queries(
  60,
  docs.slice(0, 200).map((d) => d.text),
);

async function withIndex<T>(fn: (idx: Bm25Index) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-srv-'));
  try {
    await buildIndex(docs, dir);
    const idx = await Bm25Index.open(dir);
    try {
      return await fn(idx);
    } finally {
      await idx.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function strip(h: Hit): { id: string; title: string; text: string; score: number } {
  return { id: h.id, title: h.title, text: h.text, score: h.score };
}

test('round trip: index → serve → RemoteRetriever equals the in-process engine; proxy too; both wire shapes', async () => {
  await withIndex(async (idx) => {
    const srv = await startRetrievalServer(idx, { port: 0 });
    // A proxy server fronting a RemoteRetriever of the first server.
    const proxy = await startRetrievalServer(new RemoteRetriever(srv.url), { port: 0 });
    try {
      const local = await idx.search(queries, 5);
      const remote = await new RemoteRetriever(srv.url).search(queries, 5);
      const viaProxy = await new RemoteRetriever(`${proxy.url}/retrieve`, { batchSize: 7 }).search(
        queries,
        5,
      );
      assert.deepEqual(
        remote.map((l) => l.map(strip)),
        local.map((l) => l.map(strip)),
      );
      assert.deepEqual(
        viaProxy.map((l) => l.map(strip)),
        local.map((l) => l.map(strip)),
      );
      assert.ok(local.some((l) => l.length === 5));
      assert.equal(formatPassages(remote[0]), formatPassages(local[0]));
      // Exact wire shapes.
      const q = queries[0];
      const scored = JSON.parse(
        (
          await raw(
            srv.port,
            'POST',
            '/retrieve',
            JSON.stringify({ queries: [q], topk: 2, return_scores: true }),
          )
        ).body,
      );
      assert.deepEqual(scored, {
        result: [
          local[0].slice(0, 2).map((h) => ({
            document: { id: h.id, contents: (h as Hit & { contents: string }).contents },
            score: h.score,
          })),
        ],
      });
      const unscored = await raw(
        srv.port,
        'POST',
        '/retrieve',
        JSON.stringify({ queries: [q], topk: 2, return_scores: false }),
      );
      assert.equal(unscored.status, 200);
      assert.deepEqual(JSON.parse(unscored.body), {
        result: [
          local[0].slice(0, 2).map((h) => ({
            id: h.id,
            contents: `"${docs[Number(h.id)].title}"\n${docs[Number(h.id)].text}`,
          })),
        ],
      });
      // Default topk = 3, default return_scores = false (reference defaults).
      const dflt = JSON.parse(
        (await raw(srv.port, 'POST', '/retrieve', JSON.stringify({ queries: [q] }))).body,
      );
      assert.equal(dflt.result[0].length, 3);
      assert.ok(!('score' in dflt.result[0][0]));
      // The unscored shape parses too (scores become -rank).
      const noScores = await new RemoteRetriever(srv.url, { returnScores: false }).search([q], 3);
      assert.deepEqual(
        noScores[0].map((h) => h.id),
        local[0].slice(0, 3).map((h) => h.id),
      );
      const health = await raw(srv.port, 'GET', '/health');
      assert.equal(health.status, 200);
      assert.equal(JSON.parse(health.body).status, 'ok');
    } finally {
      await proxy.close();
      await srv.close();
    }
  });
});

test('validation: every malformed request gets a JSON 4xx naming the problem', async () => {
  await withIndex(async (idx) => {
    const srv = await startRetrievalServer(idx, {
      port: 0,
      maxBodyBytes: 4096,
      limits: { maxQueries: 8, maxTopk: 50, maxQueryChars: 200 },
    });
    try {
      const cases: [string, string | undefined, number, RegExp][] = [
        ['POST', '{"queries": [', 400, /malformed JSON/],
        ['POST', '', 400, /malformed JSON/],
        ['POST', '[1,2]', 422, /invalid request/],
        ['POST', '{"queries": "abc"}', 422, /queries/],
        ['POST', '{"queries": []}', 422, /queries/],
        ['POST', JSON.stringify({ queries: Array(9).fill('x') }), 422, /queries/],
        ['POST', JSON.stringify({ queries: ['x'.repeat(201)] }), 422, /queries\.0/],
        ['POST', '{"queries": [1]}', 422, /queries\.0/],
        ['POST', '{"queries": ["a"], "topk": 0}', 422, /topk/],
        ['POST', '{"queries": ["a"], "topk": 51}', 422, /topk/],
        ['POST', '{"queries": ["a"], "topk": 2.5}', 422, /topk/],
        ['POST', '{"queries": ["a"], "topk": "3"}', 422, /topk/],
        ['POST', '{"queries": ["a"], "return_scores": "yes"}', 422, /return_scores/],
        ['POST', JSON.stringify({ queries: ['a'], pad: 'x'.repeat(5000) }), 413, /exceeds/],
        ['GET', undefined, 405, /POST/],
      ];
      for (const [method, body, status, re] of cases) {
        const r = await raw(srv.port, method, '/retrieve', body);
        assert.equal(r.status, status, `${method} ${body?.slice(0, 40)} → ${r.status} ${r.body}`);
        assert.match(JSON.parse(r.body).error, re);
      }
      assert.equal((await raw(srv.port, 'GET', '/nope')).status, 404);
    } finally {
      await srv.close();
    }
  });
});

test('fuzz: thousands of hostile requests, no crash, correct answers afterwards', async () => {
  await withIndex(async (idx) => {
    const srv = await startRetrievalServer(idx, {
      port: 0,
      maxBodyBytes: 16 * 1024,
      limits: { maxQueries: 16, maxTopk: 100 },
    });
    const r = mulberry32(12345);
    const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
    const junkString = (): string => {
      const n = Math.floor(r() * 40);
      let s = '';
      for (let i = 0; i < n; i++)
        s += String.fromCodePoint(
          pick([0, 0x22, 0x5c, 0x7b, 0x0a, 0xd800, 0xfeff, 0x1f600, 0x4e2d, 32 + Math.floor(r() * 95)]),
        );
      return s;
    };
    const junkValue = (depth: number): unknown => {
      switch (Math.floor(r() * 9)) {
        case 0:
          return null;
        case 1:
          return r() * 1e9 - 5e8;
        case 2:
          return junkString();
        case 3:
          return depth > 2 ? [] : Array.from({ length: Math.floor(r() * 4) }, () => junkValue(depth + 1));
        case 4:
          return depth > 2 ? {} : { queries: junkValue(depth + 1), topk: junkValue(depth + 1) };
        case 5:
          return true;
        case 6:
          return Math.floor(r() * 200) - 50;
        case 7:
          return [junkString(), junkString()];
        default:
          return NaN;
      }
    };
    const bodies = (): string | Buffer => {
      switch (Math.floor(r() * 8)) {
        case 0:
          return JSON.stringify({ queries: junkValue(0), topk: junkValue(0), return_scores: junkValue(0) });
        case 1:
          return JSON.stringify(junkValue(0));
        case 2:
          return Buffer.from(Array.from({ length: Math.floor(r() * 300) }, () => Math.floor(r() * 256)));
        case 3:
          return JSON.stringify({
            queries: [junkString(), junkString()],
            topk: Math.floor(r() * 120) - 10,
            return_scores: r() < 0.5,
          });
        case 4:
          return '{"queries": ["' + 'a '.repeat(Math.floor(r() * 12000)) + '"]}';
        case 5:
          return JSON.stringify({ queries: Array(Math.floor(r() * 30)).fill(pick(queries)), topk: 3 });
        case 6:
          return '{"queries":'.repeat(Math.floor(r() * 50));
        default:
          return JSON.stringify({
            queries: [pick(queries)],
            topk: 1 + Math.floor(r() * 10),
            return_scores: true,
            extra: junkValue(0),
          });
      }
    };
    let ok200 = 0;
    let ok4xx = 0;
    const t0 = performance.now();
    const N = 3000;
    try {
      for (let i = 0; i < N; i += 50) {
        const batch = Array.from({ length: 50 }, () => {
          const body = bodies();
          const method = r() < 0.05 ? pick(['GET', 'PUT', 'DELETE', 'PATCH']) : 'POST';
          const path =
            r() < 0.05 ? pick(['/', '/retrieve/', '/retrieve?x=1', '/%00', '/health']) : '/retrieve';
          const headers: Record<string, string> =
            r() < 0.1 ? { 'content-type': pick(['text/plain', 'application/xml', '']) } : {};
          return raw(srv.port, method, path, method === 'GET' ? undefined : body, headers).then((res) => {
            if (res.status === 200) {
              ok200++;
              const j = JSON.parse(res.body);
              assert.ok(Array.isArray(j.result) || j.status === 'ok', res.body.slice(0, 80));
            } else {
              assert.ok(
                res.status >= 400 && res.status < 500,
                `status ${res.status}: ${res.body.slice(0, 200)}`,
              );
              assert.equal(typeof JSON.parse(res.body).error, 'string');
              ok4xx++;
            }
          });
        });
        await Promise.all(batch);
      }
      assert.equal(ok200 + ok4xx, N);
      assert.ok(ok200 > 200 && ok4xx > 1000, `mix of outcomes: ${ok200} ok, ${ok4xx} rejected`);
      assert.ok(performance.now() - t0 < 60_000);
      // Still correct afterwards.
      const after = await new RemoteRetriever(srv.url).search(queries.slice(0, 10), 3);
      const local = await idx.search(queries.slice(0, 10), 3);
      assert.deepEqual(
        after.map((l) => l.map(strip)),
        local.map((l) => l.map(strip)),
      );
    } finally {
      await srv.close();
    }
  });
});

test('concurrency limit: beyond the queue the server answers 503 and recovers', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const slow: Retriever = {
    async search(qs) {
      calls++;
      await gate;
      return qs.map(() => []);
    },
  };
  const srv = await startRetrievalServer(slow, { port: 0, maxConcurrency: 2, maxQueue: 2 });
  try {
    const body = JSON.stringify({ queries: ['x'] });
    const pending = Array.from({ length: 4 }, () => raw(srv.port, 'POST', '/retrieve', body));
    while (calls < 2) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 20));
    const rejected = await raw(srv.port, 'POST', '/retrieve', body);
    assert.equal(rejected.status, 503);
    release();
    const results = await Promise.all(pending);
    assert.deepEqual(
      results.map((x) => x.status),
      [200, 200, 200, 200],
    );
  } finally {
    await srv.close();
  }
});

test('graceful close: an in-flight request completes, then the port is closed', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let started = false;
  const slow: Retriever = {
    async search(qs) {
      started = true;
      await gate;
      return qs.map(() => [{ id: '1', title: '"T"', text: 'x', score: 1 }]);
    },
  };
  const srv = await startRetrievalServer(slow, { port: 0 });
  const inflight = raw(srv.port, 'POST', '/retrieve', JSON.stringify({ queries: ['q'] }));
  while (!started) await new Promise((r) => setTimeout(r, 5));
  const closing = srv.close();
  setTimeout(release, 50);
  const res = await inflight;
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { result: [[{ id: '1', contents: '"T"\nx' }]] });
  await closing;
  await assert.rejects(raw(srv.port, 'GET', '/health'));
});

test('RemoteRetriever retries 5xx and connection errors with backoff, then names the URL', async () => {
  let hits = 0;
  const flaky = createServer((req, res) => {
    hits++;
    req.resume();
    req.on('end', () => {
      if (hits <= 2) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":"warming up"}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ result: [[{ document: { id: 7, contents: '"A"\nb c' }, score: 2.5 }]] }));
      }
    });
  });
  await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
  const port = (flaky.address() as AddressInfo).port;
  const delays: number[] = [];
  try {
    const client = new RemoteRetriever(`http://127.0.0.1:${port}`, {
      backoffMs: 100,
      random: () => 0.5,
      sleep: async (ms) => void delays.push(ms),
    });
    const res = await client.search(['q'], 1);
    assert.deepEqual(res, [[{ id: '7', title: '"A"', text: 'b c', score: 2.5, contents: '"A"\nb c' }]]);
    assert.equal(hits, 3);
    assert.deepEqual(delays, [50, 100]); // full jitter at u = 0.5 of 100·2^(i-1)
    // 4xx: no retry.
    const bad = createServer((req, res) => {
      res.writeHead(422, { 'content-type': 'application/json' });
      res.end('{"error":"invalid request"}');
    });
    await new Promise<void>((r) => bad.listen(0, '127.0.0.1', r));
    const badPort = (bad.address() as AddressInfo).port;
    await assert.rejects(
      new RemoteRetriever(`http://127.0.0.1:${badPort}`, { sleep: async () => {} }).search(['q'], 1),
      (e: Error) => {
        assert.ok(e instanceof RemoteRetrieverError);
        assert.match(
          e.message,
          new RegExp(`POST http://127.0.0.1:${badPort}/retrieve failed after 1 attempt: HTTP 422`),
        );
        return true;
      },
    );
    bad.close();
  } finally {
    flaky.close();
  }
  // Connection refused: retried, final error names the URL and the cause.
  const delays2: number[] = [];
  await assert.rejects(
    new RemoteRetriever(`http://127.0.0.1:${port}/retrieve`, {
      retries: 3,
      sleep: async (ms) => void delays2.push(ms),
    }).search(['q'], 1),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(
          `^POST http://127.0.0.1:${port}/retrieve failed after 4 attempts: connection error: ECONNREFUSED`,
        ),
      );
      return true;
    },
  );
  assert.equal(delays2.length, 3);
  // Timeout: a server that never answers.
  const hang = createServer(() => {});
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
  const hangPort = (hang.address() as AddressInfo).port;
  await assert.rejects(
    new RemoteRetriever(`http://127.0.0.1:${hangPort}`, {
      timeoutMs: 100,
      retries: 1,
      sleep: async () => {},
    }).search(['q'], 1),
    /failed after 2 attempts: timed out after 100 ms/,
  );
  hang.closeAllConnections();
  hang.close();
});
