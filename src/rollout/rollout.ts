// The multi-turn rollout (the paper's Algorithm 1, docs/protocol.md) over a batch, driving an Env
// (src/core/env.ts; Search-R1's is src/rollout/search-env.ts).
//
// Each turn: every active trajectory's context goes to ONE sampler.sample call (the first turn
// samples n completions per prompt), every tool call of the turn goes to ONE env.call (Search-R1:
// one retriever.search), and the environment's reply (information block or invalid-action
// message) is appended as injected tokens (mask 0). Token-in/token-out: policy tokens are kept
// exactly as sampled; only injected text is encoded.
//
// Turn budget: `maxTurns` turns whose search is executed (the reference's max_turns), then one
// final turn whose search is NOT executed. Before the final turn the model is told nothing new
// (as the reference): it sees the last observation and generates once more; a search there ends
// the trajectory with finish 'max_turns' and nothing is appended after it.
import type { Completion, Sampler } from '../core/sampler.ts';
import type { Env, ToolResult } from '../core/env.ts';
import type { RolloutConfig, Trajectory, TrajectoryFinish, TurnRecord } from './types.ts';

/** Work counters of one rollout call, for timings and tokens/s. */
export interface RolloutStats {
  generationMs: number;
  retrievalMs: number;
  sampleCalls: number;
  searchCalls: number;
  generatedTokens: number;
  injectedTokens: number;
  truncatedObservations: number;
}

export function emptyRolloutStats(): RolloutStats {
  return {
    generationMs: 0,
    retrievalMs: 0,
    sampleCalls: 0,
    searchCalls: 0,
    generatedTokens: 0,
    injectedTokens: 0,
    truncatedObservations: 0,
  };
}

interface State {
  promptIndex: number;
  sampleIndex: number;
  promptTokens: number[];
  response: number[];
  mask: number[];
  logprobs: number[];
  text: string;
  turns: TurnRecord[];
  numValidActions: number;
  numSearches: number;
  finish: TrajectoryFinish | null;
  answer: string | null;
}

/** Mixes a turn index into the configured seed so every turn's sampling is reproducible. */
function turnSeed(seed: number | undefined, turn: number): number | undefined {
  if (seed === undefined) return undefined;
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(turn + 1, 0xc2b2ae35)) >>> 0;
}

