// RL losses (docs/rl.md) with their exact gradients. Every loss here is a weighted sum over tokens,
// loss = Σ_i Σ_t w[i][t] · ℓ(i, t), where the aggregation weights w carry both the loss mask
// (0 at injected and prompt tokens) and the normalisation (token-mean, seq-mean-…). So the
// gradient with respect to the log-prob at (i, t) is w[i][t] · ∂ℓ/∂logp, and a token with
// w = 0 contributes exactly nothing to the loss or any gradient: that is the retrieved-token mask.
//
// Shapes: every array is [B][T] over the RESPONSE tokens of B sequences (jagged T).
import type { Seq } from './advantages.ts';

export type Aggregation = 'token-mean' | 'seq-mean-token-mean' | 'seq-mean-token-sum';
export type KlEstimator = 'k1' | 'k2' | 'k3' | 'low_var_kl';

/** Weights w such that aggregate(x) = Σ w·x for the chosen aggregation over masked tokens. */
export function aggregationWeights(masks: readonly Seq[], mode: Aggregation): Float32Array[] {
  const B = masks.length;
  if (mode === 'token-mean') {
    let total = 0;
    for (const m of masks) for (let t = 0; t < m.length; t++) total += m[t];
    return masks.map((m) => {
      const w = new Float32Array(m.length);
      if (total > 0) for (let t = 0; t < m.length; t++) w[t] = m[t] / total;
      return w;
    });
  }
  return masks.map((m) => {
    const w = new Float32Array(m.length);
    let n = 0;
    for (let t = 0; t < m.length; t++) n += m[t];
    const scale = mode === 'seq-mean-token-mean' ? (n > 0 ? 1 / (n * B) : 0) : 1 / B;
    for (let t = 0; t < m.length; t++) w[t] = m[t] * scale;
    return w;
  });
}

/** Per-token KL estimate of π vs π_ref and its derivative w.r.t. logp (the reference is frozen). */
export function klTerm(logp: number, refLogp: number, estimator: KlEstimator): { kl: number; dLogp: number } {
  const d = logp - refLogp;
  switch (estimator) {
    case 'k1':
      return { kl: d, dLogp: 1 };
    case 'k2':
      return { kl: 0.5 * d * d, dLogp: d };
    case 'k3':
    case 'low_var_kl': {
      // exp(ref − logp) − (ref − logp) − 1, clamped to ±10 (the clamp zeroes the gradient).
      const x = -d;
      const ratio = Math.exp(x);
      const kl = ratio - x - 1;
      if (kl > 10) return { kl: 10, dLogp: 0 };
      if (kl < -10) return { kl: -10, dLogp: 0 };
      return { kl, dLogp: -ratio + 1 };
    }
  }
}

export interface PolicyLossOptions {
  /** Clip ε: the ratio is clipped to [1 − clipEpsLow, 1 + clipEpsHigh]. */
  clipEpsLow: number;
  clipEpsHigh: number;
  /** Dual-clip constant c > 1 (bounds the loss of negative-advantage tokens by −A·c); 0/undefined = off. */
  dualClipC?: number;
  /** KL-as-loss coefficient (GRPO); 0 = off. Needs refLogprobs. */
  klCoef: number;
  klEstimator: KlEstimator;
  /** Entropy bonus coefficient; 0 = off. Needs entropy. */
  entropyCoef: number;
  aggregation: Aggregation;
}

export interface PolicyLossInput {
  logprobs: readonly Seq[];
  oldLogprobs: readonly Seq[];
  advantages: readonly Seq[];
  /** Loss mask: 1 policy token, 0 injected (all-ones over the response when state_masking = false). */
  masks: readonly Seq[];
  refLogprobs?: readonly Seq[];
  entropy?: readonly Seq[];
}

export interface PolicyLossResult {
  loss: number;
  dLogprobs: Float32Array[];
  dEntropy: Float32Array[];
  /** The reference's names without the `actor/` prefix: pg_loss, pg_clipfrac, ppo_kl, entropy_loss, kl_loss. */
  metrics: {
    pg_loss: number;
    pg_clipfrac: number;
    ppo_kl: number;
    entropy_loss: number;
    kl_loss: number;
    pg_clipfrac_lower: number;
  };
}

