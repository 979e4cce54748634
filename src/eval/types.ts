// Types of the evaluation harness: inference methods over the Sampler / Retriever seams, and the
// records `search-r1 eval` appends to results.jsonl / trajectories.jsonl.
import type { Sampler } from '../core/sampler.ts';
import type { QaExample } from '../core/qa.ts';
import type { Retriever } from '../core/retriever.ts';

export const METHOD_NAMES = ['direct', 'cot', 'rag', 'ircot', 'search-o1', 'search-r1', 'r1'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

export interface MethodOptions {
  /** Passages per retrieval (paper: 3). */
  topk: number;
  /** Generation turns of the agent loops (Search-R1 eval: 4). */
  maxTurns: number;
  /** Token budget of one generation turn / a chain of thought (reference: 500). */
  maxTurnTokens: number;
  /** Token budget of a short answer (Direct, RAG). */
  maxAnswerTokens: number;
  /** Search-R1: budget of one information block, and of prompt + response. */
  maxObsTokens: number;
  maxTotalTokens: number;
  /** IRCoT: reasoning steps (one sentence and one retrieval each) and the cap on collected passages. */
  ircotMaxSteps: number;
  ircotMaxPassages: number;
  /** Search-o1: most searches per question. */
  searchO1MaxSearches: number;
  /** Sampling (greedy for evaluation: temperature 0). */
  temperature: number;
  topP: number;
  seed?: number;
}

export const DEFAULT_METHOD_OPTIONS: MethodOptions = {
  topk: 3,
  maxTurns: 4,
  maxTurnTokens: 500,
  maxAnswerTokens: 64,
  maxObsTokens: 500,
  maxTotalTokens: 4096,
  ircotMaxSteps: 5,
  ircotMaxPassages: 15,
  searchO1MaxSearches: 5,
  temperature: 0,
  topP: 1,
};

export interface MethodContext {
  sampler: Sampler;
  /** null for methods that do not retrieve (or for R1); a retrieving method without one fails. */
  retriever: Retriever | null;
  opts: MethodOptions;
}

/** One piece of a method's transcript; `injected` = written by the environment, not the model. */
export interface Segment {
  text: string;
  injected: boolean;
}

export interface MethodOutput {
  /** The extracted answer ('' when the model gave none). */
  prediction: string;
  /** The prompt of the (first) generation. */
  prompt: string;
  /** The transcript after the prompt: model text and injected retrieval results, in order. */
  segments: Segment[];
  /** Retrieval calls made for this question. */
  numSearches: number;
  /** Model generations made for this question. */
  numGenerations: number;
  /** Why the method stopped ('answer', 'max_turns', 'length', 'eos', ...). */
  finish: string;
}

export interface Method {
  name: MethodName;
  /** Whether the method needs a retriever. */
  retrieves: boolean;
  /** Answers a batch of questions (batched generation across questions where the loop allows). */
  run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]>;
}

/** One scored question, a line of results.jsonl. */
export interface ResultRecord {
  key: string;
  method: MethodName;
  dataset: string;
  id: string;
  question: string;
  golds: string[];
  prediction: string;
  em: number;
  subem: number;
  f1: number;
  numSearches: number;
  numGenerations: number;
  finish: string;
  /** The prompt did not fit the model's context (maxTotalTokens): no real answer was possible. */
  contextOverflow?: boolean;
}

/** A result with its transcript, a line of trajectories.jsonl. */
export interface TrajectoryRecord extends ResultRecord {
  prompt: string;
  segments: Segment[];
}
