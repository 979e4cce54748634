// Whole-model gradients against central finite differences (float64 reference path), the WASM
// f32 gradients against the float64 ones, and packing: a batch equals each sequence alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.ts';
import { TrainingPass, type SeqIn } from '../../src/engine/forward.ts';
import { createWasmKernels } from '../../src/engine/kernels/index.ts';
import { microConfig, f64Model, randomizeNonMatrices, copyWeights, randomTokens } from './helpers.ts';
import type { Arch } from '../../src/engine/config.ts';

function batchFor(V: number, lens: number[], seed: number): SeqIn[] {
  return lens.map((n, i) => {
    const t = randomTokens(n + 1, V, seed + i);
    return { inputs: t.slice(0, n), targets: t.slice(1) };
  });
}

/** Fixed random upstream gradients: L = Σ c·logp + e·entropy + w·value. */
function upstream(lens: number[], seed: number) {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const mk = () => lens.map((n) => Float32Array.from({ length: n }, r));
  return { dLogprobs: mk(), dEntropy: mk(), dValues: mk() };
}

function lossOf(m: Model, batch: SeqIn[], up: ReturnType<typeof upstream>): number {
  const pass = new TrainingPass(m);
  const o = pass.forward(batch, false);
  pass.dispose();
  let L = 0;
  for (let s = 0; s < batch.length; s++)
    for (let t = 0; t < batch[s].inputs.length; t++) {
      L += up.dLogprobs[s][t] * o.logprobs[s][t] + up.dEntropy[s][t] * o.entropy[s][t];
      if (o.values) L += up.dValues[s][t] * o.values[s][t];
    }
  return L;
}

