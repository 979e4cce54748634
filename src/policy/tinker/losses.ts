// Our LossSpec (src/core/trainer.ts) → Tinker forward_backward inputs (docs/tinker-api.md §5, §9).
// Pure functions: no HTTP here.
//
// - cross_entropy → `cross_entropy` with target_tokens + weights (1 when the datum has none).
// - importance_sampling / ppo → the built-in losses with per-token advantages; the datum's weights
//   (loss mask × aggregation scale) are folded into the advantages, so masked tokens get advantage
//   0 and token-mean aggregation is "pre-scaling advantages". For ppo this needs weights ≥ 0
//   (min(r·A·w, clip(r)·A·w) = w·min(r·A, clip(r)·A) only for w ≥ 0).
// - custom → forward_backward_custom: `forward` (cross_entropy, weights 0) for log-probs, the loss
//   locally, then `forward_backward` cross_entropy with weights = −∂L/∂logprob.
import type { Datum, ForwardOutput, LossGradient, LossSpec } from '../../core/trainer.ts';
import type { FBInput, TensorData, WireDatum } from './wire.ts';
import { checkDatum } from '../../core/datum.ts';

export function intTensor(values: ArrayLike<number>): TensorData {
  return { data: Array.from(values), dtype: 'int64', shape: [values.length] };
}

export function floatTensor(values: ArrayLike<number>): TensorData {
  return { data: Array.from(values), dtype: 'float32', shape: [values.length] };
}

function wireDatum(d: Datum, inputs: Record<string, TensorData>): WireDatum {
  return {
    model_input: { chunks: [{ type: 'encoded_text', tokens: [...d.inputTokens] }] },
    loss_fn_inputs: { target_tokens: intTensor(d.targetTokens), ...inputs },
  };
}

/**
 * cross_entropy datums with the given per-datum weights (default: the datum's, else 1), and
 * optionally serve-trainer's `entropy_weights` extension input.
 */
export function crossEntropyInput(
  batch: Datum[],
  weights?: ArrayLike<number>[],
  entropyWeights?: ArrayLike<number>[] | null,
  valueWeights?: ArrayLike<number>[] | null,
): FBInput {
  return {
    loss_fn: 'cross_entropy',
    data: batch.map((d, i) => {
      const N = checkDatum(d, i);
      const w = weights ? weights[i]! : (d.weights ?? new Float32Array(N).fill(1));
      if (w.length !== N) throw new Error(`weights for batch[${i}] have length ${w.length}, expected ${N}`);
      const extra: Record<string, TensorData> = {};
      if (entropyWeights) extra.entropy_weights = floatTensor(entropyWeights[i]!);
      if (valueWeights) extra.value_weights = floatTensor(valueWeights[i]!);
      return wireDatum(d, { weights: floatTensor(w), ...extra });
    }),
  };
}

/** Datums of the built-in RL losses: advantages × weights, sampling log-probs (0 where masked). */
export function policyGradientInput(
  batch: Datum[],
  lossFn: 'importance_sampling' | 'ppo',
  config?: Record<string, number>,
): FBInput {
  const data = batch.map((d, i) => {
    const N = checkDatum(d, i);
    if (!d.advantages) throw new Error(`batch[${i}].advantages is required by the ${lossFn} loss`);
    if (!d.logprobs)
      throw new Error(`batch[${i}].logprobs (sampling log-probs) is required by the ${lossFn} loss`);
    const adv = new Float32Array(N);
    const q = new Float32Array(N);
    for (let t = 0; t < N; t++) {
      const w = d.weights ? d.weights[t]! : 1;
      if (lossFn === 'ppo' && w < 0) {
        throw new Error(
          `batch[${i}].weights[${t}] = ${w}: the ppo loss cannot fold negative weights into advantages`,
        );
      }
      adv[t] = w === 0 ? 0 : d.advantages[t]! * w;
      q[t] = w === 0 ? 0 : d.logprobs[t]!;
    }
    return wireDatum(d, { logprobs: floatTensor(q), advantages: floatTensor(adv) });
  });
  return config ? { loss_fn: lossFn, loss_fn_config: config, data } : { loss_fn: lossFn, data };
}

