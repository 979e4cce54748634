// The retrieved-token mask, end to end from logits: perturbing the logits at injected positions
// changes neither the loss nor any gradient (w.r.t. any logit); with state_masking = false it does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { policyLoss, type PolicyLossOptions } from '../../src/rl/losses.ts';
import { lossMask } from '../../src/rl/batch.ts';

const V = 6;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Independent log-softmax head: logits [T][V] → logp of targets, entropy, and the backward. */
function head(logits: number[][], targets: number[]) {
  const probs = logits.map((z) => {
    const m = Math.max(...z);
    const e = z.map((x) => Math.exp(x - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  });
  const logp = probs.map((p, t) => Math.log(p[targets[t]]));
  const ent = probs.map((p) => -p.reduce((a, q) => a + q * Math.log(q), 0));
  const backward = (dLogp: ArrayLike<number>, dEnt: ArrayLike<number>) =>
    probs.map((p, t) => {
      const H = ent[t];
      return p.map(
        (pj, j) => dLogp[t] * ((j === targets[t] ? 1 : 0) - pj) + dEnt[t] * -pj * (Math.log(pj) + H),
      );
    });
  return { logp, ent, backward };
}

function run(
  logits: number[][][],
  targets: number[][],
  policyMask: Uint8Array[],
  stateMasking: boolean,
  old: number[][],
  ref: number[][],
  adv: number[][],
) {
  const opts: PolicyLossOptions = {
    clipEpsLow: 0.2,
    clipEpsHigh: 0.2,
    dualClipC: 3,
    klCoef: 0.1,
    klEstimator: 'low_var_kl',
    entropyCoef: 0.01,
    aggregation: 'token-mean',
  };
  const heads = logits.map((z, i) => head(z, targets[i]));
  const masks = policyMask.map((m) => lossMask(m, stateMasking));
  const res = policyLoss(
    {
      logprobs: heads.map((h) => h.logp),
      entropy: heads.map((h) => h.ent),
      oldLogprobs: old,
      refLogprobs: ref,
      advantages: adv,
      masks,
    },
    opts,
  );
  // `+ 0` folds −0 into 0 (0·negative is −0), so the comparison below is on values.
  const dLogits = heads.map((h, i) =>
    h.backward(res.dLogprobs[i], res.dEntropy[i]).map((row) => row.map((g) => g + 0)),
  );
  return { loss: res.loss, dLogits };
}

test('injected tokens contribute exactly zero to loss and gradients; state_masking=false changes that', () => {
  const r = rng(42);
  const T = [8, 5];
  const policyMask = [Uint8Array.from([1, 1, 0, 0, 0, 1, 1, 1]), Uint8Array.from([1, 0, 0, 1, 1])];
  const logits = T.map((n) =>
    Array.from({ length: n }, () => Array.from({ length: V }, () => (r() - 0.5) * 4)),
  );
  const targets = T.map((n) => Array.from({ length: n }, () => Math.floor(r() * V)));
  const old = T.map((n) => Array.from({ length: n }, () => -1 - r()));
  const ref = T.map((n) => Array.from({ length: n }, () => -1 - r()));
  const adv = T.map((n, i) => Array.from({ length: n }, () => (i === 0 ? 0.7 : -1.3)));

  const perturbed = logits.map((seq, i) =>
    seq.map((z, t) => (policyMask[i][t] === 0 ? z.map((x) => x + (r() - 0.5) * 10) : z.slice())),
  );

  const a = run(logits, targets, policyMask, true, old, ref, adv);
  const b = run(perturbed, targets, policyMask, true, old, ref, adv);
  assert.equal(a.loss, b.loss, 'loss must be bit-identical');
  assert.deepEqual(b.dLogits, a.dLogits, 'every logit gradient must be bit-identical');
  for (let i = 0; i < T.length; i++) {
    for (let t = 0; t < T[i]; t++) {
      if (policyMask[i][t] === 0)
        assert.ok(
          a.dLogits[i][t].every((g) => g === 0),
          `gradient at injected (${i},${t}) is zero`,
        );
      else
        assert.ok(
          a.dLogits[i][t].some((g) => g !== 0),
          `gradient at policy (${i},${t}) is non-zero`,
        );
    }
  }

  const c = run(logits, targets, policyMask, false, old, ref, adv);
  const d = run(perturbed, targets, policyMask, false, old, ref, adv);
  assert.notEqual(c.loss, d.loss, 'without state masking the injected logits change the loss');
  assert.ok(
    c.dLogits[0][2].some((g) => g !== 0),
    'without state masking injected tokens get gradients',
  );
});
