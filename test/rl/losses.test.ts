import { mulberry32 } from '../../src/core/rng.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  policyLoss,
  valueLoss,
  aggregationWeights,
  klTerm,
  applyKlPenalty,
  type PolicyLossOptions,
  type Aggregation,
  type KlEstimator,
} from '../../src/rl/losses.ts';

// The cases draw from the project's seeded generator, so they are reproducible.
const rng = mulberry32;

function makeCase(seed: number) {
  const r = rng(seed);
  const lens = [5, 3, 7];
  const masks = lens.map((T, i) => Array.from({ length: T }, (_, t) => (i === 1 ? 1 : t % 3 === 2 ? 0 : 1)));
  const old = lens.map((T) => Array.from({ length: T }, () => -0.3 - 2 * r()));
  // current log-probs: ratios spread across and beyond the clip range
  const logp = old.map((o) => o.map((x) => x + (r() - 0.5) * 0.9));
  const ref = old.map((o) => o.map((x) => x + (r() - 0.5) * 1.2));
  const adv = lens.map((T) => Array.from({ length: T }, () => (r() - 0.5) * 4));
  const ent = lens.map((T) => Array.from({ length: T }, () => 0.5 + r()));
  return { masks, old, logp, ref, adv, ent };
}

function finiteDiffCheck(opts: PolicyLossOptions, seed: number): void {
  const c = makeCase(seed);
  const lossAt = (logp: number[][], ent: number[][]) =>
    policyLoss(
      {
        logprobs: logp,
        oldLogprobs: c.old,
        advantages: c.adv,
        masks: c.masks,
        refLogprobs: c.ref,
        entropy: ent,
      },
      opts,
    ).loss;
  const res = policyLoss(
    {
      logprobs: c.logp,
      oldLogprobs: c.old,
      advantages: c.adv,
      masks: c.masks,
      refLogprobs: c.ref,
      entropy: c.ent,
    },
    opts,
  );
  const h = 1e-6;
  for (let i = 0; i < c.logp.length; i++) {
    for (let t = 0; t < c.logp[i].length; t++) {
      const plus = c.logp.map((s) => s.slice());
      const minus = c.logp.map((s) => s.slice());
      plus[i][t] += h;
      minus[i][t] -= h;
      const fd = (lossAt(plus, c.ent) - lossAt(minus, c.ent)) / (2 * h);
      assert.ok(
        Math.abs(fd - res.dLogprobs[i][t]) < 1e-5,
        `${JSON.stringify(opts)} dlogp[${i}][${t}] fd ${fd} vs ${res.dLogprobs[i][t]}`,
      );
      const ep = c.ent.map((s) => s.slice());
      const em = c.ent.map((s) => s.slice());
      ep[i][t] += h;
      em[i][t] -= h;
      const fdE = (lossAt(c.logp, ep) - lossAt(c.logp, em)) / (2 * h);
      assert.ok(
        Math.abs(fdE - res.dEntropy[i][t]) < 1e-6,
        `dEntropy[${i}][${t}] fd ${fdE} vs ${res.dEntropy[i][t]}`,
      );
    }
  }
}

test('policy loss gradients match finite differences (every aggregation, KL estimator, dual clip)', () => {
  const aggs: Aggregation[] = ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'];
  const kls: KlEstimator[] = ['k1', 'k2', 'k3', 'low_var_kl'];
  let seed = 1;
  for (const aggregation of aggs) {
    for (const klEstimator of kls) {
      for (const dualClipC of [0, 3]) {
        finiteDiffCheck(
          {
            clipEpsLow: 0.2,
            clipEpsHigh: 0.28,
            dualClipC,
            klCoef: 0.05,
            klEstimator,
            entropyCoef: 0.01,
            aggregation,
          },
          seed++,
        );
      }
    }
  }
});

test('policy loss by hand on one token (ratio clipping and dual clip)', () => {
  const base = {
    klCoef: 0,
    klEstimator: 'k1' as const,
    entropyCoef: 0,
    aggregation: 'token-mean' as const,
    clipEpsLow: 0.2,
    clipEpsHigh: 0.2,
  };
  const one = (logp: number, adv: number, dualClipC = 0) =>
    policyLoss(
      { logprobs: [[logp]], oldLogprobs: [[0]], advantages: [[adv]], masks: [[1]] },
      { ...base, dualClipC },
    );
  // ratio e^0.1 = 1.105 inside the range: loss = −A·ratio, grad = −A·ratio
  let r = one(0.1, 2);
  assert.ok(Math.abs(r.loss + 2 * Math.exp(0.1)) < 1e-12);
  assert.ok(Math.abs(r.dLogprobs[0][0] + 2 * Math.exp(0.1)) < 1e-6);
  assert.equal(r.metrics.pg_clipfrac, 0);
  // ratio e^0.5 = 1.65 with A > 0: clipped to 1.2, no gradient
  r = one(0.5, 2);
  assert.ok(Math.abs(r.loss + 2 * 1.2) < 1e-12);
  assert.equal(r.dLogprobs[0][0], 0);
  assert.equal(r.metrics.pg_clipfrac, 1);
  // ratio e^2 = 7.39 with A = −1: max(7.39, 1.2) = 7.39; dual clip c = 3 bounds it at 3, no gradient
  r = one(2, -1);
  assert.ok(Math.abs(r.loss - Math.exp(2)) < 1e-12);
  r = one(2, -1, 3);
  assert.ok(Math.abs(r.loss - 3) < 1e-12);
  assert.equal(r.dLogprobs[0][0], 0);
  assert.equal(r.metrics.pg_clipfrac_lower, 1);
});

