// The sampling seam (docs/architecture.md): rollouts and evaluation ask a Sampler for completions
// of token-id prompts; backends are the embedded engine, OpenAI-compatible servers, GGUF via
// node-llama-cpp and Tinker. Ground floor: imports only other seams.
import type { Tokenizer } from './tokenizer.ts';

export type FinishReason = 'stop' | 'length' | 'eos';

export interface SampleRequest {
  /** Prompt token ids, one array per prompt. */
  prompts: number[][];
  /** Per-sequence budget of new tokens. */
  maxTokens: number;
  /** Stop strings. A completion that hits one ends with the token that completes it. */
  stop: string[];
  temperature: number;
  topP: number;
  /** ≤ 0 or undefined: off. */
  topK?: number;
  /** Samples per prompt (default 1). */
  n?: number;
  seed?: number;
}

export interface Completion {
  /** Generated token ids (not including the prompt). */
  tokens: number[];
  /** Sampling log-prob of each generated token under the sampling distribution's model. */
  logprobs: number[];
  finish: FinishReason;
  /** Decoded text of `tokens`, cut exactly after the stop string when finish = 'stop' on a string. */
  text: string;
  /** The stop string that ended the completion, if any. */
  stopString?: string;
}

export interface Sampler {
  /** result[i][j]: the j-th of n completions of prompts[i]. */
  sample(req: SampleRequest): Promise<Completion[][]>;
  readonly tokenizer: Tokenizer;
}

