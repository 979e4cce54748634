// Block-max paths of the BM25 engine against independent references written here: long postings
// lists (many 128-posting blocks), exact ties across blocks, k beyond the matches, single-term and
// many-term queries, non-default parameters (block maxima recomputed at open), the Lucene-compatible
// scoring against a float32 reimplementation, and against real Lucene 8.7's top-10 file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index, buildIndex, type CorpusDoc } from '../../src/retrieval/bm25/index.ts';
import { byte4ToInt, intToByte4 } from '../../src/retrieval/bm25/scoring.ts';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';
import { mulberry32 } from '../../src/core/rng.ts';

const f32 = Math.fround;
const SHARED = new URL('../../../shared/data', import.meta.url).pathname;

/** Whitespace analysis: the reference and the index see the same terms. */
const analyze = (s: string): string[] => s.split(/\s+/).filter((t) => t.length > 0);

interface Ref {
  docs: string[][];
  postings: Map<string, Map<number, number>>;
  total: number;
  nonEmpty: number;
}

function reference(docs: string[][]): Ref {
  const postings = new Map<string, Map<number, number>>();
  let total = 0;
  let nonEmpty = 0;
  docs.forEach((terms, d) => {
    total += terms.length;
    if (terms.length > 0) nonEmpty++;
    for (const t of terms) {
      let m = postings.get(t);
      if (!m) postings.set(t, (m = new Map()));
      m.set(d, (m.get(d) ?? 0) + 1);
    }
  });
  return { docs, postings, total, nonEmpty };
}

/** Exhaustive top-k; `lucene` reimplements Lucene 8.7's float32 BM25 with one-byte norms. */
function exhaustive(ref: Ref, query: string[], k: number, k1: number, b: number, lucene: boolean) {
  const qtf = new Map<string, number>();
  for (const t of query) qtf.set(t, (qtf.get(t) ?? 0) + 1);
  const N = ref.docs.length;
  const scores = new Map<number, number>();
  const avgdl = lucene ? f32(ref.total / ref.nonEmpty) : ref.total / N;
  for (const [t, q] of qtf) {
    const p = ref.postings.get(t);
    if (!p) continue;
    const df = p.size;
    const w = lucene
      ? f32(q * f32(Math.log(1 + (ref.nonEmpty - df + 0.5) / (df + 0.5))))
      : q * Math.log(1 + (N - df + 0.5) / (df + 0.5));
    for (const [d, tf] of p) {
      const dl = ref.docs[d].length;
      let x: number;
      if (lucene) {
        const len = byte4ToInt(intToByte4(dl));
        const ninv = f32(1 / f32(f32(k1) * f32(f32(1 - f32(b)) + f32(f32(f32(b) * len) / avgdl))));
        x = f32(w - f32(w / f32(1 + f32(tf * ninv))));
      } else {
        x = (w * tf) / (tf + k1 * (1 - b + (b * dl) / avgdl));
      }
      scores.set(d, (scores.get(d) ?? 0) + x);
    }
  }
  const all = [...scores].map(([doc, s]) => ({ doc, score: lucene ? f32(s) : s }));
  all.sort((x, y) => y.score - x.score || x.doc - y.doc);
  return all.slice(0, k);
}

function assertSame(
  got: { docs: Int32Array; scores: Float64Array },
  want: { doc: number; score: number }[],
  what: string,
): void {
  assert.equal(got.docs.length, want.length, `${what}: result count`);
  for (let i = 0; i < want.length; i++) {
    assert.ok(
      Math.abs(got.scores[i] - want[i].score) <= 1e-9 * Math.max(1, want[i].score),
      `${what}: score ${i}`,
    );
    // Equal scores may differ in the last bits between summation orders; only then may docs swap.
    if (got.docs[i] !== want[i].doc)
      assert.ok(
        Math.abs(got.scores[i] - want[i].score) <= 1e-12,
        `${what}: rank ${i}: ${got.docs[i]} vs ${want[i].doc}`,
      );
  }
}

