// Direct inference: the question alone, the model answers from its parameters (FlashRAG's
// "naive generation", the Search-R1 paper's "Direct" row). Prompt text: docs/eval-prompts.md.
import type { QaExample } from '../../core/qa.ts';
import type { Method, MethodContext, MethodOutput } from '../types.ts';
import { generate, questionText, renderPrompt, shortAnswer } from './common.ts';

export const DIRECT_SYSTEM =
  'Answer the question based on your own knowledge. Only give me the answer and do not output any other words.';

export function directPrompt(ctx: MethodContext, ex: QaExample): string {
  return renderPrompt(ctx.sampler.tokenizer, DIRECT_SYSTEM, `Question: ${questionText(ex)}`, 'Answer:');
}

export const direct: Method = {
  name: 'direct',
  retrieves: false,
  async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
    const prompts = examples.map((ex) => directPrompt(ctx, ex));
    const outs = await generate(ctx, prompts, ctx.opts.maxAnswerTokens);
    return outs.map((c, i) => ({
      prediction: shortAnswer(c.text),
      prompt: prompts[i],
      segments: [{ text: c.text, injected: false }],
      numSearches: 0,
      numGenerations: 1,
      finish: c.finish,
    }));
  },
};