/**
 * Clipped surrogate PPO/GRPO actor loss + KL loss − entropy bonus, aggregated by `aggregation`.
 * ℓ_pg = max(−A·r, −A·clip(r, 1−εl, 1+εh)) with r = exp(logp − old); with dual clip, for A < 0,
 * ℓ_pg = min(ℓ_pg, −A·c).
 */
export function policyLoss(input: PolicyLossInput, opts: PolicyLossOptions): PolicyLossResult {
  const { logprobs, oldLogprobs, advantages, masks } = input;
  const B = masks.length;
  for (const [name, arr] of [
    ['logprobs', logprobs],
    ['oldLogprobs', oldLogprobs],
    ['advantages', advantages],
  ] as const) {
    if (arr.length !== B) throw new Error(`policyLoss: ${name} has ${arr.length} sequences, masks ${B}`);
    for (let i = 0; i < B; i++) {
      if (arr[i].length !== masks[i].length)
        throw new Error(`policyLoss: ${name}[${i}] has length ${arr[i].length}, mask ${masks[i].length}`);
    }
  }
  if (opts.klCoef !== 0 && !input.refLogprobs) throw new Error('policyLoss: klCoef ≠ 0 needs refLogprobs');
  if (opts.entropyCoef !== 0 && !input.entropy) throw new Error('policyLoss: entropyCoef ≠ 0 needs entropy');
  const w = aggregationWeights(masks, opts.aggregation);
  const wMean = aggregationWeights(masks, 'token-mean'); // metrics are token means, as the reference's
  const dualC = opts.dualClipC ?? 0;
  let pgLoss = 0;
  let klLoss = 0;
  let entLoss = 0;
  let clipfrac = 0;
  let clipfracLower = 0;
  let ppoKl = 0;
  const dLogprobs: Float32Array[] = [];
  const dEntropy: Float32Array[] = [];
  for (let i = 0; i < B; i++) {
    const T = masks[i].length;
    const dl = new Float32Array(T);
    const de = new Float32Array(T);
    for (let t = 0; t < T; t++) {
      const wt = w[i][t];
      const wm = wMean[i][t];
      if (wt === 0 && wm === 0) continue;
      const A = advantages[i][t];
      const logRatio = logprobs[i][t] - oldLogprobs[i][t];
      const ratio = Math.exp(logRatio);
      const l1 = -A * ratio;
      const clipped = Math.min(Math.max(ratio, 1 - opts.clipEpsLow), 1 + opts.clipEpsHigh);
      const l2 = -A * clipped;
      let l = Math.max(l1, l2);
      // ∂l1/∂logp = −A·ratio; the clipped branch is constant in logp.
      let g = l1 >= l2 ? -A * ratio : 0;
      if (l2 > l1) clipfrac += wm;
      if (dualC > 1 && A < 0) {
        const l3 = -A * dualC;
        if (l3 < l) {
          l = l3;
          g = 0;
          clipfracLower += wm;
        }
      }
      pgLoss += wt * l;
      ppoKl += wm * -logRatio;
      let grad = wt * g;
      if (opts.klCoef !== 0) {
        const k = klTerm(logprobs[i][t], input.refLogprobs![i][t], opts.klEstimator);
        klLoss += wt * k.kl;
        grad += wt * opts.klCoef * k.dLogp;
      }
      // Measured whenever given (a metric even without the bonus); a gradient only with the bonus.
      if (input.entropy) entLoss += wt * input.entropy[i][t];
      if (opts.entropyCoef !== 0) de[t] = -wt * opts.entropyCoef;
      dl[t] = grad;
    }
    dLogprobs.push(dl);
    dEntropy.push(de);
  }
  const loss = pgLoss + opts.klCoef * klLoss - opts.entropyCoef * entLoss;
  return {
    loss,
    dLogprobs,
    dEntropy,
    metrics: {
      pg_loss: pgLoss,
      pg_clipfrac: clipfrac,
      ppo_kl: ppoKl,
      entropy_loss: entLoss,
      kl_loss: klLoss,
      pg_clipfrac_lower: clipfracLower,
    },
  };
}