test('entropy without a bonus: measured (token mean over the mask), no gradient, no effect on the loss', () => {
  const input = {
    logprobs: [[-0.5, -1, -2]],
    oldLogprobs: [[-0.5, -1, -2]],
    advantages: [[1, 1, 1]],
    masks: [[1, 0, 1]],
  };
  const opts = {
    klCoef: 0,
    klEstimator: 'k1' as const,
    aggregation: 'token-mean' as const,
    clipEpsLow: 0.2,
    clipEpsHigh: 0.2,
  };
  const withEnt = policyLoss({ ...input, entropy: [[1.5, 9, 0.5]] }, { ...opts, entropyCoef: 0 });
  assert.ok(Math.abs(withEnt.metrics.entropy_loss - 1) < 1e-12); // (1.5 + 0.5) / 2; the masked 9 is ignored
  assert.deepEqual(Array.from(withEnt.dEntropy[0]), [0, 0, 0]);
  const without = policyLoss(input, { ...opts, entropyCoef: 0 });
  assert.equal(withEnt.loss, without.loss);
  const bonus = policyLoss({ ...input, entropy: [[1.5, 9, 0.5]] }, { ...opts, entropyCoef: 0.1 });
  assert.ok(Math.abs(bonus.loss - (without.loss - 0.1 * 1)) < 1e-12);
  assert.ok(Math.abs(bonus.dEntropy[0][0] + 0.05) < 1e-7); // float32
});

test('aggregation weights by hand', () => {
  const masks = [[1, 1, 0], [1]];
  const tm = aggregationWeights(masks, 'token-mean');
  assert.deepEqual(
    [...tm[0]].map((x) => +x.toFixed(6)),
    [0.333333, 0.333333, 0],
  );
  const smtm = aggregationWeights(masks, 'seq-mean-token-mean');
  assert.deepEqual([...smtm[0]], [0.25, 0.25, 0]);
  assert.deepEqual([...smtm[1]], [0.5]);
  const smts = aggregationWeights(masks, 'seq-mean-token-sum');
  assert.deepEqual([...smts[0]], [0.5, 0.5, 0]);
});

test('KL estimators by hand; low_var_kl is clamped to ±10 with zero gradient', () => {
  assert.deepEqual(klTerm(-1, -1.5, 'k1'), { kl: 0.5, dLogp: 1 });
  assert.deepEqual(klTerm(-1, -1.5, 'k2'), { kl: 0.125, dLogp: 0.5 });
  const k3 = klTerm(-1, -1.5, 'k3');
  assert.ok(Math.abs(k3.kl - (Math.exp(-0.5) + 0.5 - 1)) < 1e-12);
  assert.ok(Math.abs(k3.dLogp - (1 - Math.exp(-0.5))) < 1e-12);
  const big = klTerm(-20, -1, 'low_var_kl'); // exp(19) − 19 − 1 ≫ 10
  assert.deepEqual(big, { kl: 10, dLogp: 0 });
});

test('KL penalty in the reward (PPO, k1) only at policy tokens', () => {
  const { rewards, meanKl } = applyKlPenalty([[0, 0, 1]], [[-1, -2, -3]], [[-1.5, -1, -3]], [[1, 0, 1]], 0.1);
  assert.ok(Math.abs(rewards[0][0] - -0.05) < 1e-7);
  assert.equal(rewards[0][1], 0);
  assert.equal(rewards[0][2], 1);
  assert.ok(Math.abs(meanKl - 0.25) < 1e-12);
});

test('value loss gradient matches finite differences and clips by hand', () => {
  const r = rng(7);
  const masks = [
    [1, 0, 1, 1],
    [1, 1],
  ];
  const oldV = masks.map((m) => m.map(() => r() - 0.5));
  const v = oldV.map((s) => s.map((x) => x + (r() - 0.5) * 2));
  const ret = masks.map((m) => m.map(() => r() * 2 - 1));
  for (const aggregation of ['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum'] as const) {
    const res = valueLoss(v, oldV, ret, masks, { clip: 0.5, aggregation });
    const h = 1e-6;
    for (let i = 0; i < v.length; i++) {
      for (let t = 0; t < v[i].length; t++) {
        const p = v.map((s) => s.slice());
        const m = v.map((s) => s.slice());
        p[i][t] += h;
        m[i][t] -= h;
        const fd =
          (valueLoss(p, oldV, ret, masks, { clip: 0.5, aggregation }).loss -
            valueLoss(m, oldV, ret, masks, { clip: 0.5, aggregation }).loss) /
          (2 * h);
        assert.ok(Math.abs(fd - res.dValues[i][t]) < 1e-6, `dv[${i}][${t}] ${fd} vs ${res.dValues[i][t]}`);
      }
    }
  }
  // v = 2, old = 0, R = 0, clip 0.5: max((2)², (0.5)²) = 4 → 0.5·4 = 2, grad = 2
  const one = valueLoss([[2]], [[0]], [[0]], [[1]], { clip: 0.5, aggregation: 'token-mean' });
  assert.equal(one.loss, 2);
  assert.equal(one.dValues[0][0], 2);
  // v = 2, old = 0, R = 3: l1 = 1, clipped 0.5 → l2 = 6.25 wins, no gradient
  const two = valueLoss([[2]], [[0]], [[3]], [[1]], { clip: 0.5, aggregation: 'token-mean' });
  assert.equal(two.loss, 3.125);
  assert.equal(two.dValues[0][0], 0);
  assert.equal(two.metrics.vf_clipfrac, 1);
});
