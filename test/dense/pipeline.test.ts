// Hybrid (weighted RRF) and rerank pipelines over in-memory first stages, and `serve --retriever
// dense` end to end through the /retrieve API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HybridRetriever, parseWeights } from '../../src/retrieval/hybrid.ts';
import { RerankRetriever } from '../../src/retrieval/rerank.ts';
import type { Hit, Retriever } from '../../src/core/retriever.ts';
import { initBertFolder } from '../../src/engine/bert/folder.ts';
import { CrossEncoder } from '../../src/engine/bert/encoder.ts';
import { buildDenseIndex } from '../../src/retrieval/dense/build.ts';
import { DenseIndex } from '../../src/retrieval/dense/index.ts';
import { serveRetriever } from '../../src/cli/commands/serve.ts';
import { RemoteRetriever } from '../../src/retrieval/remote.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const hit = (id: string, score = 0): Hit => ({ id, title: `"${id}"`, text: `text of ${id}`, score });
class Fixed implements Retriever {
  constructor(readonly lists: string[]) {}
  async search(queries: string[], topk: number): Promise<Hit[][]> {
    return queries.map(() => this.lists.slice(0, topk).map((id) => hit(id)));
  }
}

test('hybrid = weighted reciprocal rank fusion, computed by hand', async () => {
  const a = new Fixed(['x', 'y', 'z']);
  const b = new Fixed(['z', 'w', 'x']);
  const h = new HybridRetriever(
    [
      { retriever: a, weight: 1 },
      { retriever: b, weight: 2 },
    ],
    { k: 10 },
  );
  const [r] = await h.search(['q'], 4);
  const want: Record<string, number> = {
    x: 1 / 11 + 2 / 13,
    y: 1 / 12,
    z: 1 / 13 + 2 / 11,
    w: 2 / 12,
  };
  const order = Object.entries(want)
    .sort((p, q) => q[1] - p[1])
    .map((e) => e[0]);
  assert.deepEqual(
    r.map((x) => x.id),
    order,
  );
  r.forEach((x) => assert.ok(Math.abs(x.score - want[x.id]) < 1e-12));
  // Weight 0 drops a retriever's influence: only a's order remains (b-only passages at the end).
  const [r0] = await new HybridRetriever([
    { retriever: a, weight: 1 },
    { retriever: b, weight: 0 },
  ]).search(['q'], 3);
  assert.deepEqual(
    r0.map((x) => x.id),
    ['x', 'y', 'z'],
  );
  assert.deepEqual(parseWeights('0.3, 0.7', 2), [0.3, 0.7]);
  assert.throws(() => parseWeights('1', 2), /expected 2/);
  assert.throws(() => parseWeights('1,-1', 2), /expected 2/);
});

test('rerank: first-stage candidates re-ordered by the cross-encoder logits, top-k kept', async () => {
  const out = join(dir, 'ce');
  initBertFolder({ out, seed: 9, head: 'classifier' });
  const ce = CrossEncoder.load(out);
  const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
  const r = new RerankRetriever(new Fixed(ids), ce, { depth: 6 });
  const [got] = await r.search(['capital of france'], 3);
  const texts = ids.map((id) => `"${id}"\ntext of ${id}`);
  const s = ce.score('capital of france', texts);
  const want = ids
    .map((id, i) => ({ id, s: s[i] }))
    .sort((p, q) => q.s - p.s)
    .slice(0, 3);
  assert.deepEqual(
    got.map((x) => x.id),
    want.map((x) => x.id),
  );
  got.forEach((x, i) => assert.ok(Math.abs(x.score - want[i].s) < 1e-6));
  ce.dispose();
});

test('serve --retriever dense (+ --reranker): /retrieve answers what the index answers in process', async () => {
  const enc = join(dir, 'enc');
  initBertFolder({ out: enc, seed: 10 });
  const ce = join(dir, 'ce2');
  initBertFolder({ out: ce, seed: 11, head: 'classifier' });
  const corpus = join(dir, 'c.jsonl');
  writeFileSync(
    corpus,
    Array.from({ length: 40 }, (_, i) =>
      JSON.stringify({ id: `p${i}`, contents: `"T${i}"\nthe city number ${i} is big` }),
    ).join('\n'),
  );
  const idxDir = join(dir, 'dense');
  await buildDenseIndex(corpus, idxDir, { encoder: enc, dtype: 'int8' });
  const local = DenseIndex.open(idxDir);
  const queries = ['city number 3', 'who is big'];
  const want = await local.search(queries, 3);
  for (const reranker of [undefined, ce]) {
    const { server } = await serveRetriever({
      retriever: 'dense',
      denseIndex: idxDir,
      reranker,
      port: 0,
      quiet: true,
    });
    const remote = new RemoteRetriever(server.url);
    const got = await remote.search(queries, 3);
    if (!reranker)
      got.forEach((g, i) =>
        assert.deepEqual(
          g.map((h) => h.id),
          want[i].map((h) => h.id),
        ),
      );
    else {
      const first = await local.search(queries, 10);
      const c = CrossEncoder.load(ce);
      first.forEach((f, i) => {
        const s = c.score(
          queries[i],
          f.map((h) => h.contents),
        );
        const best = f
          .map((h, j) => ({ id: h.id, s: s[j] }))
          .sort((p, q) => q.s - p.s)
          .slice(0, 3);
        assert.deepEqual(
          got[i].map((h) => h.id),
          best.map((b) => b.id),
        );
      });
      c.dispose();
    }
    await server.close();
  }
  await local.close();
  await assert.rejects(serveRetriever({ retriever: 'dense', port: 0, quiet: true }), /needs --dense-index/);
  await assert.rejects(serveRetriever({ retriever: 'google', port: 0, quiet: true }), /not implemented/);
});
