// IRCoT (Trivedi et al., 2023): interleave retrieval with chain-of-thought. Retrieve k passages
// for the question; then repeat: the reader writes the NEXT CoT sentence given all passages
// collected so far, the question and the CoT so far; stop when the sentence says "answer is";
// otherwise the sentence is the next retrieval query and its passages join the collection
// (deduplicated, capped). The answer is read from the final CoT. Zero-shot here (the paper uses
// few-shot demonstrations of the same format). Prompt text: docs/eval-prompts.md.
import { pyStrip } from '../../protocol/text.ts';
import type { QaExample } from '../../core/qa.ts';
import type { Hit } from '../../core/retriever.ts';
import type { Method, MethodContext, MethodOutput, Segment } from '../types.ts';
import {
  cotAnswer,
  generate,
  questionText,
  renderPrompt,
  retrieve,
  shortAnswer,
  wikipediaStyle,
} from './common.ts';

/** Appended to an unfinished chain for the final reader call. */
export const FORCED_ANSWER_CUE = 'So the answer is:';

export const IRCOT_INSTRUCTION =
  'Answer the question by reasoning step by step with the help of the passages above, one sentence at a time. ' +
  'When you know the answer, end with "So the answer is: <answer>." where <answer> is a short span.';

export function ircotPrompt(
  ctx: MethodContext,
  question: string,
  passages: readonly Hit[],
  cotSoFar: string,
): string {
  const user = `${wikipediaStyle(passages)}\n\n${IRCOT_INSTRUCTION}\n\nQ: ${question}`;
  const head = renderPrompt(ctx.sampler.tokenizer, null, user, 'A:');
  return cotSoFar.length > 0 ? `${head}${head.endsWith('A:') ? ' ' : ''}${cotSoFar}` : head;
}

/** The first sentence of a generation (IRCoT keeps one reasoning sentence per step). */
export function firstSentence(text: string): string {
  const t = pyStrip(text);
  const m = /^(.+?[.!?])(?=\s|$)/s.exec(t);
  const s = m ? m[1] : (t.split('\n')[0] ?? '');
  return pyStrip(s.split('\n')[0] ?? '');
}

interface State {
  question: string;
  passages: Hit[];
  cot: string[];
  segments: Segment[];
  numSearches: number;
  done: boolean;
  finish: string;
  lastPrompt: string;
}

function addPassages(st: State, hits: readonly Hit[], cap: number): Hit[] {
  const seen = new Set(st.passages.map((p) => p.id));
  const fresh = hits.filter((h) => !seen.has(h.id));
  st.passages.push(...fresh.slice(0, Math.max(0, cap - st.passages.length)));
  return fresh;
}

export const ircot: Method = {
  name: 'ircot',
  retrieves: true,
  async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
    const { opts } = ctx;
    const states: State[] = examples.map((ex) => ({
      question: questionText(ex),
      passages: [],
      cot: [],
      segments: [],
      numSearches: 1,
      done: false,
      finish: 'max_steps',
      lastPrompt: '',
    }));
    const first = await retrieve(
      ctx,
      'ircot',
      states.map((s) => s.question),
      opts.topk,
    );
    states.forEach((st, i) => {
      addPassages(st, first[i], opts.ircotMaxPassages);
      st.segments.push({
        text: `[retrieved for the question] ${first[i].map((h) => h.title).join(' | ')}\n`,
        injected: true,
      });
    });
    const prompts0 = states.map((st) => ircotPrompt(ctx, st.question, st.passages, ''));
    for (let step = 0; step < opts.ircotMaxSteps; step++) {
      const active = states.filter((s) => !s.done);
      if (active.length === 0) break;
      const prompts = active.map((st) => ircotPrompt(ctx, st.question, st.passages, st.cot.join(' ')));
      const outs = await generate(ctx, prompts, Math.min(opts.maxTurnTokens, 128));
      const queries: { st: State; q: string }[] = [];
      active.forEach((st, k) => {
        st.lastPrompt = prompts[k];
        const sentence = firstSentence(outs[k].text);
        if (sentence.length === 0) {
          st.done = true;
          st.finish = outs[k].finish === 'length' ? 'length' : 'empty';
          return;
        }
        st.cot.push(sentence);
        st.segments.push({ text: `${sentence}\n`, injected: false });
        if (/answer is/i.test(sentence)) {
          st.done = true;
          st.finish = 'answer';
        } else if (step + 1 < opts.ircotMaxSteps) queries.push({ st, q: sentence });
      });
      const hits = await retrieve(
        ctx,
        'ircot',
        queries.map((x) => x.q),
        opts.topk,
      );
      queries.forEach(({ st }, k) => {
        st.numSearches++;
        const fresh = addPassages(st, hits[k], opts.ircotMaxPassages);
        st.segments.push({
          text: `[retrieved] ${fresh.map((h) => h.title).join(' | ') || '(nothing new)'}\n`,
          injected: true,
        });
      });
    }
    // A chain that ended without "answer is" (step budget, an empty step) gets one reader call:
    // the CoT so far + "So the answer is:" over all collected passages, as IRCoT's reader does.
    const unanswered = states.filter((st) => st.finish !== 'answer');
    const forced = await generate(
      ctx,
      unanswered.map((st) =>
        ircotPrompt(ctx, st.question, st.passages, [...st.cot, FORCED_ANSWER_CUE].join(' ')),
      ),
      opts.maxAnswerTokens,
    );
    const forcedOf = new Map(unanswered.map((st, k) => [st, forced[k]]));
    return states.map((st, i) => {
      const f = forcedOf.get(st);
      if (f) st.segments.push({ text: `${FORCED_ANSWER_CUE}${f.text}`, injected: false });
      const steps = st.cot.length + (st.finish === 'empty' || st.finish === 'length' ? 1 : 0);
      return {
        prediction: f ? shortAnswer(f.text) : cotAnswer(st.cot.join('\n')),
        prompt: prompts0[i],
        segments: st.segments,
        numSearches: st.numSearches,
        numGenerations: steps + (f ? 1 : 0),
        finish: st.finish,
      };
    });
  },
};
