// Chain-of-thought: the model reasons step by step before a final "So the answer is: X."
// (Wei et al. 2022; the answer format of the IRCoT demonstrations). Prompt text: docs/eval-prompts.md.
import type { QaExample } from '../../core/qa.ts';
import type { Method, MethodContext, MethodOutput } from '../types.ts';
import { cotAnswer, generate, questionText, renderPrompt } from './common.ts';

export const COT_SYSTEM =
  'Answer the question by reasoning step by step. Write your reasoning first, then finish with one sentence of the form ' +
  '"So the answer is: <answer>." where <answer> is a short span such as an entity, a date or a number.';

export function cotPrompt(ctx: MethodContext, ex: QaExample): string {
  return renderPrompt(
    ctx.sampler.tokenizer,
    COT_SYSTEM,
    `Question: ${questionText(ex)}`,
    "Answer: Let's think step by step.",
  );
}

export const cot: Method = {
  name: 'cot',
  retrieves: false,
  async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
    const prompts = examples.map((ex) => cotPrompt(ctx, ex));
    const outs = await generate(ctx, prompts, ctx.opts.maxTurnTokens);
    return outs.map((c, i) => ({
      prediction: cotAnswer(c.text),
      prompt: prompts[i],
      segments: [{ text: c.text, injected: false }],
      numSearches: 0,
      numGenerations: 1,
      finish: c.finish,
    }));
  },
};