/**
 * Our ppo LossSpec's clipLow/clipHigh are the ratio thresholds themselves (e.g. 0.8 / 1.2), as in
 * Tinker and in the embedded engine (src/policy/embedded.ts clips r to [clipLow, clipHigh]).
 */
export function ppoConfig(spec: { clipLow: number; clipHigh: number }): Record<string, number> {
  if (!(spec.clipLow <= 1 && spec.clipHigh >= 1)) {
    throw new Error(
      `ppo loss: clipLow/clipHigh are ratio thresholds (e.g. 0.8 / 1.2), got ${spec.clipLow} / ${spec.clipHigh}`,
    );
  }
  return { clip_low_threshold: spec.clipLow, clip_high_threshold: spec.clipHigh };
}

/** The forward_backward input of a built-in LossSpec (not `custom`). */
export function builtinInput(batch: Datum[], loss: Exclude<LossSpec, { type: 'custom' }>): FBInput {
  switch (loss.type) {
    case 'cross_entropy':
      return crossEntropyInput(batch);
    case 'importance_sampling':
      return policyGradientInput(batch, 'importance_sampling');
    case 'ppo':
      return policyGradientInput(batch, 'ppo', ppoConfig(loss));
  }
}

function anyNonZero(arrays: Float32Array[] | undefined): boolean {
  return !!arrays && arrays.some((a) => a.some((x) => x !== 0));
}

/**
 * Second half of forward_backward_custom: evaluates the user's loss on the forward outputs and
 * returns the cross_entropy weights −∂L/∂logprob (and −∂L/∂entropy, −∂L/∂value when the server
 * implements our extensions). Refuses gradients the server cannot carry.
 */
export function customLossWeights(
  fn: (outputs: ForwardOutput[], batch: Datum[]) => LossGradient,
  outputs: ForwardOutput[],
  batch: Datum[],
  entropyExtension = false,
  valuesExtension = false,
): {
  grad: LossGradient;
  weights: Float32Array[];
  entropyWeights: Float32Array[] | null;
  valueWeights: Float32Array[] | null;
} {
  const grad = fn(outputs, batch);
  if (grad.dLogprobs.length !== batch.length) {
    throw new Error(`custom loss returned ${grad.dLogprobs.length} dLogprobs for a batch of ${batch.length}`);
  }
  if (!Number.isFinite(grad.loss)) throw new Error(`custom loss returned a non-finite loss (${grad.loss})`);
  const negate = (g: Float32Array, i: number, what: string): Float32Array => {
    if (g.length !== batch[i]!.inputTokens.length) {
      throw new Error(
        `custom loss ${what}[${i}] has length ${g.length}, expected ${batch[i]!.inputTokens.length}`,
      );
    }
    const w = new Float32Array(g.length);
    for (let t = 0; t < g.length; t++) w[t] = -g[t]!;
    return w;
  };
  let entropyWeights: Float32Array[] | null = null;
  if (anyNonZero(grad.dEntropy)) {
    if (!entropyExtension) {
      throw new Error(
        'custom loss has a gradient through the entropy (entropy coefficient ≠ 0); the Tinker API can only ' +
          'backpropagate through token log-probs (search-r1 serve-trainer is the exception). Set the entropy ' +
          'coefficient to 0 for backend "tinker".',
      );
    }
    entropyWeights = grad.dEntropy!.map((g, i) => negate(g, i, 'dEntropy'));
  }
  let valueWeights: Float32Array[] | null = null;
  if (anyNonZero(grad.dValues)) {
    if (!valuesExtension) {
      throw new Error(
        'custom loss has a gradient through value-head outputs, which needs a critic model on a server that ' +
          'trains one (search-r1 serve-trainer); the Tinker API itself has no value loss for it',
      );
    }
    valueWeights = grad.dValues!.map((g, i) => negate(g, i, 'dValues'));
  }
  const weights = grad.dLogprobs.map((g, i) => negate(g, i, 'dLogprobs'));
  return { grad, weights, entropyWeights, valueWeights };
}
