// The Search-R1 environment (docs/protocol.md): `<search> q </search>` → the retriever's top-k as
// `<information>` (truncated within the budget, closing tag kept), `<answer>` ends the episode,
// anything else gets the reference's invalid-action message; the reward is the protocol's outcome
// score. With no retriever (the R1 baseline) a search is an invalid action.
import type { Env, EnvAction, EncodedReply, ToolResult } from '../core/env.ts';
import type { Retriever } from '../core/retriever.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import { INVALID_ACTION_MESSAGE, informationBlock, parseAction, STOP_SEQUENCES } from '../protocol/actions.ts';
import { formatPassages } from '../protocol/passages.ts';
import { computeScore, type ScoreOptions } from '../protocol/rewards.ts';
import { encodeObservation } from './observation.ts';

export interface SearchEnvOptions {
  /** null: search disabled (R1); a <search> is then answered with the invalid-action message. */
  retriever: Retriever | null;
  /** How the outcome is scored (default: exact match, no format score). */
  score?: ScoreOptions;
}

export function searchR1Env(opts: SearchEnvOptions): Env {
  const { retriever } = opts;
  return {
    stop: STOP_SEQUENCES,
    invalidReply: INVALID_ACTION_MESSAGE,
    parse(turnText: string): EnvAction {
      const a = parseAction(turnText);
      if (!a) return { type: 'invalid' };
      if (a.type === 'answer') return { type: 'answer', content: a.content };
      return { type: 'call', content: a.content, valid: retriever !== null };
    },
    async call(queries: string[], topk: number): Promise<ToolResult[]> {
      if (!retriever) throw new Error('searchR1Env: no retriever (search is disabled)');
      const results = await retriever.search(queries, topk);
      if (results.length !== queries.length)
        throw new Error(`runRollouts: the retriever returned ${results.length} result lists for ${queries.length} queries`);
      return results.map((hits) => ({ reply: informationBlock(formatPassages(hits)), hits }));
    },
    encodeReply(tok: Tokenizer, reply: string, budget: number): EncodedReply | null {
      // Information blocks keep their closing tag when cut; the invalid-action message is all or nothing.
      if (reply === INVALID_ACTION_MESSAGE) {
        const tokens = tok.encode(reply);
        return tokens.length <= budget ? { tokens, text: reply, truncated: false } : null;
      }
      return encodeObservation(tok, reply, budget);
    },
    reward: (responseText, golds) => computeScore(responseText, golds, opts.score),
  };
}
