// BM25 exactness: the pruned engine vs a straightforward exhaustive BM25 computed here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnglishAnalyzer } from '../../src/retrieval/analyzer.ts';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';
import { mulberry32 } from '../../src/core/rng.ts';
import type { CorpusDoc } from '../../src/retrieval/bm25/build.ts';

interface Ref {
  N: number;
  avgdl: number;
  dl: number[];
  postings: Map<string, Map<number, number>>; // term → doc → tf
}

function reference(docs: CorpusDoc[]): Ref {
  const an = new EnglishAnalyzer();
  const postings = new Map<string, Map<number, number>>();
  const dl: number[] = [];
  docs.forEach((d, i) => {
    const terms = an.analyze(d.contents);
    dl.push(terms.length);
    for (const t of terms) {
      let m = postings.get(t);
      if (!m) postings.set(t, (m = new Map()));
      m.set(i, (m.get(i) ?? 0) + 1);
    }
  });
  return { N: docs.length, avgdl: dl.reduce((a, b) => a + b, 0) / docs.length, dl, postings };
}

/** Exhaustive BM25 (Lucene ≥ 8 formula, query terms weighted by their count), every doc scored. */
function exhaustive(
  ref: Ref,
  query: string,
  k: number,
  k1: number,
  b: number,
): { doc: number; score: number }[] {
  const an = new EnglishAnalyzer();
  const qtf = new Map<string, number>();
  for (const t of an.analyze(query)) qtf.set(t, (qtf.get(t) ?? 0) + 1);
  const scores = new Float64Array(ref.N);
  const matched = new Uint8Array(ref.N);
  for (const [t, q] of qtf) {
    const p = ref.postings.get(t);
    if (!p) continue;
    const idf = Math.log(1 + (ref.N - p.size + 0.5) / (p.size + 0.5));
    for (const [d, tf] of p) {
      scores[d] += (q * idf * tf) / (tf + k1 * (1 - b + (b * ref.dl[d]) / ref.avgdl));
      matched[d] = 1;
    }
  }
  const all: { doc: number; score: number }[] = [];
  for (let d = 0; d < ref.N; d++) if (matched[d]) all.push({ doc: d, score: scores[d] });
  all.sort((x, y) => y.score - x.score || x.doc - y.doc);
  return all.slice(0, k);
}

function assertSameRanking(
  got: { docs: Int32Array; scores: Float64Array },
  want: { doc: number; score: number }[],
  what: string,
): void {
  assert.equal(got.docs.length, want.length, `${what}: result count`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got.scores[i] - want[i].score) <= 1e-5,
      `${what}: score at rank ${i}: ${got.scores[i]} vs ${want[i].score}`,
    );
    if (got.docs[i] !== want[i].doc) {
      // Only a float-level tie may order differently; the scores of both docs must be equal.
      assert.ok(
        Math.abs(got.scores[i] - want[i].score) <= 1e-9,
        `${what}: rank ${i}: doc ${got.docs[i]} vs ${want[i].doc}`,
      );
    }
  }
}

function makeCorpus(): CorpusDoc[] {
  const syn = new SyntheticCorpus({ numDocs: 2500, vocabSize: 3000, wordsPerDoc: 60, seed: 7 });
  const docs: CorpusDoc[] = [...syn.docs()].map((d) => ({ id: d.id, contents: d.contents }));
  // Exact duplicates (ties must go to the lower doc number), a doc with tf ≥ 255, odd docs.
  docs.push({ id: 'dup-a', contents: docs[5].contents });
  docs.push({ id: 'dup-b', contents: docs[5].contents });
  docs.push({
    id: 'big-tf',
    contents: '"Big"\n' + Array(300).fill('kalo').join(' ') + ' ' + Array(70000).fill('mimi').join(' '),
  });
  docs.push({ id: 'stop-only', contents: '"The"\nthe of and in to a' });
  docs.push({ id: 'empty', contents: '' });
  docs.push({ id: 'unicode', contents: '"Café"\nNaïve café in 東京, the U.S. isn\'t John\'s.' });
  return docs;
}

