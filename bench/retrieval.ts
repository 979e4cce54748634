// `npm run bench:retrieval`: our embedded BM25 vs LanceDB FTS (tantivy) and SQLite FTS5, side by
// side in one run on one generated corpus, then a load test of `search-r1 serve` with autocannon.
//   BENCH_DOCS (default 200000), BENCH_QUERIES (1000), BENCH_QUERY_CAP_S (30 s per query loop),
//   BENCH_LOAD_S (10 s autocannon), BENCH_ENGINES (ours,lancedb,fts5), BENCH_KEEP=1 keeps the temp dir.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { SyntheticCorpus } from '../src/retrieval/synthetic.ts';
import { BinWriter } from '../src/retrieval/bm25/format.ts';

const NUM_DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const NUM_QUERIES = Number(process.env.BENCH_QUERIES ?? 1000);
const LOAD_S = Number(process.env.BENCH_LOAD_S ?? 10);
const ENGINES = (process.env.BENCH_ENGINES ?? 'ours,lancedb,fts5').split(',');
const work = mkdtempSync(join(tmpdir(), 'bench-retrieval-'));
const corpusPath = join(work, 'corpus.jsonl');
const queriesPath = join(work, 'queries.json');
const log = (s: string) => process.stderr.write(`${s}\n`);

// 1. Corpus (JSONL, wiki-18 shaped) and queries: half windows of real passages, half Zipf words.
{
  const syn = new SyntheticCorpus({ numDocs: NUM_DOCS, seed: 1 });
  const w = new BinWriter(corpusPath, 4 << 20);
  const enc = new TextEncoder();
  const sample: string[] = [];
  for (const d of syn.docs()) {
    if (sample.length < 20_000) sample.push(d.text);
    w.write(enc.encode(JSON.stringify({ id: d.id, contents: d.contents }) + '\n'));
  }
  w.close();
  writeFileSync(queriesPath, JSON.stringify(syn.queries(NUM_QUERIES, sample)));
  log(
    `corpus: ${NUM_DOCS} passages (~100 words, Zipf vocabulary of 50,000), ${NUM_QUERIES} queries of 3–6 words → ${work}`,
  );
}

interface BuildResult {
  seconds: number;
  bytes: number;
  maxRssMb: number;
}
interface QueryResult {
  qps: number;
  queries: number;
  seconds: number;
  top1: (string | null)[];
  maxRssMb: number;
  qpsWithPassages?: number;
  exactMismatches?: number;
  openSeconds?: number;
}

function child(engine: string, phase: 'build' | 'query' | 'interleaved'): unknown {
  const env = { ...process.env, LANCE_CPU_THREADS: process.env.LANCE_CPU_THREADS ?? '4' };
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'bench/retrieval/engine.ts', engine, phase, corpusPath, queriesPath, work],
    {
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 << 20,
    },
  );
  if (r.status !== 0) throw new Error(`${engine} ${phase} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const results: Record<string, { build: BuildResult; query: QueryResult }> = {};
for (const e of ENGINES) {
  log(`${e}: building…`);
  const build = child(e, 'build') as BuildResult;
  log(`${e}: built in ${build.seconds.toFixed(1)} s; querying…`);
  const query = child(e, 'query') as QueryResult;
  results[e] = { build, query };
  log(`${e}: ${query.qps.toFixed(0)} QPS`);
}

// 2. Table.
const ours = results.ours;
const load1 = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const lines: string[] = [];
lines.push(
  `| engine | build s | index MB | peak RSS build / query MB | top-3 QPS (1 thread) | ×ours | top-1 = ours |`,
);
lines.push(`|---|---|---|---|---|---|---|`);
for (const [e, r] of Object.entries(results)) {
  const agree = ours
    ? r.query.top1.filter((id, i) => id !== null && id === ours.query.top1[i]).length /
      Math.min(r.query.top1.length, ours.query.top1.length)
    : NaN;
  const ratio = ours ? ours.query.qps / r.query.qps : NaN;
  lines.push(
    `| ${e} | ${r.build.seconds.toFixed(1)} | ${(r.build.bytes / 1e6).toFixed(1)} | ${r.build.maxRssMb.toFixed(0)} / ${r.query.maxRssMb.toFixed(0)} | ` +
      `${r.query.qps.toFixed(0)}${r.query.queries < NUM_QUERIES ? ` (${r.query.queries} q, time cap)` : ''} | ${e === 'ours' ? '1' : `ours ${ratio.toFixed(1)}× faster`} | ${e === 'ours' ? '(reference)' : `${(agree * 100).toFixed(1)}%`} |`,
  );
}
if (ours) {
  lines.push('');
  lines.push(
    `ours: ${ours.query.qpsWithPassages?.toFixed(0)} QPS including passage reads; open ${ours.query.openSeconds?.toFixed(2)} s; ` +
      `exact vs exhaustive BM25: ${NUM_QUERIES - (ours.query.exactMismatches ?? 0)}/${NUM_QUERIES} queries identical top-3`,
  );
}

// 2b. Same-process interleaved QPS (ours vs LanceDB alternate every 50 queries: same load for both).
if (results.ours && results.lancedb) {
  const r = child('pair', 'interleaved') as { oursQps: number; lanceQps: number };
  lines.push('');
  lines.push(
    `interleaved in one process (alternating every 50 queries, ours with passage reads): ours ${r.oursQps.toFixed(0)} QPS, ` +
      `LanceDB ${r.lanceQps.toFixed(0)} QPS → ours ${(r.oursQps / r.lanceQps).toFixed(1)}× faster`,
  );
}

// 3. Load test of the server (separate process) with 200 concurrent connections.
if (ours) {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const srv = spawn(
    process.execPath,
    [
      'bin/search-r1.mjs',
      'serve',
      '--index',
      join(work, 'ours'),
      '--port',
      String(port),
      '--quiet',
      '--max-concurrency',
      '8',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    srv.stderr.on('data', (c: Buffer) => c.toString().includes('POST http') && resolve());
    srv.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const queries = JSON.parse((await import('node:fs')).readFileSync(queriesPath, 'utf8')) as string[];
  let qi = 0;
  const res = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 200,
    duration: LOAD_S,
    requests: [
      {
        method: 'POST',
        path: '/retrieve',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ queries: [queries[qi++ % queries.length]], topk: 3, return_scores: true }),
        }),
      },
    ],
  });
  srv.kill('SIGTERM');
  await new Promise((r) => srv.once('exit', r));
  lines.push('');
  lines.push(
    `server load test (autocannon, 200 connections, ${LOAD_S} s, 1 query/request, server in its own process): ` +
      `${res.requests.average.toFixed(0)} req/s, latency p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, ` +
      `errors ${res.errors}, timeouts ${res.timeouts}, non-2xx ${res.non2xx}, requests ${res.requests.total}`,
  );
}
lines.push('');
lines.push(`load average at the end: ${load1} (2 vCPUs; other jobs were running)`);
console.log(lines.join('\n'));
if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
