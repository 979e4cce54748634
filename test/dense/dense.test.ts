// Dense indexes: exact search = brute force; FAISS files (made by real FAISS 1.7.3, see
// scripts/make-faiss-fixtures.py) searched with FAISS's results; HNSW recall measured against
// exact; the resumable build; bad inputs fail naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.ts';
import { exactSearch } from '../../src/retrieval/dense/exact.ts';
import { openFaissIndex } from '../../src/retrieval/dense/faiss.ts';
import { hnswSearch } from '../../src/retrieval/dense/hnsw.ts';
import { buildHnsw, dot, MemoryHnswGraph } from '../../src/retrieval/dense/hnsw-build.ts';
import { VectorStore, VectorWriter } from '../../src/retrieval/dense/store.ts';
import type { RowSource, VectorDtype } from '../../src/retrieval/dense/store.ts';
import { convertFaissIndex } from '../../src/retrieval/dense/convert.ts';
import { buildDenseIndex } from '../../src/retrieval/dense/build.ts';
import { DenseIndex } from '../../src/retrieval/dense/index.ts';
import { initBertFolder } from '../../src/engine/bert/folder.ts';
import { BertEncoder } from '../../src/engine/bert/encoder.ts';

const FIX = join(import.meta.dirname, 'fixtures');
const ref = JSON.parse(readFileSync(join(FIX, 'faiss-results.json'), 'utf8')) as {
  n: number;
  d: number;
  k: number;
  queries: number[][];
  flat: { ids: number[][]; scores: number[][] };
  hnsw: { efSearch: number; ids: number[][]; scores: number[][] };
};
const Q = new Float32Array(ref.queries.flat());

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dense-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

class ArraySource implements RowSource {
  constructor(
    readonly data: Float32Array,
    readonly dim: number,
  ) {}
  get count() {
    return this.data.length / this.dim;
  }
  readRows(s: number, n: number, out: Float32Array) {
    out.set(this.data.subarray(s * this.dim, (s + n) * this.dim));
  }
}

/** Clustered unit vectors (like sentence embeddings), deterministic. */
function clustered(n: number, dim: number, seed: number, clusters = 20): Float32Array {
  const r = new Rng(seed);
  const C = Float32Array.from({ length: clusters * dim }, () => r.normal());
  const X = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r.uniform() * clusters);
    let s = 0;
    for (let j = 0; j < dim; j++) {
      X[i * dim + j] = C[c * dim + j] + 0.5 * r.normal();
      s += X[i * dim + j] ** 2;
    }
    for (let j = 0; j < dim; j++) X[i * dim + j] /= Math.sqrt(s);
  }
  return X;
}

/** Brute force in float64, ties → lower id. */
function brute(src: RowSource, q: Float32Array, k: number): { ids: number[]; scores: number[] }[] {
  const all = new Float32Array(src.count * src.dim);
  src.readRows(0, src.count, all);
  const out = [];
  for (let i = 0; i < q.length / src.dim; i++) {
    const s = Array.from({ length: src.count }, (_, r) => {
      let v = 0;
      for (let j = 0; j < src.dim; j++) v += q[i * src.dim + j] * all[r * src.dim + j];
      return { r, v };
    }).sort((a, b) => b.v - a.v || a.r - b.r);
    out.push({ ids: s.slice(0, k).map((x) => x.r), scores: s.slice(0, k).map((x) => x.v) });
  }
  return out;
}