export interface ValueLossOptions {
  /** Value clip range around the old values (reference 0.5). */
  clip: number;
  aggregation: Aggregation;
}

/**
 * Clipped value loss 0.5 · agg(max((v − R)², (clip(v, v_old ± c) − R)²)) and its gradient w.r.t. v.
 */
export function valueLoss(
  values: readonly Seq[],
  oldValues: readonly Seq[],
  returns: readonly Seq[],
  masks: readonly Seq[],
  opts: ValueLossOptions,
): { loss: number; dValues: Float32Array[]; metrics: { vf_loss: number; vf_clipfrac: number } } {
  const w = aggregationWeights(masks, opts.aggregation);
  const wMean = aggregationWeights(masks, 'token-mean');
  let loss = 0;
  let clipfrac = 0;
  const dValues = masks.map((m, i) => {
    const d = new Float32Array(m.length);
    for (let t = 0; t < m.length; t++) {
      if (w[i][t] === 0 && wMean[i][t] === 0) continue;
      const v = values[i][t];
      const vOld = oldValues[i][t];
      const R = returns[i][t];
      const vClipped = Math.min(Math.max(v, vOld - opts.clip), vOld + opts.clip);
      const l1 = (v - R) ** 2;
      const l2 = (vClipped - R) ** 2;
      loss += 0.5 * w[i][t] * Math.max(l1, l2);
      if (l2 > l1) clipfrac += wMean[i][t];
      // When l2 > l1, v was clipped (else l1 = l2) and the clipped branch is constant in v.
      d[t] = l1 >= l2 ? w[i][t] * (v - R) : 0;
    }
    return d;
  });
  return { loss, dValues, metrics: { vf_loss: loss, vf_clipfrac: clipfrac } };
}

/** Per-token k1 KL penalty folded into the rewards (PPO): r_t − β·(logp − ref) at masked tokens. */
export function applyKlPenalty(
  tokenRewards: readonly Seq[],
  logprobs: readonly Seq[],
  refLogprobs: readonly Seq[],
  masks: readonly Seq[],
  coef: number,
  estimator: KlEstimator = 'k1',
): { rewards: Float32Array[]; meanKl: number } {
  let klSum = 0;
  let n = 0;
  const rewards = tokenRewards.map((r, i) => {
    const out = Float32Array.from(r as ArrayLike<number>);
    for (let t = 0; t < r.length; t++) {
      if (masks[i][t] === 0) continue;
      const kl = klTerm(logprobs[i][t], refLogprobs[i][t], estimator).kl;
      out[t] -= coef * kl;
      klSum += kl;
      n++;
    }
    return out;
  });
  return { rewards, meanKl: n > 0 ? klSum / n : 0 };
}

/** 1 − Var(returns − values) / Var(returns) over masked tokens (the reference's vf_explained_var). */
export function explainedVariance(
  values: readonly Seq[],
  returns: readonly Seq[],
  masks: readonly Seq[],
): number {
  let n = 0;
  let sr = 0;
  let sd = 0;
  for (let i = 0; i < masks.length; i++) {
    for (let t = 0; t < masks[i].length; t++) {
      if (masks[i][t] === 0) continue;
      n++;
      sr += returns[i][t];
      sd += returns[i][t] - values[i][t];
    }
  }
  if (n < 2) return 0;
  const mr = sr / n;
  const md = sd / n;
  let vr = 0;
  let vd = 0;
  for (let i = 0; i < masks.length; i++) {
    for (let t = 0; t < masks[i].length; t++) {
      if (masks[i][t] === 0) continue;
      vr += (returns[i][t] - mr) ** 2;
      vd += (returns[i][t] - values[i][t] - md) ** 2;
    }
  }
  return vr > 0 ? 1 - vd / vr : 0;
}
