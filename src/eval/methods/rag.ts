// RAG: retrieve top-k passages for the question once and put them in the prompt (FlashRAG's
// "standard RAG", the Search-R1 paper's "RAG" row with k = 3). Prompt text: docs/eval-prompts.md.
import { formatPassages } from '../../protocol/passages.ts';
import type { QaExample } from '../../core/qa.ts';
import type { Method, MethodContext, MethodOutput } from '../types.ts';
import { generate, questionText, renderPrompt, retrieve, shortAnswer } from './common.ts';

export function ragSystem(reference: string): string {
  return (
    'Answer the question based on the given document. Only give me the answer and do not output any other words.\n\n' +
    `The following are given documents.\n\n${reference}`
  );
}

export const rag: Method = {
  name: 'rag',
  retrieves: true,
  async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
    const questions = examples.map(questionText);
    const hits = await retrieve(ctx, 'rag', questions, ctx.opts.topk);
    const prompts = questions.map((q, i) =>
      renderPrompt(ctx.sampler.tokenizer, ragSystem(formatPassages(hits[i])), `Question: ${q}`, 'Answer:'),
    );
    const outs = await generate(ctx, prompts, ctx.opts.maxAnswerTokens);
    return outs.map((c, i) => ({
      prediction: shortAnswer(c.text),
      prompt: prompts[i],
      segments: [{ text: c.text, injected: false }],
      numSearches: 1,
      numGenerations: 1,
      finish: c.finish,
    }));
  },
};