export async function runRollouts(
  sampler: Sampler,
  env: Env,
  prompts: number[][],
  n: number,
  cfg: RolloutConfig,
  stats: RolloutStats = emptyRolloutStats(),
): Promise<Trajectory[]> {
  if (!Number.isInteger(n) || n < 1) throw new Error(`runRollouts: n must be a positive integer, got ${n}`);
  if (cfg.maxTurns < 1) throw new Error(`runRollouts: maxTurns must be ≥ 1, got ${cfg.maxTurns}`);
  const tok = sampler.tokenizer;
  const states: State[] = [];
  prompts.forEach((p, promptIndex) => {
    if (p.length === 0) throw new Error(`runRollouts: prompt ${promptIndex} is empty`);
    if (p.length >= cfg.maxTotalTokens) {
      throw new Error(
        `runRollouts: prompt ${promptIndex} has ${p.length} tokens, not below maxTotalTokens ${cfg.maxTotalTokens}`,
      );
    }
    for (let j = 0; j < n; j++) {
      states.push({
        promptIndex,
        sampleIndex: j,
        promptTokens: p,
        response: [],
        mask: [],
        logprobs: [],
        text: '',
        turns: [],
        numValidActions: 0,
        numSearches: 0,
        finish: null,
        answer: null,
      });
    }
  });

  const append = (s: State, tokens: number[], text: string, policy: boolean, logprobs?: number[]) => {
    for (let k = 0; k < tokens.length; k++) {
      s.response.push(tokens[k]);
      s.mask.push(policy ? 1 : 0);
      s.logprobs.push(policy ? logprobs![k] : 0);
    }
    s.text += text;
  };
  const remaining = (s: State) => cfg.maxTotalTokens - s.promptTokens.length - s.response.length;

  // Turns 0..maxTurns-1 execute searches; turn maxTurns is the final turn.
  for (let turn = 0; turn <= cfg.maxTurns; turn++) {
    const finalTurn = turn === cfg.maxTurns;
    const active = states.filter((s) => s.finish === null);
    if (active.length === 0) break;
    for (const s of active) if (remaining(s) <= 0) s.finish = 'length';
    const live = active.filter((s) => s.finish === null);
    if (live.length === 0) break;

    // ---- generation: one sample call for the whole turn ----
    const budget = live.map((s) => Math.min(cfg.maxTurnTokens, remaining(s)));
    const maxTokens = Math.max(...budget);
    const firstTurn = turn === 0;
    const contexts = firstTurn ? prompts : live.map((s) => s.promptTokens.concat(s.response));
    const t0 = performance.now();
    const out = await sampler.sample({
      prompts: contexts,
      maxTokens,
      stop: [...env.stop],
      temperature: cfg.temperature,
      topP: cfg.topP,
      topK: cfg.topK,
      n: firstTurn ? n : 1,
      seed: turnSeed(cfg.seed, turn),
    });
    stats.generationMs += performance.now() - t0;
    stats.sampleCalls++;
    const completions: Completion[] = firstTurn
      ? live.map((s) => out[s.promptIndex]?.[s.sampleIndex])
      : live.map((_, i) => out[i]?.[0]);
    completions.forEach((c, i) => {
      if (!c)
        throw new Error(`runRollouts: the sampler returned no completion for sequence ${i} of turn ${turn}`);
      if (c.tokens.length !== c.logprobs.length)
        throw new Error(
          `runRollouts: completion has ${c.tokens.length} tokens but ${c.logprobs.length} logprobs`,
        );
    });

    // ---- parse actions ----
    const searches: { s: State; record: TurnRecord }[] = [];
    live.forEach((s, i) => {
      let c = completions[i];
      let finish = c.finish;
      let text = c.text;
      // The call's maxTokens is the largest budget: cut sequences whose own budget is smaller.
      if (c.tokens.length > budget[i]) {
        const kept = c.tokens.slice(0, budget[i]);
        c = { ...c, tokens: kept, logprobs: c.logprobs.slice(0, budget[i]) };
        text = tok.decode(kept);
        finish = 'length';
      }
      append(s, c.tokens, text, true, c.logprobs);
      stats.generatedTokens += c.tokens.length;
      const action = env.parse(text);
      const record: TurnRecord = {
        text,
        action: action.type === 'answer' ? 'answer' : action.type === 'call' ? 'search' : 'invalid',
      };
      s.turns.push(record);
      if (action.type === 'answer') {
        record.answer = action.content;
        s.answer = action.content;
        s.numValidActions++;
        s.finish = 'answer';
      } else if (action.type === 'call') {
        record.query = action.content;
        if (action.valid) s.numValidActions++;
        if (finalTurn) s.finish = 'max_turns';
        else if (!action.valid) injectInvalid(s);
        else searches.push({ s, record });
      } else if (finish === 'eos') {
        s.finish = 'eos';
      } else if (finalTurn) {
        s.finish = 'max_turns';
      } else if (remaining(s) <= 0) {
        s.finish = 'length';
      } else {
        injectInvalid(s);
      }
    });

    // ---- tool calls (retrieval): one call for all of the turn's queries ----
    if (searches.length > 0) {
      const t1 = performance.now();
      const results: ToolResult[] = await env.call(
        searches.map((q) => q.record.query!),
        cfg.topk,
      );
      stats.retrievalMs += performance.now() - t1;
      stats.searchCalls++;
      if (results.length !== searches.length) {
        throw new Error(
          `runRollouts: the environment returned ${results.length} results for ${searches.length} calls`,
        );
      }
      searches.forEach(({ s, record }, k) => {
        if (results[k].hits) record.hits = results[k].hits;
        s.numSearches++;
        const budgetObs = Math.min(cfg.maxObsTokens, remaining(s));
        const obs = env.encodeReply(tok, results[k].reply, budgetObs);
        if (obs === null) {
          s.finish = 'length';
          return;
        }
        if (obs.truncated) stats.truncatedObservations++;
        append(s, obs.tokens, obs.text, false);
        stats.injectedTokens += obs.tokens.length;
      });
    }
  }

  function injectInvalid(s: State): void {
    const reply = env.encodeReply(tok, env.invalidReply, remaining(s));
    if (reply === null) {
      s.finish = 'length';
      return;
    }
    append(s, reply.tokens, reply.text, false);
    stats.injectedTokens += reply.tokens.length;
  }

  return states.map((s) => ({
    promptIndex: s.promptIndex,
    sampleIndex: s.sampleIndex,
    promptTokens: s.promptTokens,
    responseTokens: s.response,
    policyMask: Uint8Array.from(s.mask),
    samplingLogprobs: Float32Array.from(s.logprobs),
    responseText: s.text,
    turns: s.turns,
    numTurns: s.turns.length,
    numValidActions: s.numValidActions,
    numSearches: s.numSearches,
    // A loop that ran out of turns without a decision: the last turn was the final one.
    finish: s.finish ?? 'max_turns',
    answer: s.answer,
  }));
}