test('exact search = float64 brute force (batched queries, duplicates tie to the lower id), every dtype', () => {
  const dim = 48;
  const X = clustered(5000, dim, 1);
  X.set(X.subarray(0, dim), 4000 * dim); // row 4000 duplicates row 0
  const src = new ArraySource(X, dim);
  const q = clustered(9, dim, 2);
  q.set(X.subarray(0, dim), 0); // query 0 = row 0: rows 0 and 4000 tie at the top
  for (const k of [1, 5, 50]) {
    const got = exactSearch(src, q, k);
    const want = brute(src, q, k);
    for (let i = 0; i < want.length; i++) {
      // Scores agree to f32 rounding; where two rows are within rounding, order may differ.
      got[i].scores.forEach((s, j) => assert.ok(Math.abs(s - want[i].scores[j]) < 1e-5));
      const close = want[i].scores.every((s, j) => j === 0 || want[i].scores[j - 1] - s > 1e-5);
      if (close) assert.deepEqual(Array.from(got[i].ids), want[i].ids, `query ${i} k ${k}`);
    }
    assert.deepEqual(Array.from(got[0].ids.slice(0, 2)), k === 1 ? [0] : [0, 4000]);
  }
  for (const dtype of ['f32', 'f16', 'int8'] as VectorDtype[]) {
    const w = new VectorWriter(join(dir, `v.${dtype}`), join(dir, `s.${dtype}`), dim, dtype);
    w.append(X.subarray(0, 2500 * dim));
    w.append(X.subarray(2500 * dim));
    w.close();
    const st = new VectorStore(join(dir, `v.${dtype}`), dim, 5000, dtype, join(dir, `s.${dtype}`));
    const got = exactSearch(st, q, 10);
    const want = brute(st, q, 10); // brute force over the stored (dequantised) vectors
    const wantF32 = brute(src, q, 10);
    let recall = 0;
    for (let i = 0; i < want.length; i++) {
      got[i].scores.forEach((s, j) => assert.ok(Math.abs(s - want[i].scores[j]) < 1e-5, dtype));
      recall += wantF32[i].ids.filter((id) => Array.from(got[i].ids).includes(id)).length / 10;
    }
    recall /= want.length;
    console.log(`# ${dtype}: recall@10 vs f32 exact ${recall.toFixed(3)}, ${st.bytes} bytes`);
    assert.ok(recall >= (dtype === 'f32' ? 1 : 0.9), `${dtype} recall ${recall}`);
  }
});

test('FAISS IndexFlatIP (whole and as byte-split parts): same ids and scores as FAISS', () => {
  for (const paths of [
    [join(FIX, 'flat_ip.index')],
    [0, 1, 2].map((i) => join(FIX, `flat_ip.index.part${i}`)),
  ]) {
    const fx = openFaissIndex(paths);
    assert.equal(fx.kind, 'flat');
    assert.equal(fx.count, ref.n);
    assert.equal(fx.dim, ref.d);
    const got = exactSearch(fx.vectors, Q, ref.k);
    got.forEach((g, i) => {
      assert.deepEqual(Array.from(g.ids), ref.flat.ids[i]);
      g.scores.forEach((s, j) => assert.ok(Math.abs(s - ref.flat.scores[i][j]) < 1e-5));
    });
    fx.close();
  }
});

test('FAISS IndexHNSWFlat: our search over its graph returns exactly what FAISS returned', () => {
  const fx = openFaissIndex(join(FIX, 'hnsw_ip.index'));
  assert.equal(fx.kind, 'hnsw');
  const all = new Float32Array(fx.count * fx.dim);
  fx.vectors.readRows(0, fx.count, all);
  ref.queries.forEach((q, i) => {
    const qa = Float32Array.from(q);
    const r = hnswSearch(fx.hnsw!, (n) => -dot(qa, 0, all, n * fx.dim, fx.dim), ref.k, ref.hnsw.efSearch);
    assert.deepEqual(Array.from(r.ids), ref.hnsw.ids[i], `query ${i}`);
    r.scores.forEach((s, j) => assert.ok(Math.abs(s - ref.hnsw.scores[i][j]) < 1e-5));
  });
  fx.close();
});

function fixtureCorpus(n: number): string {
  const p = join(dir, `corpus-${n}.jsonl`);
  writeFileSync(
    p,
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({ id: `d${i}`, contents: `"Title ${i}"\npassage number ${i}` }),
    ).join('\n') + '\n',
  );
  return p;
}