function queries(docs: CorpusDoc[]): string[] {
  const syn = new SyntheticCorpus({ numDocs: 0, vocabSize: 3000, seed: 7 });
  const r = mulberry32(99);
  const qs = syn.queries(
    300,
    docs.slice(0, 500).map((d) => d.contents.split('\n')[1] ?? ''),
  );
  qs.push(
    'the of and',
    'zzzunknownqqq',
    'zzz qqq xyzzy',
    '',
    '   ',
    '!!! ??? ...',
    'kalo kalo kalo',
    'kalo',
    'mimi kalo',
    'café naïve',
    "John's",
    'U.S.',
    '東京',
  );
  const long: string[] = [];
  for (let i = 0; i < 200; i++) long.push(syn.vocab[Math.floor(r() * 3000)]);
  qs.push(long.join(' '));
  qs.push(docs[5].contents);
  return qs;
}

const docs = makeCorpus();
const ref = reference(docs);
const qs = queries(docs);

test('BM25 top-k equals exhaustive BM25 (hundreds of queries, several k, spill build)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-'));
  try {
    // A tiny memory budget forces many spilled runs and a real merge.
    const stats = await buildIndex(docs, dir, { memoryBudgetBytes: 64 * 1024 });
    assert.ok(stats.runs > 5, `expected several spilled runs, got ${stats.runs}`);
    assert.equal(stats.numDocs, docs.length);
    const idx = await Bm25Index.open(dir);
    assert.equal(idx.meta.avgdl, ref.avgdl);
    let nonEmpty = 0;
    for (const k of [1, 3, 10, 50]) {
      for (const q of qs) {
        const got = idx.searchDocs(q, k);
        const want = exhaustive(ref, q, k, 0.9, 0.4);
        if (want.length > 0) nonEmpty++;
        assertSameRanking(got, want, `k=${k} q=${JSON.stringify(q.slice(0, 60))}`);
      }
    }
    assert.ok(nonEmpty > 1000, 'most queries match something');
    // Exact ties: the duplicates of doc 5 come right after it, lower doc number first.
    const top = idx.searchDocs(docs[5].contents, 3);
    assert.deepEqual(Array.from(top.docs), [5, docs.length - 6, docs.length - 5]);
    assert.equal(top.scores[0], top.scores[1]);
    // Escaped tfs (≥ 255) are exact.
    const big = idx.searchDocs('mimi', 1);
    assert.equal(idx.document(big.docs[0]).id, 'big-tf');
    // Empty / stop-word-only / unknown queries return nothing.
    assert.equal(idx.searchDocs('the of and', 3).docs.length, 0);
    assert.equal(idx.searchDocs('zzzunknownqqq', 3).docs.length, 0);
    // Other BM25 parameters at open time.
    const idx2 = await Bm25Index.open(dir, { k1: 1.2, b: 0.75 });
    for (const q of qs.slice(0, 100))
      assertSameRanking(idx2.searchDocs(q, 10), exhaustive(ref, q, 10, 1.2, 0.75), `k1=1.2 q=${q}`);
    // Hits carry the exact stored contents and the split title/text.
    const [hits] = await idx.search(['café naïve'], 1);
    assert.equal(hits[0].id, 'unicode');
    assert.equal(hits[0].contents, docs[docs.length - 1].contents);
    assert.equal(hits[0].title, '"Café"');
    assert.equal(hits[0].text, "Naïve café in 東京, the U.S. isn't John's.");
    await idx.close();
    await idx2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('spilled and in-memory builds write byte-identical index files', async () => {
  const a = mkdtempSync(join(tmpdir(), 'bm25-a-'));
  const b = mkdtempSync(join(tmpdir(), 'bm25-b-'));
  try {
    const sa = await buildIndex(docs, a, { memoryBudgetBytes: 32 * 1024 });
    const sb = await buildIndex(docs, b, {});
    assert.ok(sa.runs > 1);
    assert.equal(sb.runs, 1);
    const files = readdirSync(a)
      .filter((f) => f !== 'meta.json')
      .sort();
    assert.deepEqual(
      files,
      readdirSync(b)
        .filter((f) => f !== 'meta.json')
        .sort(),
    );
    for (const f of files)
      assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