for (const arch of ['qwen2', 'llama'] as Arch[]) {
  test(`${arch}: every parameter's gradient matches central finite differences (float64)`, () => {
    const cfg = microConfig(arch, { valueHead: true });
    const m = f64Model(cfg, 7);
    randomizeNonMatrices(m, 3);
    const lens = [5, 1, 37]; // 37 > one attention block of 32 rows
    const batch = batchFor(cfg.vocabSize, lens, 11);
    const up = upstream(lens, 5);
    const pass = new TrainingPass(m);
    pass.forward(batch, true);
    m.ensureGrads();
    m.zeroGrad();
    pass.backward(up);
    const eps = 1e-5;
    let checked = 0;
    for (const p of m.params) {
      const w = p.w.data,
        g = p.g!.data;
      // A handful of entries per tensor, including the first and last.
      const idx = new Set([0, p.size - 1, Math.floor(p.size / 3), Math.floor((2 * p.size) / 3)]);
      for (const i of idx) {
        const w0 = w[i];
        w[i] = w0 + eps;
        const lp = lossOf(m, batch, up);
        w[i] = w0 - eps;
        const lm = lossOf(m, batch, up);
        w[i] = w0;
        const fd = (lp - lm) / (2 * eps);
        const err = Math.abs(fd - g[i]) / Math.max(1e-6, Math.abs(fd) + Math.abs(g[i]));
        assert.ok(
          err < 1e-5 || Math.abs(fd - g[i]) < 1e-8,
          `${p.name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 40, 'checked > 40');
  });

  test(`${arch}: WASM f32 forward and gradients match the float64 reference`, () => {
    const cfg = microConfig(arch, { valueHead: true, hiddenSize: 24, headDim: 6, intermediateSize: 40 });
    const ref = f64Model(cfg, 9, 0.2);
    randomizeNonMatrices(ref, 4);
    const fast = new Model(cfg, { kernels: createWasmKernels() });
    copyWeights(ref, fast);
    const lens = [9, 4, 70, 2, 33];
    const batch = batchFor(cfg.vocabSize, lens, 21);
    const up = upstream(lens, 8);
    const grads: Map<string, Float64Array>[] = [];
    const outs = [];
    // The fast model twice: attention probabilities kept for backward, and recomputed.
    const fast2 = new Model(cfg, { kernels: createWasmKernels() });
    copyWeights(ref, fast2);
    for (const [m, keep] of [
      [ref, 1e9],
      [fast, 1e9],
      [fast2, 0],
    ] as const) {
      const pass = new TrainingPass(m, keep);
      outs.push(pass.forward(batch, true));
      m.ensureGrads();
      m.zeroGrad();
      pass.backward(up);
      grads.push(new Map(m.params.map((p) => [p.name, Float64Array.from(p.g!.data)])));
    }
    for (const k of [1, 2])
      for (let s = 0; s < lens.length; s++)
        for (let t = 0; t < lens[s]; t++) {
          assert.ok(Math.abs(outs[0].logprobs[s][t] - outs[k].logprobs[s][t]) < 1e-4, 'logprobs');
          assert.ok(Math.abs(outs[0].entropy[s][t] - outs[k].entropy[s][t]) < 1e-4, 'entropy');
          assert.ok(Math.abs(outs[0].values![s][t] - outs[k].values![s][t]) < 1e-4, 'values');
        }
    for (const k of [1, 2])
      for (const [name, g64] of grads[0]) {
        const g32 = grads[k].get(name)!;
        let num = 0,
          den = 0;
        for (let i = 0; i < g64.length; i++) {
          num += (g64[i] - g32[i]) ** 2;
          den += g64[i] ** 2;
        }
        const rel = Math.sqrt(num / Math.max(den, 1e-30));
        assert.ok(
          rel < 1e-3,
          `${name} (${k === 1 ? 'kept' : 'recomputed'} attention): relative gradient error ${rel}`,
        );
      }
  });
}

test('packing: a ragged batch gives each sequence the log-probs it gets alone', () => {
  const cfg = microConfig('qwen2');
  const m = new Model(cfg, { seed: 3, kernels: createWasmKernels(), initStd: 0.2 });
  const batch = batchFor(cfg.vocabSize, [6, 47, 1, 9], 31);
  const pass = new TrainingPass(m);
  const together = pass.forward(batch, false);
  pass.dispose(); // a released pass rebuilds its plan, RoPE table and positions on the next call
  assert.deepEqual(pass.forward(batch, false), together);
  for (let s = 0; s < batch.length; s++) {
    const alone = pass.forward([batch[s]], false);
    for (let t = 0; t < batch[s].inputs.length; t++)
      assert.ok(Math.abs(alone.logprobs[0][t] - together.logprobs[s][t]) < 1e-5, `seq ${s} pos ${t}`);
  }
  // And a changed token in one sequence changes nothing in the others.
  const changed = batch.map((b) => ({ inputs: b.inputs.slice(), targets: b.targets.slice() }));
  changed[1].inputs[3] = (changed[1].inputs[3] + 1) % cfg.vocabSize;
  const after = pass.forward(changed, false);
  for (const s of [0, 2, 3])
    assert.deepEqual(Array.from(after.logprobs[s]), Array.from(together.logprobs[s]));
  assert.notDeepEqual(Array.from(after.logprobs[1]), Array.from(together.logprobs[1]));
  pass.dispose();
});

test('forward matches an independent float64 implementation (ragged batch, several attention blocks)', async () => {
  const { referenceLogits, logSoftmax } = await import('./io/reference-forward.ts');
  for (const arch of ['qwen2', 'llama'] as Arch[]) {
    const cfg = microConfig(arch, { ropeTheta: 500 });
    const m = new Model(cfg, { seed: 12, kernels: createWasmKernels(), initStd: 0.3 });
    randomizeNonMatrices(m, 6);
    const batch = batchFor(cfg.vocabSize, [70, 3, 45], 41);
    const pass = new TrainingPass(m);
    const out = pass.forward(batch, false);
    pass.dispose();
    const tensors = m.tensors();
    let maxDiff = 0;
    batch.forEach((b, s) => {
      const logits = referenceLogits(cfg, tensors, [...b.inputs]);
      b.targets.forEach((y, t) => {
        maxDiff = Math.max(maxDiff, Math.abs(logSoftmax(logits[t])[y] - out.logprobs[s][t]));
      });
    });
    assert.ok(maxDiff < 1e-4, `${arch}: max |engine − reference| log-prob ${maxDiff}`);
  }
});