test('FAISS files convert (streamed) to our f32/f16/int8 stores and search the same through DenseIndex', async () => {
  const corpus = fixtureCorpus(ref.n);
  for (const [file, kind] of [
    ['flat_ip.index', 'flat'],
    ['hnsw_ip.index', 'hnsw'],
  ] as const) {
    for (const dtype of ['f32', 'f16', 'int8'] as VectorDtype[]) {
      const out = join(dir, `conv-${kind}-${dtype}`);
      const meta = await convertFaissIndex([join(FIX, file)], corpus, out, { dtype });
      assert.equal(meta.count, ref.n);
      assert.equal(meta.hnsw !== null, kind === 'hnsw');
      const idx = DenseIndex.open(out, { efSearch: ref.hnsw.efSearch });
      const got = idx.searchVectors(Q, ref.k);
      const want = kind === 'flat' ? ref.flat.ids : ref.hnsw.ids;
      let same = 0;
      got.forEach((g, i) => (same += g.ids.filter((id) => want[i].includes(id)).length));
      const overlap = same / (want.length * ref.k);
      if (dtype === 'f32') got.forEach((g, i) => assert.deepEqual(Array.from(g.ids), want[i]));
      else assert.ok(overlap >= 0.9, `${kind} ${dtype}: overlap with FAISS ${overlap}`);
      assert.equal(idx.document(got[0].ids[0]).id, `d${got[0].ids[0]}`);
      await idx.close();
    }
  }
});

test('bad input: truncated FAISS file, corpus/index mismatch, wrong dimension, missing parts', async () => {
  const raw = readFileSync(join(FIX, 'flat_ip.index'));
  const trunc = join(dir, 'trunc.index');
  writeFileSync(trunc, raw.subarray(0, raw.length - 100));
  assert.throws(
    () => openFaissIndex(trunc),
    (e: Error) => e.message.includes(trunc) && /truncated/.test(e.message),
  );
  writeFileSync(trunc, raw.subarray(0, 20));
  assert.throws(
    () => openFaissIndex(trunc),
    (e: Error) => e.message.includes(trunc) && /truncated/.test(e.message),
  );
  const hraw = readFileSync(join(FIX, 'hnsw_ip.index'));
  writeFileSync(trunc, hraw.subarray(0, hraw.length - 5000));
  assert.throws(
    () => openFaissIndex(trunc),
    (e: Error) => e.message.includes(trunc) && /truncated/.test(e.message),
  );
  writeFileSync(trunc, Buffer.from('this is not a faiss index at all, really not'));
  assert.throws(
    () => openFaissIndex(trunc),
    (e: Error) => e.message.includes(trunc),
  );
  // Only two of the three parts: truncated.
  assert.throws(() => openFaissIndex([0, 1].map((i) => join(FIX, `flat_ip.index.part${i}`))), /truncated/);
  await assert.rejects(
    convertFaissIndex([join(FIX, 'flat_ip.index')], fixtureCorpus(299), join(dir, 'mm')),
    (e: Error) =>
      /corpus\/index mismatch/.test(e.message) &&
      e.message.includes('corpus-299.jsonl') &&
      e.message.includes('flat_ip.index'),
  );
  await assert.rejects(
    convertFaissIndex([join(FIX, 'flat_ip.index')], fixtureCorpus(301), join(dir, 'mm')),
    /corpus\/index mismatch/,
  );
  const enc = join(dir, 'enc64');
  initBertFolder({ out: enc, seed: 5 });
  await assert.rejects(
    convertFaissIndex([join(FIX, 'flat_ip.index')], fixtureCorpus(300), join(dir, 'wd'), { encoder: enc }),
    (e: Error) => /wrong vector dimension/.test(e.message) && e.message.includes('flat_ip.index'),
  );
  const out = join(dir, 'conv-dim');
  await convertFaissIndex([join(FIX, 'flat_ip.index')], fixtureCorpus(300), out);
  assert.throws(
    () => DenseIndex.open(out, { encoder: enc }),
    (e: Error) => /wrong vector dimension/.test(e.message) && e.message.includes('meta.json'),
  );
  // A vectors file cut short is named.
  const v = join(out, 'vectors.bin');
  writeFileSync(v, readFileSync(v).subarray(0, 1000));
  assert.throws(
    () => DenseIndex.open(out),
    (e: Error) => e.message.includes(v),
  );
});

