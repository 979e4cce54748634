// BERT encoders on the engine, checked two ways:
// 1. against an independent float64 forward written plainly below (exact-erf GELU, as
//    transformers): max |Δ| ≤ 1e-4 on raw pooled vectors of magnitude O(1) — the engine runs in
//    f32 (GEMM sums of ≤ 128 products, ~1e-6 relative each), measured ~1e-6.
// 2. against llama.cpp (node-llama-cpp embedding and ranking contexts) on GGUFs we export.
//    llama.cpp's CPU GELU is the tanh approximation read from an f16 table (input and output
//    rounded to 11-bit mantissas), so a faithful model differs by ~1e-3 there. Our engine can run
//    that same GELU (`gelu: 'ggml'`): then the only difference is llama.cpp's f32 rounding plus
//    occasional f16-rounding flips of an activation, measured ≤ 1.5e-4; we allow 1e-3. With the
//    exact GELU (what we ship) we allow 5e-3 (measured ≤ 1e-3). Either bound is far below what a
//    wrong tensor mapping, missing bias, wrong pooling or missing pooler does (O(0.1–1), checked
//    by the mutation case at the end; dropping the pooler from the reranker GGUF moved probabilities by 2e-3–3e-2 when tried). Flash attention is off in llama.cpp (it rounds K/V to f16).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { Llama, LlamaModel, Token } from 'node-llama-cpp';
import { initBertFolder, loadBertFolder } from '../../src/engine/bert/folder.ts';
import type { BertFolder } from '../../src/engine/bert/folder.ts';
import { writeBertGguf } from '../../src/engine/bert/gguf.ts';
import { BertEncoder, CrossEncoder } from '../../src/engine/bert/encoder.ts';
import { embedTexts } from '../../src/cli/commands/embed.ts';

const TEXTS = [
  'What is the capital of France?',
  'Paris is the capital and most populous city of France.',
  'In 1998, the team won the national championship; their coach was born in 1954.',
  'who wrote the book',
  'The quick brown fox jumps over the lazy dog, twice!',
];

