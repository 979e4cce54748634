// Training through the EmbeddedTrainer: the tiny preset overfits a small batch, the built-in
// Tinker losses agree with the same loss written as a `custom` loss, and a critic learns values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { createWasmKernels } from '../../src/engine/kernels/index.ts';
import type { AdamWParams, Datum, ForwardOutput, LossGradient } from '../../src/core/trainer.ts';
import { microConfig, byteTokenizer, randomTokens } from './helpers.ts';

const kernels = createWasmKernels();
const tok = byteTokenizer(259);

test('the tiny preset overfits a small batch (loss → ~0) in a few hundred steps', async () => {
  for (const arch of ['qwen2', 'llama'] as const) {
    const tr = EmbeddedTrainer.fromModel(new Model(presetConfig('tiny', arch), { seed: 1, kernels }), tok);
    const data: Datum[] = [24, 17, 30, 9].map((n, i) => {
      const t = randomTokens(n + 1, 256, 100 + i);
      return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) };
    });
    const ntok = data.reduce((s, d) => s + d.inputTokens.length, 0);
    const h: AdamWParams = {
      learningRate: 3e-3,
      beta1: 0.9,
      beta2: 0.95,
      eps: 1e-8,
      weightDecay: 0,
      gradClipNorm: 1,
    };
    let first = 0,
      last = 0;
    for (let step = 0; step < 300; step++) {
      const m = await tr.forwardBackward(data, { type: 'cross_entropy' });
      const mean = m['loss:sum'] / ntok;
      if (step === 0) first = mean;
      last = mean;
      await tr.optimStep(h);
      if (mean < 0.02) break;
    }
    assert.ok(first > 4, `${arch}: initial loss ${first} should be ≈ ln(259)`);
    assert.ok(last < 0.05, `${arch}: loss after training ${last}`);
  }
});

function rlBatch(): Datum[] {
  return [6, 11].map((n, i) => {
    const t = randomTokens(n + 1, 256, 50 + i);
    const mask = Float32Array.from({ length: n }, (_, k) => (k >= 2 ? 1 : 0));
    return {
      inputTokens: t.slice(0, -1),
      targetTokens: t.slice(1),
      weights: mask,
      advantages: Float32Array.from({ length: n }, (_, k) => ((k % 3) - 1) * 0.7),
      // sampling log-probs near the model's (≈ −ln 259) so ratios straddle the clip range
      logprobs: Float32Array.from({ length: n }, (_, k) => -5.56 + 0.3 * Math.sin(k + i)),
    };
  });
}

function grads(tr: EmbeddedTrainer): Float32Array[] {
  return tr.model.params.map((p) => Float32Array.from(p.g!.data));
}

test('built-in losses equal the same loss as a custom loss (value and gradient)', async () => {
  const cfg = microConfig('qwen2', { vocabSize: 259 });
  const tr = EmbeddedTrainer.fromModel(new Model(cfg, { seed: 4, kernels, initStd: 0.1 }), tok);
  const b = rlBatch();
  const customs: Record<string, (o: ForwardOutput[], d: Datum[]) => LossGradient> = {
    cross_entropy: (o, d) => {
      let loss = 0;
      const dl = o.map((x, i) =>
        x.logprobs.map((lp, t) => {
          loss += -d[i].weights![t] * lp;
          return -d[i].weights![t];
        }),
      );
      return { loss, dLogprobs: dl };
    },
    importance_sampling: (o, d) => {
      let loss = 0;
      const dl = o.map((x, i) =>
        x.logprobs.map((lp, t) => {
          const r = Math.exp(lp - d[i].logprobs![t]),
            w = d[i].weights![t],
            A = d[i].advantages![t];
          loss += -w * r * A;
          return -w * r * A;
        }),
      );
      return { loss, dLogprobs: dl };
    },
    ppo: (o, d) => {
      let loss = 0;
      const dl = o.map((x, i) =>
        x.logprobs.map((lp, t) => {
          const r = Math.exp(lp - d[i].logprobs![t]),
            w = d[i].weights![t],
            A = d[i].advantages![t];
          const rc = Math.min(Math.max(r, 0.97), 1.03);
          if (r * A <= rc * A) {
            loss += -w * r * A;
            return -w * r * A;
          }
          loss += -w * rc * A;
          return 0;
        }),
      );
      return { loss, dLogprobs: dl };
    },
  };
  for (const [name, fn] of Object.entries(customs)) {
    const spec =
      name === 'ppo'
        ? { type: 'ppo' as const, clipLow: 0.97, clipHigh: 1.03 }
        : { type: name as 'cross_entropy' | 'importance_sampling' };
    tr.model.ensureGrads();
    tr.model.zeroGrad();
    const m1 = await tr.forwardBackward(b, spec);
    const g1 = grads(tr);
    tr.model.zeroGrad();
    const m2 = await tr.forwardBackward(b, { type: 'custom', fn });
    const g2 = grads(tr);
    assert.ok(
      Math.abs(m1['loss:sum'] - m2['loss:sum']) < 1e-4 * (1 + Math.abs(m2['loss:sum'])),
      `${name}: loss ${m1['loss:sum']} vs ${m2['loss:sum']}`,
    );
    let nz = 0;
    g1.forEach((g, i) =>
      g.forEach((v, j) => {
        assert.ok(
          Math.abs(v - g2[i][j]) < 1e-5 + 1e-4 * Math.abs(v),
          `${name}: grad ${tr.model.params[i].name}[${j}]`,
        );
        if (v !== 0) nz++;
      }),
    );
    assert.ok(nz > 100, `${name}: gradient is not trivially zero`);
    if (name === 'ppo')
      assert.ok(m1['clip_fraction:mean'] > 0 && m1['clip_fraction:mean'] < 1, 'ppo clipped some tokens');
  }
  // Accumulation: two calls = twice the gradient of one.
  tr.model.zeroGrad();
  await tr.forwardBackward(b, { type: 'cross_entropy' });
  const once = grads(tr);
  await tr.forwardBackward(b, { type: 'cross_entropy' });
  const twice = grads(tr);
  once.forEach(
    (g, i) => g.forEach((v, j) => assert.ok(Math.abs(2 * v - twice[i][j]) < 1e-5 + 1e-5 * Math.abs(v))),
    'Math.abs(2 * v - twice[i][j]) < 1e-5 + 1e-5 * Math.abs(v)))',
  );
  await assert.rejects(
    tr.forwardBackward([{ ...b[0], advantages: undefined }], { type: 'ppo', clipLow: 0.8, clipHigh: 1.2 }),
    /batch\[0\]\.advantages/,
  );
  await assert.rejects(
    tr.forwardBackward([{ ...b[0], targetTokens: [1] }], { type: 'cross_entropy' }),
    /batch\[0\]\.targetTokens/,
  );
});

