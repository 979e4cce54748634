// The rollout seam: what the multi-turn search loop takes and returns. Produced by `rollout/`,
// consumed by `rl/` (training) and `eval/` (the Search-R1 method, trajectory viewers).
import type { Hit } from '../core/retriever.ts';

export interface RolloutConfig {
  /** Maximum number of generation turns (reference: 2 for NQ-only training, 4 for eval). */
  maxTurns: number;
  /** Passages per search (reference: 3). */
  topk: number;
  /** Token budget of one generation turn (reference: 500). */
  maxTurnTokens: number;
  /** Token budget of one information block; truncation keeps `</information>` (reference: 500). */
  maxObsTokens: number;
  /** Budget of prompt + response tokens (reference: 4096). */
  maxTotalTokens: number;
  temperature: number;
  topP: number;
  topK?: number;
  seed?: number;
}

export type TurnAction = 'search' | 'answer' | 'invalid';

export interface TurnRecord {
  /** The policy's text in this turn. */
  text: string;
  action: TurnAction;
  /** The search query (action = search). */
  query?: string;
  /** The retrieved hits (action = search). */
  hits?: Hit[];
  /** The answer (action = answer). */
  answer?: string;
}

export type TrajectoryFinish = 'answer' | 'max_turns' | 'length' | 'eos';

export interface Trajectory {
  /** Index of the prompt in the batch, and the sample index among its n samples. */
  promptIndex: number;
  sampleIndex: number;
  promptTokens: number[];
  /** Every token after the prompt, policy-generated and injected, in order. */
  responseTokens: number[];
  /** 1 where the policy generated the token, 0 where the environment injected it. */
  policyMask: Uint8Array;
  /** Sampling log-prob per response token (0 at injected tokens). */
  samplingLogprobs: Float32Array;
  /** Decoded response, policy text and injected text interleaved. */
  responseText: string;
  turns: TurnRecord[];
  numTurns: number;
  numValidActions: number;
  numSearches: number;
  finish: TrajectoryFinish;
  /** The answer of the answer action, if any. */
  answer: string | null;
}
