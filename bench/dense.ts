// `npm run bench:dense`: side by side in one run —
//  1. encoding passages/s: our BERT encoder vs node-llama-cpp embeddings on the same GGUF
//     (a random MiniLM-L6-shaped model: 6 layers, 384 hidden, 1536 FFN; 40-token passages);
//  2. exact inner-product search QPS on N × 768 generated vectors vs FAISS IndexFlatIP
//     (Debian python3-faiss, installed with apt-get when missing) at batch 1 and 64.
// Options: --n N (vectors, default 1,000,000), --passages P (default 256). Prints ratios.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import type { Token } from 'node-llama-cpp';
import { randomBertTensors } from '../src/engine/bert/config.ts';
import type { BertConfig } from '../src/engine/bert/config.ts';
import { loadBertFolder, saveBertFolder } from '../src/engine/bert/folder.ts';
import { buildWordPieceTokenizer } from '../src/engine/bert/wordpiece.ts';
import { writeBertGguf } from '../src/engine/bert/gguf.ts';
import { BertEncoder } from '../src/engine/bert/encoder.ts';
import { builtinTokenizerCorpus } from '../src/engine/tokenizer-corpus.ts';
import { exactSearch } from '../src/retrieval/dense/exact.ts';
import { Rng } from '../src/core/rng.ts';

const arg = (name: string, d: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const N = arg('n', 1_000_000);
const P = arg('passages', 256);
const dir = mkdtempSync(join(tmpdir(), 'bench-dense-'));

async function encoding(): Promise<void> {
  const tok = buildWordPieceTokenizer(builtinTokenizerCorpus(), 512);
  const vocab = Object.keys((tok.tokenizerJson.model as { vocab: object }).vocab).length;
  const config: BertConfig = {
    vocabSize: vocab,
    hiddenSize: 384,
    numLayers: 6,
    numHeads: 12,
    intermediateSize: 1536,
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    head: 'encoder',
  };
  const out = join(dir, 'minilm');
  saveBertFolder(out, { config, tensors: randomBertTensors(config, 1), tokenizer: tok });
  writeBertGguf(join(dir, 'm.gguf'), loadBertFolder(out));
  const enc = BertEncoder.load(out);
  const r = new Rng(3);
  const ids = Array.from({ length: P }, () => [
    2,
    ...Array.from({ length: 38 }, () => 5 + Math.floor(r.uniform() * (vocab - 5))),
    3,
  ]);
  enc.embedIds(ids.slice(0, 8));
  let t = performance.now();
  enc.embedIds(ids);
  const ours = P / ((performance.now() - t) / 1000);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: join(dir, 'm.gguf') });
  const ctx = await model.createEmbeddingContext({ contextSize: 512 });
  await ctx.getEmbeddingFor(ids[0] as Token[]);
  t = performance.now();
  for (const x of ids) await ctx.getEmbeddingFor(x as Token[]);
  const theirs = P / ((performance.now() - t) / 1000);
  await llama.dispose();
  console.log(
    `encoding (MiniLM-L6 shape, ${P} passages × 40 tokens): ours ${ours.toFixed(1)} passages/s, node-llama-cpp ${theirs.toFixed(1)} passages/s → ${(ours / theirs).toFixed(2)}×`,
  );
}

function faissAvailable(): boolean {
  const ok = () => spawnSync('/usr/bin/python3', ['-c', 'import faiss'], { stdio: 'ignore' }).status === 0;
  if (ok()) return true;
  console.log('installing python3-faiss (apt-get) for the FAISS side…');
  spawnSync('apt-get', ['install', '-y', '-qq', 'python3-faiss', 'python3-numpy'], { stdio: 'ignore' });
  return ok();
}

function exact(): void {
  const dim = 768;
  const r = new Rng(5);
  const X = new Float32Array(N * dim);
  for (let i = 0; i < X.length; i++) X[i] = r.normal();
  const q = new Float32Array(64 * dim);
  for (let i = 0; i < q.length; i++) q[i] = r.normal();
  const src = {
    count: N,
    dim,
    readRows: (s: number, n: number, o: Float32Array) => o.set(X.subarray(s * dim, (s + n) * dim)),
  };
  const ours: Record<number, number> = {};
  for (const b of [1, 64]) {
    const reps = b === 1 ? 5 : 2;
    exactSearch(src, q.subarray(0, b * dim), 10);
    const t = performance.now();
    for (let i = 0; i < reps; i++) exactSearch(src, q.subarray(0, b * dim), 10);
    ours[b] = (reps * b) / ((performance.now() - t) / 1000);
  }
  let faiss: Record<number, number> | null = null;
  if (faissAvailable()) {
    writeFileSync(join(dir, 'x.f32'), X);
    writeFileSync(join(dir, 'q.f32'), q);
    const py = `
import faiss, numpy as np, time, json, sys
X = np.fromfile('${join(dir, 'x.f32')}', dtype='float32').reshape(-1, ${dim})
Q = np.fromfile('${join(dir, 'q.f32')}', dtype='float32').reshape(-1, ${dim})
ix = faiss.IndexFlatIP(${dim}); ix.add(X)
out = {}
for b, reps in ((1, 5), (64, 2)):
    ix.search(Q[:b], 10)
    t = time.perf_counter()
    for _ in range(reps): ix.search(Q[:b], 10)
    out[b] = reps * b / (time.perf_counter() - t)
print(json.dumps(out))`;
    faiss = JSON.parse(
      execFileSync('/usr/bin/python3', ['-c', py], { encoding: 'utf8' }).trim().split('\n').pop() as string,
    );
  }
  for (const b of [1, 64]) {
    const f = faiss ? faiss[b] : NaN;
    console.log(
      `exact IP search, ${N.toLocaleString('en-US')} × ${dim}, batch ${b}: ours ${ours[b].toFixed(1)} QPS, FAISS IndexFlatIP ${f.toFixed(1)} QPS → ${(ours[b] / f).toFixed(2)}×`,
    );
  }
}

try {
  console.log(`load: ${execFileSync('uptime', { encoding: 'utf8' }).trim()}`);
  await encoding();
  exact();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