// 20,000 passages over a 1,500-word Zipf vocabulary: frequent words have thousands of postings
// (dozens of blocks); 300 exact duplicates of one passage spread over the whole doc range (ties
// inside and across blocks); rare words appear in only a few documents.
function corpus(): CorpusDoc[] {
  const syn = new SyntheticCorpus({ numDocs: 20_000, vocabSize: 1500, wordsPerDoc: 40, seed: 11 });
  const docs = [...syn.docs()].map((d) => ({ id: d.id, contents: d.text }));
  const dup = 'dupa dupb dupc ' + docs[3].contents;
  for (let i = 0; i < 300; i++) docs[(i * 66) % docs.length] = { id: `dup-${i}`, contents: dup };
  for (let i = 0; i < 5; i++)
    docs[4000 * i + 7] = { id: `rare-${i}`, contents: `rareword ${docs[4000 * i + 7].contents}` };
  docs.push({ id: 'empty', contents: '' });
  return docs;
}

const docs = corpus();
const ref = reference(docs.map((d) => analyze(d.contents)));

function queries(): string[][] {
  const syn = new SyntheticCorpus({ numDocs: 0, vocabSize: 1500, seed: 11 });
  const r = mulberry32(5);
  const out: string[][] = [];
  for (let i = 0; i < 60; i++) out.push([syn.vocab[Math.floor(r() * r() * 1500)]]); // single terms, all frequencies
  for (const q of syn.queries(
    100,
    docs.slice(0, 2000).map((d) => d.contents),
  ))
    out.push(analyze(q));
  for (let i = 0; i < 10; i++) {
    const q: string[] = []; // many terms (20–60), some repeated
    const n = 20 + Math.floor(r() * 41);
    for (let j = 0; j < n; j++) q.push(syn.vocab[Math.floor(r() * 1500)]);
    out.push(q);
  }
  out.push(analyze(docs[3].contents).concat(['dupa', 'dupb', 'dupc'])); // the duplicates' own text
  out.push(['rareword'], ['rareword', 'dupa'], ['nosuchword']);
  return out;
}
const qs = queries();

