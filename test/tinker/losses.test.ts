// Server-side Tinker losses (src/policy/tinker-server/losses.ts): values against the document's
// formulas written out independently, gradients against central finite differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  elementwiseLoss,
  resolveLoss,
  type LossInputs,
  type TinkerLossName,
} from '../../src/policy/tinker-server/losses.ts';
import { rng } from './bigram.ts';

const N = 64;

function inputs(seed: number): { p: Float64Array; inp: LossInputs } {
  const r = rng(seed);
  const p = Float64Array.from({ length: N }, () => -0.05 - 3 * r());
  const q = Float32Array.from(p, (x) => x + (r() - 0.5) * 0.9); // ratios spread across the clip range
  const adv = Float32Array.from({ length: N }, (_, t) => (t % 7 === 0 ? 0 : (r() - 0.5) * 4));
  const w = Float32Array.from({ length: N }, (_, t) => (t % 5 === 0 ? 0 : r() * 2));
  return { p, inp: { logprobs: q, advantages: adv, weights: w } };
}

/** The document's elementwise formulas, written out directly (§5 "Loss functions"). */
function reference(
  name: TinkerLossName,
  p: number,
  q: number,
  A: number,
  w: number,
  lo: number,
  hi: number,
  beta: number,
): number {
  const r = Math.exp(p - q);
  const clip = (x: number) => Math.min(Math.max(x, lo), hi);
  switch (name) {
    case 'cross_entropy':
      return -w * p;
    case 'importance_sampling':
      return -w * r * A;
    case 'ppo':
      return -w * Math.min(r * A, clip(r) * A);
    case 'cispo':
      return -w * clip(r) * p * A;
    case 'dro':
      return -w * (p * A - 0.5 * beta * (p - q) ** 2);
  }
}

for (const name of ['cross_entropy', 'importance_sampling', 'ppo', 'cispo', 'dro'] as const) {
  test(`${name}: loss matches the formula; gradient matches finite differences`, () => {
    const cfg: Record<string, number> | undefined =
      name === 'dro'
        ? { beta: 0.3 }
        : name === 'ppo' || name === 'cispo'
          ? { clip_low_threshold: 0.85, clip_high_threshold: 1.15 }
          : undefined;
    const loss = resolveLoss(name, cfg, 'forward_backward_input');
    const { p, inp } = inputs(name.length);
    const pf = Float32Array.from(p);
    const out = elementwiseLoss(loss, pf, inp);
    const h = 1e-3;
    let clippedSeen = 0;
    for (let t = 0; t < N; t++) {
      const w = inp.weights![t]!;
      const A = inp.advantages![t]!;
      const q = inp.logprobs![t]!;
      const ref = reference(name, pf[t]!, q, A, w, loss.clipLow, loss.clipHigh, loss.beta);
      assert.ok(
        Math.abs(out.loss[t]! - ref) < 1e-5 * (1 + Math.abs(ref)),
        `${name} loss[${t}] ${out.loss[t]} vs ${ref}`,
      );
      // cispo's clip factor is a stop-gradient: its derivative is clip(r)·A, not d/dp of the value.
      const f = (x: number) =>
        name === 'cispo'
          ? -w * Math.min(Math.max(Math.exp(pf[t]! - q), loss.clipLow), loss.clipHigh) * x * A
          : reference(name, x, q, A, w, loss.clipLow, loss.clipHigh, loss.beta);
      const r = Math.exp(pf[t]! - q);
      // Skip the kinks of the clip, where the derivative is one-sided.
      if (
        (name === 'ppo' || name === 'cispo') &&
        (Math.abs(r - loss.clipLow) < 0.01 || Math.abs(r - loss.clipHigh) < 0.01)
      )
        continue;
      if (name === 'ppo' && out.dLogp[t] === 0 && A !== 0 && w !== 0) clippedSeen++;
      const fd = (f(pf[t]! + h) - f(pf[t]! - h)) / (2 * h);
      assert.ok(
        Math.abs(out.dLogp[t]! - fd) < 1e-3 * (1 + Math.abs(fd)),
        `${name} dLogp[${t}] ${out.dLogp[t]} vs finite difference ${fd}`,
      );
    }
    if (name === 'ppo')
      assert.ok(clippedSeen > 0 && out.clipped > 0, 'the data exercises the clipped branch');
  });
}

test('loss config: defaults and refusals', () => {
  assert.deepEqual(resolveLoss('ppo', undefined, 'f'), { name: 'ppo', clipLow: 0.8, clipHigh: 1.2, beta: 0 });
  assert.equal(resolveLoss('cispo', undefined, 'f').clipHigh, 4.0);
  assert.throws(() => resolveLoss('dro', {}, 'f'), /loss_fn_config\.beta: required/);
  assert.throws(
    () => resolveLoss('importance_sampling', { clip_low_threshold: 0.8 }, 'f'),
    /not a config key/,
  );
  assert.throws(() => resolveLoss('gspo', undefined, 'f'), /unsupported loss/);
});
