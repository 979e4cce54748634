// The environment seam: one task's side of a multi-turn rollout. The rollout loop (src/rollout/)
// samples a policy turn until one of `stop`, hands the turn's text to the Env, and injects what the
// Env answers as environment tokens (loss mask 0). Search-R1 is one Env (src/rollout/search-env.ts:
// <search> → retriever → <information>); another tool or another reward is one new Env, the loop
// and the trainer unchanged (as tinker-cookbook's RL environments). Ground floor: imports only seams.
import type { Hit } from './retriever.ts';
import type { Tokenizer } from './tokenizer.ts';

/** What the policy did in one turn, as the Env reads it. */
export type EnvAction =
  | { type: 'answer'; content: string }
  /** A tool call (Search-R1: a search query). `valid`: the Env can carry it out. */
  | { type: 'call'; content: string; valid: boolean }
  | { type: 'invalid' };

/** An environment reply ready to inject: its tokens within the budget, and the text they stand for. */
export interface EncodedReply {
  tokens: number[];
  text: string;
  /** Cut to fit the budget. */
  truncated: boolean;
}

/** The result of one tool call: the reply to inject, and what the tool returned (for viewers). */
export interface ToolResult {
  reply: string;
  hits?: Hit[];
}

export interface Env {
  /** Stop strings that end a policy turn (the closing tags of the actions). */
  readonly stop: readonly string[];
  /** Reads one policy turn. */
  parse(turnText: string): EnvAction;
  /** Carries out one turn's tool calls together (Search-R1: one batched retriever call). */
  call(contents: string[], topk: number): Promise<ToolResult[]>;
  /** The reply injected after a turn the Env could not read (or a call it cannot carry out). */
  readonly invalidReply: string;
  /** A reply's tokens in at most `budget` tokens (null: not even a well-formed stub fits). */
  encodeReply(tok: Tokenizer, reply: string, budget: number): EncodedReply | null;
  /** The outcome reward of a finished trajectory's response text against the gold answers. */
  reward(responseText: string, golds: readonly string[]): number;
}