test('block-max MaxScore equals exhaustive BM25 over long lists (single/many terms, ties, k > matches)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-bmx-'));
  try {
    await buildIndex(docs, dir, { analyze, memoryBudgetBytes: 1 << 20 });
    const idx = await Bm25Index.open(dir);
    assert.ok(idx.meta.numBlocks > 2 * idx.meta.numTerms, 'frequent terms span many blocks');
    for (const q of qs) {
      const want = exhaustive(ref, q, 100, 0.9, 0.4, false);
      for (const k of [1, 3, 10, 100]) {
        const got = idx.topK(idx.queryTermsFromTokens(q), k);
        assertSame(got, want.slice(0, k), `k=${k} q=${q.slice(0, 5).join(' ')}`);
      }
    }
    // Ties: the 300 duplicates score equal; the top 10 are the 10 lowest doc numbers among them.
    const dupQ = ['dupa', 'dupb', 'dupc'];
    const top = idx.topK(idx.queryTermsFromTokens(dupQ), 10);
    const dupDocs = docs.map((d, i) => (d.id.startsWith('dup-') ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual(Array.from(top.docs), dupDocs.slice(0, 10));
    assert.equal(new Set(top.scores).size, 1);
    // k larger than the number of matching documents.
    assert.equal(idx.topK(idx.queryTermsFromTokens(['rareword']), 50).docs.length, 5);
    assert.equal(idx.topK(idx.queryTermsFromTokens(['nosuchword']), 50).docs.length, 0);
    // Other parameters at open time: block maxima are recomputed per term.
    const idx2 = await Bm25Index.open(dir, { k1: 1.5, b: 0.9 });
    for (const q of qs.slice(40, 120))
      assertSame(
        idx2.topK(idx2.queryTermsFromTokens(q), 5),
        exhaustive(ref, q, 5, 1.5, 0.9, false),
        `k1=1.5 ${q}`,
      );
    // Lucene scoring chosen at open time over an index built for bm25.
    const idx3 = await Bm25Index.open(dir, { scoring: 'lucene' });
    for (const q of qs)
      assertSame(
        idx3.topK(idx3.queryTermsFromTokens(q), 10),
        exhaustive(ref, q, 10, 0.9, 0.4, true),
        `lucene ${q}`,
      );
    await Promise.all([idx.close(), idx2.close(), idx3.close()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an index built for Lucene scoring matches the float32 reference and the pruned = exhaustive paths', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-luc-'));
  try {
    await buildIndex(docs, dir, { analyze, scoring: 'lucene' });
    const idx = await Bm25Index.open(dir);
    assert.equal(idx.params.scoring, 'lucene');
    for (const q of qs) {
      const terms = idx.queryTermsFromTokens(q);
      const got = idx.topK(terms, 3);
      assertSame(got, exhaustive(ref, q, 3, 0.9, 0.4, true), `lucene-built ${q.slice(0, 5)}`);
      assert.deepEqual(got, idx.exhaustiveTopK(terms, 3));
    }
    await idx.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('old (v1) indexes fail with a rebuild instruction', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-v1-'));
  try {
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ format: 'search-r1-bm25', version: 1 }));
    await assert.rejects(Bm25Index.open(dir), /v1.*rebuild with search-r1 index/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// Real Lucene 8.7 (EnglishAnalyzer, BM25Similarity(0.9, 0.4), one segment, Anserini's query) top-10
// for 3,610 NQ questions over the 6,119 2Wiki passages, fed Lucene's own token streams so that this
// checks the scoring, norms, ranking and ties alone (the analyzer has its own tests).
test('lucene scoring reproduces real Lucene 8.7 top-10 lists (ids, order, scores)', async () => {
  const data = join(SHARED, 'lucene');
  const tokens = new Map<string, string[]>();
  const queryTokens: string[][] = [];
  for (const line of readFileSync(join(data, 'english-analyzer-tokens.jsonl'), 'utf8').trim().split('\n')) {
    const r = JSON.parse(line) as { id: string; text: string; tokens: string[] };
    if (r.id.startsWith('2wiki:')) tokens.set(r.text, r.tokens);
    if (r.id.startsWith('nq:')) queryTokens[Number(r.id.slice(3))] = r.tokens;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bm25-real-'));
  try {
    const corpusPath = join(SHARED, '2wikimultihopqa_corpus.json');
    await buildIndex(corpusPath, dir, {
      scoring: 'lucene',
      analyze: (text) => {
        const t = tokens.get(text);
        if (!t) throw new Error(`no Lucene tokens for ${JSON.stringify(text.slice(0, 40))} (${corpusPath})`);
        return t;
      },
    });
    const idx = await Bm25Index.open(dir);
    const lines = readFileSync(join(data, 'bm25-2wiki-nq-top10.jsonl'), 'utf8').trim().split('\n');
    assert.equal(lines.length, 3610);
    // End to end too: the project's EnglishAnalyzer on passages and on the raw question text.
    const dir2 = join(dir, 'analyzed');
    await buildIndex(corpusPath, dir2, { scoring: 'lucene' });
    const idx2 = await Bm25Index.open(dir2);
    let same = 0;
    let sameAnalyzed = 0;
    for (const line of lines) {
      const r = JSON.parse(line) as {
        query_id: number;
        query: string;
        hits: { doc: number; score: number }[];
      };
      const equal = (got: { docs: Int32Array; scores: Float64Array }): boolean =>
        got.docs.length === r.hits.length &&
        r.hits.every((h, i) => h.doc === got.docs[i] && Math.abs(h.score - got.scores[i]) <= 1e-6 * h.score);
      if (equal(idx.topK(idx.queryTermsFromTokens(queryTokens[r.query_id]), 10))) same++;
      if (equal(idx2.searchDocs(r.query, 10))) sameAnalyzed++;
    }
    assert.equal(same, 3610);
    assert.equal(sameAnalyzed, 3610);
    await idx2.close();
    await idx.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