test('our HNSW: recall@10 against exact search on a generated clustered set', () => {
  const dim = 32;
  const X = clustered(4000, dim, 3);
  const src = new ArraySource(X, dim);
  const g = buildHnsw(src, { M: 12, efConstruction: 80 });
  const graph = new MemoryHnswGraph(
    g.count,
    g.entryPoint,
    g.maxLevel,
    g.cum,
    g.levels,
    g.offsets,
    g.neighbors,
  );
  const q = clustered(100, dim, 4);
  const exact = exactSearch(src, q, 10);
  for (const ef of [16, 64]) {
    let hit = 0;
    for (let i = 0; i < 100; i++) {
      const r = hnswSearch(graph, (n) => -dot(q, i * dim, X, n * dim, dim), 10, ef);
      hit += Array.from(r.ids).filter((id) => exact[i].ids.includes(id)).length;
    }
    const recall = hit / 1000;
    console.log(`# HNSW M=12 efC=80 efSearch=${ef}: recall@10 ${recall.toFixed(3)}`);
    assert.ok(recall >= (ef === 64 ? 0.97 : 0.8), `recall@10 ${recall} at efSearch ${ef}`);
  }
});

test('index --dense build: resumable after a crash, same files as an uninterrupted build; searches = brute force', async () => {
  const enc = join(dir, 'enc-build');
  initBertFolder({ out: enc, seed: 6 });
  const corpus = fixtureCorpus(150);
  const full = join(dir, 'full');
  await buildDenseIndex(corpus, full, { encoder: enc, chunk: 32, dtype: 'f16' });
  const crashed = join(dir, 'crashed');
  await assert.rejects(
    buildDenseIndex(corpus, crashed, { encoder: enc, chunk: 32, dtype: 'f16', crashAfterChunks: 2 }),
    /simulated crash/,
  );
  assert.throws(() => DenseIndex.open(crashed), /not finished.*resume/);
  const seen: number[] = [];
  await buildDenseIndex(corpus, crashed, {
    encoder: enc,
    chunk: 32,
    dtype: 'f16',
    onProgress: (p) => seen.push(p.done),
  });
  assert.equal(seen[0], 96, 'resumed after the 64 passages already done');
  for (const f of ['vectors.bin', 'passages.jsonl', 'passages.offsets'])
    assert.ok(readFileSync(join(full, f)).equals(readFileSync(join(crashed, f))), f);
  const idx = DenseIndex.open(crashed);
  const queries = ['passage number 7', 'Title 120', 'nothing like it'];
  const hits = await idx.search(queries, 5);
  const e = BertEncoder.load(enc);
  const qv = new Float32Array(e.embed(queries, 'query').flatMap((v) => Array.from(v)));
  const want = brute(idx.store, qv, 5);
  hits.forEach((h, i) => {
    assert.deepEqual(
      h.map((x) => x.id),
      want[i].ids.map((r) => `d${r}`),
    );
    assert.equal(h[0].title, `"Title ${want[i].ids[0]}"`);
  });
  e.dispose();
  await idx.close();
  // The recorded encoder can be missing: a clear error that says what to pass.
  copyFileSync(join(crashed, 'meta.json'), join(dir, 'meta.bak'));
  const m = JSON.parse(readFileSync(join(crashed, 'meta.json'), 'utf8'));
  writeFileSync(
    join(crashed, 'meta.json'),
    JSON.stringify({ ...m, encoder: { ...m.encoder, path: join(dir, 'gone') } }),
  );
  assert.throws(() => DenseIndex.open(crashed), /does not exist \(pass --encoder DIR\)/);
});
