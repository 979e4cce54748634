// Query worker pool: two threads over one shared-memory index answer exactly what the in-process
// index answers, for batches (split across workers) and for many concurrent single queries.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { Bm25Pool } from '../../src/retrieval/bm25/pool.ts';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';

test('Bm25Pool (2 worker threads) returns the in-process hits, batched and concurrent', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-pool-'));
  try {
    const syn = new SyntheticCorpus({ numDocs: 3000, vocabSize: 2000, seed: 3 });
    const docs = [...syn.docs()];
    await buildIndex(docs, dir);
    const queries = syn.queries(
      200,
      docs.slice(0, 300).map((d) => d.text),
    );
    const local = await Bm25Index.open(dir);
    const want = await local.search(queries, 5);
    const pool = await Bm25Pool.open(dir, { threads: 2 });
    assert.equal(pool.threads, 2);
    assert.deepEqual(await pool.search(queries, 5), want);
    const singles = await Promise.all(queries.map((q) => pool.search([q], 5)));
    assert.deepEqual(
      singles.map((s) => s[0]),
      want,
    );
    assert.deepEqual(await pool.search([], 5), []);
    // Lucene scoring in the workers equals Lucene scoring in process.
    const lucLocal = await Bm25Index.open(dir, { scoring: 'lucene' });
    const lucPool = await Bm25Pool.open(dir, { threads: 2, scoring: 'lucene' });
    assert.deepEqual(
      await lucPool.search(queries.slice(0, 50), 3),
      await lucLocal.search(queries.slice(0, 50), 3),
    );
    await Promise.all([pool.close(), local.close(), lucLocal.close(), lucPool.close()]);
    await assert.rejects(pool.search(['x'], 1), /closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
