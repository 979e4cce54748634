// Search-R1 (Jin et al., 2025): the trained agent's own loop, i.e. the rollout used for RL
// (rollout/rollout.ts): reasoning in <think>, <search> → top-k passages in <information>, up to
// max_turns searches, the answer in <answer>. Greedy for evaluation. `r1` is the same loop with
// search disabled (the paper's R1 baseline: a <search> gets the invalid-action message).
import { searchR1UserPrompt } from '../../protocol/prompt.ts';
import type { QaExample } from '../../core/qa.ts';
import { runRollouts } from '../../rollout/rollout.ts';
import { searchR1Env } from '../../rollout/search-env.ts';
import type { RolloutConfig, Trajectory } from '../../rollout/types.ts';
import type { Method, MethodContext, MethodOutput, Segment } from '../types.ts';
import { requireRetriever } from './common.ts';

/** The Search-R1 prompt: the reference instruction as one user message (chat template if any). */
export function searchR1PromptText(ctx: MethodContext, ex: QaExample): string {
  const user = searchR1UserPrompt(ex.question);
  return (
    ctx.sampler.tokenizer.applyChatTemplate([{ role: 'user', content: user }], {
      addGenerationPrompt: true,
    }) ?? user
  );
}

/** Policy text and injected text as segments, split where the loss mask changes. */
export function trajectoryToSegments(t: Trajectory, decode: (ids: readonly number[]) => string): Segment[] {
  const segs: Segment[] = [];
  let start = 0;
  for (let i = 1; i <= t.responseTokens.length; i++) {
    if (i === t.responseTokens.length || t.policyMask[i] !== t.policyMask[start]) {
      segs.push({ text: decode(t.responseTokens.slice(start, i)), injected: t.policyMask[start] === 0 });
      start = i;
    }
  }
  return segs;
}

function makeMethod(name: 'search-r1' | 'r1', searchEnabled: boolean): Method {
  return {
    name,
    retrieves: searchEnabled,
    async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
      const { opts, sampler } = ctx;
      const retriever = searchEnabled ? requireRetriever(ctx, name) : null;
      const prompts = examples.map((ex) => searchR1PromptText(ctx, ex));
      const cfg: RolloutConfig = {
        maxTurns: opts.maxTurns,
        topk: opts.topk,
        maxTurnTokens: opts.maxTurnTokens,
        maxObsTokens: opts.maxObsTokens,
        maxTotalTokens: opts.maxTotalTokens,
        temperature: opts.temperature,
        topP: opts.topP,
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      };
      // A prompt that fills the context cannot be answered: scored as no answer instead of
      // failing the batch (the rollout refuses such prompts).
      const ids = prompts.map((p) => sampler.tokenizer.encode(p));
      const fits = ids.map((_, i) => i).filter((i) => ids[i].length < opts.maxTotalTokens);
      const trajs =
        fits.length > 0
          ? await runRollouts(
              sampler,
              searchR1Env({ retriever }),
              fits.map((i) => ids[i]),
              1,
              cfg,
            )
          : [];
      const byExample = new Map(trajs.map((t) => [fits[t.promptIndex], t]));
      return examples.map((_, i) => {
        const t = byExample.get(i);
        if (!t) {
          if (fits.includes(i))
            throw new Error(`${name}: the rollout returned no trajectory for prompt ${i}`);
          return {
            prediction: '',
            prompt: prompts[i],
            segments: [],
            numSearches: 0,
            numGenerations: 0,
            finish: 'prompt_too_long',
          };
        }
        return {
          prediction: t.answer ?? '',
          prompt: prompts[i],
          segments: trajectoryToSegments(t, (ids) => sampler.tokenizer.decode(ids)),
          numSearches: t.numSearches,
          numGenerations: t.numTurns,
          finish: t.finish,
        };
      });
    },
  };
}

export const searchR1 = makeMethod('search-r1', true);
export const r1 = makeMethod('r1', false);