let llama: Llama;
let dir: string;
before(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  dir = mkdtempSync(join(tmpdir(), 'bert-test-'));
});
after(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

// ---- independent float64 reference -------------------------------------------------------
function erf64(x: number): number {
  // Abramowitz–Stegun 7.1.28-free: series for |x| < 3, continued fraction beyond (≤ 1e-12).
  const ax = Math.abs(x);
  let r: number;
  if (ax < 3) {
    let sum = ax;
    let term = ax;
    for (let n = 1; n < 200; n++) {
      term *= (-ax * ax) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    let f = 0;
    for (let n = 60; n >= 1; n--) f = n / 2 / (ax + f);
    r = 1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / (ax + f);
  }
  return x < 0 ? -r : r;
}

function refForward(f: BertFolder, ids: number[], types: number[] = ids.map(() => 0)): number[][] {
  const c = f.config;
  const D = c.hiddenSize;
  const T = (n: string) => f.tensors.get(n)!.data;
  const lin = (x: number[][], w: Float32Array, b: Float32Array, nOut: number) =>
    x.map((row) => {
      const y: number[] = [];
      for (let o = 0; o < nOut; o++) {
        let s = b[o];
        for (let i = 0; i < row.length; i++) s += w[o * row.length + i] * row[i];
        y.push(s);
      }
      return y;
    });
  const ln = (x: number[][], w: Float32Array, b: Float32Array) =>
    x.map((row) => {
      const m = row.reduce((a, v) => a + v, 0) / row.length;
      const v = row.reduce((a, u) => a + (u - m) ** 2, 0) / row.length;
      return row.map((u, j) => ((u - m) / Math.sqrt(v + c.layerNormEps)) * w[j] + b[j]);
    });
  let x = ids.map((id, i) =>
    Array.from({ length: D }, (_, j) => {
      return (
        T('embeddings.word_embeddings.weight')[id * D + j] +
        T('embeddings.position_embeddings.weight')[i * D + j] +
        T('embeddings.token_type_embeddings.weight')[types[i] * D + j]
      );
    }),
  );
  x = ln(x, T('embeddings.LayerNorm.weight'), T('embeddings.LayerNorm.bias'));
  const H = c.numHeads;
  const hd = D / H;
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    const q = lin(x, T(`${p}attention.self.query.weight`), T(`${p}attention.self.query.bias`), D);
    const k = lin(x, T(`${p}attention.self.key.weight`), T(`${p}attention.self.key.bias`), D);
    const v = lin(x, T(`${p}attention.self.value.weight`), T(`${p}attention.self.value.bias`), D);
    const ctx = x.map(() => new Array<number>(D).fill(0));
    for (let h = 0; h < H; h++)
      for (let i = 0; i < x.length; i++) {
        const s = x.map((_, j) => {
          let d = 0;
          for (let e = 0; e < hd; e++) d += q[i][h * hd + e] * k[j][h * hd + e];
          return d / Math.sqrt(hd);
        });
        const m = Math.max(...s);
        const ex = s.map((u) => Math.exp(u - m));
        const z = ex.reduce((a, u) => a + u, 0);
        for (let j = 0; j < x.length; j++)
          for (let e = 0; e < hd; e++) ctx[i][h * hd + e] += (ex[j] / z) * v[j][h * hd + e];
      }
    const a = lin(ctx, T(`${p}attention.output.dense.weight`), T(`${p}attention.output.dense.bias`), D);
    const x1 = ln(
      a.map((r, i) => r.map((u, j) => u + x[i][j])),
      T(`${p}attention.output.LayerNorm.weight`),
      T(`${p}attention.output.LayerNorm.bias`),
    );
    const hdn = lin(
      x1,
      T(`${p}intermediate.dense.weight`),
      T(`${p}intermediate.dense.bias`),
      c.intermediateSize,
    ).map((r) => r.map((u) => 0.5 * u * (1 + erf64(u / Math.SQRT2))));
    const o = lin(hdn, T(`${p}output.dense.weight`), T(`${p}output.dense.bias`), D);
    x = ln(
      o.map((r, i) => r.map((u, j) => u + x1[i][j])),
      T(`${p}output.LayerNorm.weight`),
      T(`${p}output.LayerNorm.bias`),
    );
  }
  return x;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function loadGguf(path: string): Promise<LlamaModel> {
  return llama.loadModel({ modelPath: path, defaultContextFlashAttention: false });
}

for (const pooling of ['mean', 'cls'] as const) {
  test(`encoder (${pooling} pooling) = float64 reference = llama.cpp embeddings on our GGUF`, async () => {
    const out = join(dir, `enc-${pooling}`);
    initBertFolder({ out, seed: pooling === 'mean' ? 11 : 12, settings: { pooling } });
    const f = loadBertFolder(out);
    assert.equal(f.settings.pooling, pooling);
    const gguf = join(dir, `enc-${pooling}.gguf`);
    writeBertGguf(gguf, f);
    const model = await loadGguf(gguf);
    const ctx = await model.createEmbeddingContext({ contextSize: 512 });
    const exact = BertEncoder.load(out);
    const ggml = BertEncoder.load(out, { gelu: 'ggml' });
    let dRef = 0;
    let dGgml = 0;
    let dExact = 0;
    let spread = 0;
    for (const text of TEXTS) {
      const ids = exact.tokenize(text);
      // llama.cpp's WordPiece tokenizer (from our GGUF metadata) gives the same ids.
      assert.deepEqual(
        [...model.tokenize(text)].map(Number),
        ids.slice(1, -1),
        `tokens of ${JSON.stringify(text)}`,
      );
      const ref = refForward(f, ids);
      const refPooled =
        pooling === 'cls' ? ref[0] : ref[0].map((_, j) => ref.reduce((a, r) => a + r[j], 0) / ref.length);
      const ours = exact.embedIds([ids], false)[0];
      dRef = Math.max(dRef, maxAbsDiff(ours, refPooled));
      const theirs = (await ctx.getEmbeddingFor(ids as Token[])).vector;
      dGgml = Math.max(dGgml, maxAbsDiff(ggml.embedIds([ids], false)[0], theirs));
      dExact = Math.max(dExact, maxAbsDiff(ours, theirs));
      spread = Math.max(spread, maxAbsDiff(ours, exact.embedIds([exact.tokenize(TEXTS[0])], false)[0]));
    }
    console.log(
      `# ${pooling}: |ours-ref64| ${dRef.toExponential(2)}, |ours(ggml gelu)-llama.cpp| ${dGgml.toExponential(2)}, |ours-llama.cpp| ${dExact.toExponential(2)}, spread between texts ${spread.toFixed(2)}`,
    );
    assert.ok(dRef <= 1e-4, `engine vs float64 reference ${dRef}`);
    assert.ok(dGgml <= 1e-3, `engine (ggml GELU) vs llama.cpp ${dGgml}`);
    assert.ok(dExact <= 5e-3, `engine (exact GELU) vs llama.cpp ${dExact}`);
    assert.ok(spread > 0.1, 'embeddings of different texts differ by more than the tolerance');
    // Batched (several lengths in one packed forward) = one at a time, bit for bit up to f32 order.
    const batched = exact.embed(TEXTS, 'passage');
    for (let i = 0; i < TEXTS.length; i++) {
      const one = exact.embed([TEXTS[i]], 'passage')[0];
      assert.ok(maxAbsDiff(batched[i], one) <= 1e-6);
      const norm = Math.hypot(...batched[i]);
      assert.ok(Math.abs(norm - 1) < 1e-5, 'L2-normalised');
    }
    // Prefixes per the settings: "passage: " differs from none, and equals embedding the prefixed text.
    assert.ok(maxAbsDiff(exact.embed([TEXTS[0]], 'passage')[0], exact.embed([TEXTS[0]])[0]) > 1e-3);
    assert.ok(
      maxAbsDiff(exact.embed([TEXTS[0]], 'query')[0], exact.embed([`query: ${TEXTS[0]}`])[0]) <= 1e-7,
    );
    // The CLI prints the same vectors.
    const cli = embedTexts(out, [TEXTS[1]], 'query');
    assert.ok(maxAbsDiff(cli[0], exact.embed([TEXTS[1]], 'query')[0]) <= 1e-7);
    exact.dispose();
    ggml.dispose();
    await ctx.dispose();
    await model.dispose();
  });
}

test('max length truncation keeps [CLS] … [SEP] within maxLength tokens', () => {
  const out = join(dir, 'enc-trunc');
  initBertFolder({ out, seed: 3, settings: { maxLength: 16 } });
  const enc = BertEncoder.load(out);
  const ids = enc.tokenize(TEXTS.join(' '));
  assert.equal(ids.length, 16);
  assert.equal(ids[0], enc.tokenizer.tokenToId('[CLS]'));
  assert.equal(ids[15], enc.tokenizer.tokenToId('[SEP]'));
  enc.dispose();
});

test('cross-encoder logits = float64 reference (token types 0/1) and = llama.cpp ranking on our GGUF', async () => {
  const out = join(dir, 'rerank');
  initBertFolder({ out, seed: 21, head: 'classifier' });
  const f = loadBertFolder(out);
  const gguf = join(dir, 'rerank.gguf');
  writeBertGguf(gguf, f);
  const model = await loadGguf(gguf);
  const ctx = await model.createRankingContext({ contextSize: 512 });
  const exact = CrossEncoder.load(out);
  const ggml = CrossEncoder.load(out, { gelu: 'ggml' });
  const P = f.tensors;
  const query = 'capital of france';
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  let dRef = 0;
  let dRank = 0;
  const ourScores: number[] = [];
  for (const doc of TEXTS) {
    // Our natural input: [CLS] q [SEP] d [SEP], types 0…0 1…1, against the float64 reference head.
    const inp = exact.tokenizePair(query, doc);
    assert.ok(Array.from(inp.types!).includes(1));
    const h = refForward(f, inp.ids as number[], inp.types as number[])[0];
    const D = f.config.hiddenSize;
    let logit = P.get('classifier.bias')!.data[0];
    for (let i = 0; i < D; i++) {
      let z = P.get('pooler.dense.bias')!.data[i];
      for (let j = 0; j < D; j++) z += P.get('pooler.dense.weight')!.data[i * D + j] * h[j];
      logit += P.get('classifier.weight')!.data[i] * Math.tanh(z);
    }
    const ours = exact.score(query, [doc])[0];
    ourScores.push(ours);
    dRef = Math.max(dRef, Math.abs(ours - logit));
    // llama.cpp ranks [BOS] q [EOS] [SEP] d [EOS] with every token type 0 (node-llama-cpp's
    // LlamaRankingContext; llama.cpp hard-codes type 0) and reports sigmoid(logit).
    const t = model.tokens;
    const ids = [t.bos!, ...model.tokenize(query), t.eos!, t.sep!, ...model.tokenize(doc), t.eos!].map(
      Number,
    );
    const theirs = await ctx.rank(query, doc);
    dRank = Math.max(dRank, Math.abs(sigmoid(ggml.scoreInputs([{ ids }])[0]) - theirs));
  }
  console.log(
    `# reranker: |ours-ref64| ${dRef.toExponential(2)} (logit), |ours(ggml gelu)-llama.cpp| ${dRank.toExponential(2)} (probability)`,
  );
  assert.ok(dRef <= 1e-4, `reranker vs float64 reference ${dRef}`);
  assert.ok(dRank <= 1e-3, `reranker vs llama.cpp ranking ${dRank}`);
  assert.ok(Math.max(...ourScores) - Math.min(...ourScores) > 0.01, 'scores differ between passages');
  // Batched scoring = one at a time.
  const all = exact.score(query, TEXTS);
  all.forEach((s, i) => assert.ok(Math.abs(s - ourScores[i]) <= 1e-5));
  exact.dispose();
  ggml.dispose();
  await ctx.dispose();
  await model.dispose();
});

test('the llama.cpp comparison catches a wrong pooling type in the GGUF', async () => {
  const out = join(dir, 'enc-mut');
  initBertFolder({ out, seed: 31, settings: { pooling: 'mean' } });
  const f = loadBertFolder(out);
  const wrong = { ...f, settings: { ...f.settings, pooling: 'cls' as const } };
  writeBertGguf(join(dir, 'mut.gguf'), wrong);
  const model = await loadGguf(join(dir, 'mut.gguf'));
  const ctx = await model.createEmbeddingContext({ contextSize: 512 });
  const enc = BertEncoder.load(out, { gelu: 'ggml' });
  const ids = enc.tokenize(TEXTS[1]);
  const d = maxAbsDiff(enc.embedIds([ids], false)[0], (await ctx.getEmbeddingFor(ids as Token[])).vector);
  assert.ok(d > 0.05, `a wrong pooling type is visible (${d})`);
  enc.dispose();
  await ctx.dispose();
  await model.dispose();
});

test('unsupported encoder architectures and broken folders fail naming the file', () => {
  const out = join(dir, 'enc-bad');
  initBertFolder({ out, seed: 4 });
  const cfgPath = join(out, 'config.json');
  const good = readFileSync(cfgPath, 'utf8');
  const cfg = JSON.parse(good);
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, model_type: 'xlm-roberta' }));
  assert.throws(
    () => BertEncoder.load(out),
    (e: Error) => e.message.includes(cfgPath) && /xlm-roberta/.test(e.message),
  );
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, hidden_act: 'relu' }));
  assert.throws(
    () => BertEncoder.load(out),
    (e: Error) => e.message.includes(cfgPath) && /hidden_act/.test(e.message),
  );
  writeFileSync(cfgPath, JSON.stringify({ ...cfg, hidden_size: 32 }));
  assert.throws(
    () => BertEncoder.load(out),
    (e: Error) => /model\.safetensors/.test(e.message) && /shape/.test(e.message),
  );
  writeFileSync(cfgPath, good);
  assert.throws(() => CrossEncoder.load(out), /not a cross-encoder/);
  assert.throws(() => BertEncoder.load(join(dir, 'nope')), /no config\.json/);
});
