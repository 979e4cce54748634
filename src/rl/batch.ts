// Turning trajectories into training data: the loss mask and the Trainer's Datum layout.
//
// Datum alignment (src/core/trainer.ts): full = prompt ++ response, inputTokens = full[:-1],
// targetTokens = full[1:]; position p predicts full[p+1], so response token j sits at position
// P − 1 + j (P = prompt length). Per-token arrays of the RL math are over response tokens only.
import type { Datum } from '../core/trainer.ts';
import type { Trajectory } from '../rollout/types.ts';

/** The loss mask over the response: the policy mask, or all ones for the state_masking=false ablation. */
export function lossMask(policyMask: Uint8Array, stateMasking: boolean): Float32Array {
  const m = new Float32Array(policyMask.length);
  for (let t = 0; t < m.length; t++) m[t] = stateMasking ? policyMask[t] : 1;
  return m;
}

/** A Datum whose weights are the loss mask at response positions (0 over the prompt). */
export function trajectoryDatum(
  traj: Pick<Trajectory, 'promptTokens' | 'responseTokens'>,
  mask: Float32Array,
): Datum {
  const full = traj.promptTokens.concat(traj.responseTokens);
  if (traj.promptTokens.length === 0) throw new Error('trajectoryDatum: empty prompt');
  const N = full.length - 1;
  const weights = new Float32Array(N);
  weights.set(mask, traj.promptTokens.length - 1);
  return { inputTokens: full.slice(0, N), targetTokens: full.slice(1), weights };
}

/** The response part [P−1, P−1+R) of a per-position array of length N. */
export function responseSlice(
  perPosition: Float32Array,
  promptLength: number,
  responseLength: number,
): Float32Array {
  return perPosition.subarray(promptLength - 1, promptLength - 1 + responseLength);
}

/** Writes a response-level array into a per-position array of length N (zeros over the prompt). */
export function toPositions(perResponse: ArrayLike<number>, promptLength: number, N: number): Float32Array {
  const out = new Float32Array(N);
  for (let j = 0; j < perResponse.length; j++) out[promptLength - 1 + j] = perResponse[j];
  return out;
}
