// The Tinker loss functions (docs/tinker-api.md §5 "Loss functions") as pure functions of the learner's
// per-token log-probs p: elementwise loss and ∂loss/∂p. The server runs every loss through the
// engine's `custom` LossSpec with these gradients, which also hands it the log-probs the
// ForwardBackwardOutput must return. Sum over tokens, no normalisation (the client's job).
//
// Shapes: every array is [N] for one datum (N = input length = target length).

export type TinkerLossName = 'cross_entropy' | 'importance_sampling' | 'ppo' | 'cispo' | 'dro';
export const TINKER_LOSSES: readonly TinkerLossName[] = [
  'cross_entropy',
  'importance_sampling',
  'ppo',
  'cispo',
  'dro',
];

/** Config keys each loss accepts (SkyRL-like strictness: anything else is a clear 400). */
const CONFIG_KEYS: Record<TinkerLossName, readonly string[]> = {
  cross_entropy: [],
  importance_sampling: [],
  ppo: ['clip_low_threshold', 'clip_high_threshold'],
  cispo: ['clip_low_threshold', 'clip_high_threshold'],
  dro: ['beta'],
};
/** Our extension: a forward pass also returns per-token entropy when this key is 1. */
export const RETURN_ENTROPY_KEY = 'return_entropy';

export interface LossInputs {
  weights?: Float32Array;
  /** Sampler log-probs q. */
  logprobs?: Float32Array;
  advantages?: Float32Array;
}

export interface ResolvedLoss {
  name: TinkerLossName;
  clipLow: number;
  clipHigh: number;
  beta: number;
}

/** Validates loss_fn and loss_fn_config; throws a message naming the field. */
export function resolveLoss(
  lossFn: string,
  config: Record<string, number> | undefined,
  field: string,
): ResolvedLoss {
  if (!(TINKER_LOSSES as readonly string[]).includes(lossFn)) {
    throw new Error(
      `${field}.loss_fn: unsupported loss ${JSON.stringify(lossFn)} (supported: ${TINKER_LOSSES.join(', ')})`,
    );
  }
  const name = lossFn as TinkerLossName;
  const cfg = config ?? {};
  for (const k of Object.keys(cfg)) {
    if (k !== RETURN_ENTROPY_KEY && !CONFIG_KEYS[name].includes(k)) {
      throw new Error(
        `${field}.loss_fn_config.${k}: not a config key of ${name} (allowed: ${CONFIG_KEYS[name].join(', ') || 'none'})`,
      );
    }
  }
  if (name === 'dro' && cfg.beta === undefined) {
    throw new Error(`${field}.loss_fn_config.beta: required by the dro loss`);
  }
  const cispo = name === 'cispo';
  return {
    name,
    clipLow: cfg.clip_low_threshold ?? (cispo ? 0.0 : 0.8),
    clipHigh: cfg.clip_high_threshold ?? (cispo ? 4.0 : 1.2),
    beta: cfg.beta ?? 0,
  };
}

/** The per-datum inputs a loss needs, by name. */
export function requiredInputs(name: TinkerLossName): readonly (keyof LossInputs)[] {
  return name === 'cross_entropy' ? ['weights'] : ['logprobs', 'advantages'];
}

/**
 * Elementwise loss and its derivative w.r.t. p.
 * cross_entropy: −w·p. importance_sampling: −w·r·A, r = exp(p − q). ppo: −w·min(r·A, clip(r)·A).
 * cispo: −w·sg(clip(r))·p·A. dro: −w·(p·A − ½β(p − q)²). Missing weights = 1 (the RL losses'
 * weights are optional).
 */
export function elementwiseLoss(
  loss: ResolvedLoss,
  p: Float32Array,
  inputs: LossInputs,
): { loss: Float32Array; dLogp: Float32Array; clipped: number } {
  const N = p.length;
  const out = new Float32Array(N);
  const d = new Float32Array(N);
  const w = inputs.weights;
  let clipped = 0;
  for (let t = 0; t < N; t++) {
    const wt = w ? w[t]! : 1;
    if (loss.name === 'cross_entropy') {
      out[t] = -wt * p[t]!;
      d[t] = -wt;
      continue;
    }
    const A = inputs.advantages![t]!;
    const q = inputs.logprobs![t]!;
    if (wt === 0 || A === 0) {
      if (loss.name !== 'dro') continue; // contributes nothing (Tinker's masking rule)
    }
    const r = Math.exp(p[t]! - q);
    switch (loss.name) {
      case 'importance_sampling':
        out[t] = -wt * r * A;
        d[t] = -wt * r * A;
        break;
      case 'ppo': {
        const rc = Math.min(Math.max(r, loss.clipLow), loss.clipHigh);
        const unclipped = r * A;
        const clippedObj = rc * A;
        // min of the two objectives; the clipped branch is constant in p.
        if (unclipped <= clippedObj) {
          out[t] = -wt * unclipped;
          d[t] = -wt * unclipped;
        } else {
          out[t] = -wt * clippedObj;
          d[t] = 0;
          clipped++;
        }
        break;
      }
      case 'cispo': {
        const rc = Math.min(Math.max(r, loss.clipLow), loss.clipHigh);
        if (rc !== r) clipped++;
        out[t] = -wt * rc * p[t]! * A;
        d[t] = -wt * rc * A;
        break;
      }
      case 'dro': {
        const diff = p[t]! - q;
        out[t] = -wt * (p[t]! * A - 0.5 * loss.beta * diff * diff);
        d[t] = -wt * (A - loss.beta * diff);
        break;
      }
    }
  }
  return { loss: out, dLogp: d, clipped };
}