test('batches larger than the activation budget are split into passes with the same result', async () => {
  const cfg = microConfig('llama', { vocabSize: 259 });
  const mk = (maxActivationBytes?: number) =>
    EmbeddedTrainer.fromModel(new Model(cfg, { seed: 8, kernels, initStd: 0.1 }), tok, {
      maxActivationBytes,
    });
  const whole = mk(),
    split = mk(30_000); // a few tokens per pass
  const b = rlBatch();
  const custom = {
    type: 'custom' as const,
    needsEntropy: true,
    fn: (o: ForwardOutput[]): LossGradient => ({
      loss: o.reduce((s, x) => s + x.entropy!.reduce((a, v) => a + v, 0), 0),
      dLogprobs: o.map((x) => new Float32Array(x.logprobs.length)),
      dEntropy: o.map((x) => new Float32Array(x.logprobs.length).fill(1)),
    }),
  };
  for (const t of [whole, split]) await t.forwardBackward(b, custom);
  const f1 = await whole.forward(b, { entropy: true }),
    f2 = await split.forward(b, { entropy: true });
  f1.forEach((o, i) =>
    o.entropy!.forEach((e, t) => {
      assert.ok(Math.abs(e - f2[i].entropy![t]) < 1e-5, 'Math.abs(e - f2[i].entropy![t]) < 1e-5');
      assert.ok(
        Math.abs(o.logprobs[t] - f2[i].logprobs[t]) < 1e-5,
        'Math.abs(o.logprobs[t] - f2[i].logprobs[t]) < 1e-5',
      );
    }),
  );
  grads(whole).forEach((g, i) => {
    const h = grads(split)[i];
    g.forEach(
      (v, j) => assert.ok(Math.abs(v - h[j]) < 1e-5 + 1e-4 * Math.abs(v)),
      'Math.abs(v - h[j]) < 1e-5 + 1e-4 * Math.abs(v))',
    );
  });
});

test('a critic (value head) learns per-token value targets through a custom loss', async () => {
  const cfg = microConfig('qwen2', { vocabSize: 259, valueHead: true });
  const tr = EmbeddedTrainer.fromModel(new Model(cfg, { seed: 6, kernels }), tok);
  const b = rlBatch();
  const target = (i: number, t: number) => (i === 0 ? 0.5 : -0.25) + 0.1 * t;
  const mse = {
    type: 'custom' as const,
    fn: (o: ForwardOutput[]): LossGradient => {
      let loss = 0;
      const dValues = o.map((x, i) =>
        x.values!.map((v, t) => {
          loss += 0.5 * (v - target(i, t)) ** 2;
          return v - target(i, t);
        }),
      );
      return { loss, dLogprobs: o.map((x) => new Float32Array(x.logprobs.length)), dValues };
    },
  };
  let first = 0,
    last = 0;
  for (let s = 0; s < 150; s++) {
    const m = await tr.forwardBackward(b, mse);
    if (s === 0) first = m['loss:sum'];
    last = m['loss:sum'];
    await tr.optimStep({
      learningRate: 1e-2,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weightDecay: 0,
      gradClipNorm: 0,
    });
  }
  assert.ok(last < first * 0.05, `critic loss ${first} → ${last}`);
  const out = await tr.forward(b);
  assert.equal(out[0].values!.length, b[0].inputTokens.length);
});
