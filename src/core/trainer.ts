// The training seam (docs/architecture.md), modelled on the Tinker training API so the same RL
// loop runs in process on our engine and remotely on an existing engine.
//
// Alignment convention (as Tinker's): a Datum's `inputTokens` are full[:-1] and `targetTokens`
// are full[1:]; every per-token array has length N = inputTokens.length and position i refers to
// the prediction of targetTokens[i].
import type { Sampler } from './sampler.ts';

export interface Datum {
  inputTokens: number[];
  targetTokens: number[];
  /** Cross-entropy weights, or the loss mask for RL losses (1 policy token, 0 prompt/injected). */
  weights?: Float32Array;
  /** Per-token advantages (RL). */
  advantages?: Float32Array;
  /** Per-token old (sampling) log-probs `q` (RL). */
  logprobs?: Float32Array;
}

/** What a forward pass returns per datum (arrays of length N). */
export interface ForwardOutput {
  logprobs: Float32Array;
  /** Entropy of the predictive distribution at each position (when requested). */
  entropy?: Float32Array;
  /** Value-head outputs (critic models only). */
  values?: Float32Array;
}

/** Gradient of a client-side loss with respect to the forward outputs (same shapes). */
export interface LossGradient {
  loss: number;
  dLogprobs: Float32Array[];
  dEntropy?: Float32Array[];
  dValues?: Float32Array[];
  metrics?: Metrics;
}

/**
 * The loss a forwardBackward computes. Built-ins are the Tinker ones (summed over tokens, no
 * normalisation: scale advantages/weights on the client). `custom` is Tinker's
 * forward_backward_custom: the loss is any function of the forward outputs; a remote backend
 * implements it as forward + cross-entropy with weights = −∂L/∂logprob.
 */
export type LossSpec =
  | { type: 'cross_entropy' }
  | { type: 'importance_sampling' }
  | { type: 'ppo'; clipLow: number; clipHigh: number }
  | {
      type: 'custom';
      needsEntropy?: boolean;
      fn: (outputs: ForwardOutput[], batch: Datum[]) => LossGradient;
    };

export type Metrics = Record<string, number>;

export interface AdamWParams {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Clip gradients to this global L2 norm; 0 = off. */
  gradClipNorm: number;
}

export interface Trainer extends Sampler {
  /**
   * Whether forward outputs can carry per-token entropy (`entropy: true`, `needsEntropy`). Absent or
   * false: asking for it fails (the hosted Tinker API returns no entropy).
   */
  readonly providesEntropy?: boolean;
  /** Per-token log-probs (and entropy/values when asked) with no gradient. */
  forward(batch: Datum[], opts?: { entropy?: boolean }): Promise<ForwardOutput[]>;
  /** Accumulates gradients of the loss into the model's gradient buffers. */
  forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics>;
  /** Applies accumulated gradients (AdamW) and zeroes them. Returns e.g. grad_norm. */
  optimStep(opts: AdamWParams): Promise<Metrics>;
  /** Saves weights (HF folder) and optimizer state. */
  saveWeights(dir: string, opts?: { optimizer?: boolean }): Promise<void>;
  loadWeights(dir: string, opts?: { optimizer?: boolean }): Promise<void>;
}
