// Search-o1 (Li et al., 2025): agentic retrieval inside a reasoning model's chain of thought.
// The model writes `<|begin_search_query|> q <|end_search_query|>` (generation stops there); the
// retrieved documents go through a separate "Reason-in-Documents" generation that distils what
// helps the query given the reasoning so far; its "**Final Information**" is inserted as
// `<|begin_search_result|> … <|end_search_result|>` and the reasoning continues. Repeated queries
// and searches past the limit get the paper's notices instead of results. The final answer is
// the last `\boxed{…}`. Prompt text: docs/eval-prompts.md.
import { pyStrip } from '../../protocol/text.ts';
import type { QaExample } from '../../core/qa.ts';
import type { Hit } from '../../core/retriever.ts';
import type { Method, MethodContext, MethodOutput, Segment } from '../types.ts';
import { boxedAnswer, cotAnswer, generate, questionText, renderPrompt, retrieve } from './common.ts';

export const BEGIN_QUERY = '<|begin_search_query|>';
export const END_QUERY = '<|end_search_query|>';
export const BEGIN_RESULT = '<|begin_search_result|>';
export const END_RESULT = '<|end_search_result|>';

export function searchO1Instruction(maxSearches: number): string {
  return (
    'You are a reasoning assistant that can search a knowledge source to answer questions accurately. ' +
    'You have a special tool:\n\n' +
    `- To search: write ${BEGIN_QUERY} your query here ${END_QUERY}.\n` +
    'The system will then search, read the relevant documents and give you the helpful information in the format ' +
    `${BEGIN_RESULT} ...search results... ${END_RESULT}.\n\n` +
    `You may search several times if needed. At most ${maxSearches} searches are allowed.\n\n` +
    'Once you have all the information you need, continue your reasoning.\n\n' +
    'Example:\n' +
    'Question: "In which country was the director of the film Ran born?"\n' +
    'Assistant thinking steps:\n' +
    '- I need to find out who directed the film Ran.\n' +
    '- Then I need to find out where that person was born.\n\n' +
    'Assistant:\n' +
    `${BEGIN_QUERY}director of the film Ran${END_QUERY}\n\n` +
    '(The system returns the helpful information from the documents)\n\n' +
    'Assistant continues reasoning with the new information...\n\n' +
    'Remember:\n' +
    `- Use ${BEGIN_QUERY} to request a search and end it with ${END_QUERY}.\n` +
    '- When you are done searching, continue your reasoning.\n\n'
  );
}

export function searchO1UserPrompt(question: string, maxSearches: number): string {
  return (
    searchO1Instruction(maxSearches) +
    'Please answer the following question. You should think step by step to solve it.\n\n' +
    'Provide your final answer in the format \\boxed{YOUR_ANSWER}.\n\n' +
    `Question:\n${question}\n\n`
  );
}

/** The paper keeps the first and the last four reasoning steps as context for document reading. */
export function previousReasoning(output: string): string {
  const steps = output
    .split('\n\n')
    .map((s) => pyStrip(s))
    .filter((s) => s.length > 0);
  const kept = steps.length <= 5 ? steps : [steps[0], '...', ...steps.slice(-4)];
  return kept.map((s, i) => (s === '...' ? s : `Step ${i + 1}: ${s}`)).join('\n\n');
}

export function reasonInDocumentsPrompt(prevReasoning: string, query: string, docs: readonly Hit[]): string {
  const pages = docs
    .map((d, i) => `**Document ${i + 1}:**\nTitle: ${d.title.replace(/^"(.*)"$/s, '$1')}\n${d.text}`)
    .join('\n\n');
  return (
    '**Task Instruction:**\n\n' +
    'You are given the **Previous Reasoning Steps**, the **Current Search Query** and the **Searched Documents**. ' +
    'Read the documents and extract the information that helps answer the current search query, so that the reasoning can continue.\n\n' +
    '**Guidelines:**\n\n' +
    '1. Read every document and keep only what is relevant to the current search query.\n' +
    '2. Check it against the previous reasoning steps.\n' +
    '3. Output format: start with "**Final Information**" followed by the helpful information; ' +
    'if the documents do not help, write "**Final Information**\n\nNo helpful information found."\n\n' +
    '**Inputs:**\n' +
    `- **Previous Reasoning Steps:**\n${prevReasoning}\n\n` +
    `- **Current Search Query:**\n${query}\n\n` +
    `- **Searched Documents:**\n${pages}\n\n` +
    'Now analyse each document and extract the helpful information for the current search query.'
  );
}

/** The distilled information of a Reason-in-Documents output. */
export function finalInformation(text: string): string {
  const at = text.lastIndexOf('**Final Information**');
  const info = at >= 0 ? text.slice(at + '**Final Information**'.length) : text;
  return pyStrip(info) || 'No helpful information found.';
}

const LIMIT_NOTICE = `\n\n${BEGIN_RESULT}\nThe maximum search limit is exceeded. You are not allowed to search.\n${END_RESULT}\n\n`;
const REPEAT_NOTICE = `\n\n${BEGIN_RESULT}\nYou have searched this query. Please refer to previous results.\n${END_RESULT}\n\n`;

interface State {
  prompt: string;
  output: string;
  segments: Segment[];
  queries: Set<string>;
  numSearches: number;
  numGenerations: number;
  done: boolean;
  finish: string;
}

export const searchO1: Method = {
  name: 'search-o1',
  retrieves: true,
  async run(examples: QaExample[], ctx: MethodContext): Promise<MethodOutput[]> {
    const { opts } = ctx;
    const maxS = opts.searchO1MaxSearches;
    const states: State[] = examples.map((ex) => ({
      prompt: renderPrompt(ctx.sampler.tokenizer, null, searchO1UserPrompt(questionText(ex), maxS)),
      output: '',
      segments: [],
      queries: new Set(),
      numSearches: 0,
      numGenerations: 0,
      done: false,
      finish: 'max_turns',
    }));
    // Each round: one reasoning generation per active question; +2 rounds let the model answer
    // after its last allowed search and after a limit notice.
    for (let round = 0; round < maxS + 2; round++) {
      const active = states.filter((s) => !s.done);
      if (active.length === 0) break;
      const outs = await generate(
        ctx,
        active.map((s) => s.prompt + s.output),
        opts.maxTurnTokens,
        [END_QUERY],
      );
      const toSearch: { st: State; query: string }[] = [];
      active.forEach((st, k) => {
        const c = outs[k];
        st.numGenerations++;
        st.output += c.text;
        st.segments.push({ text: c.text, injected: false });
        const at = c.text.lastIndexOf(BEGIN_QUERY);
        if (c.finish !== 'stop' || at < 0) {
          st.done = true;
          st.finish = c.finish === 'length' ? 'length' : 'answer';
          return;
        }
        const query = pyStrip(c.text.slice(at + BEGIN_QUERY.length, c.text.length - END_QUERY.length));
        let notice: string | null = null;
        if (st.numSearches >= maxS) notice = LIMIT_NOTICE;
        else if (st.queries.has(query) || query.length === 0) notice = REPEAT_NOTICE;
        if (notice) {
          st.output += notice;
          st.segments.push({ text: notice, injected: true });
        } else toSearch.push({ st, query });
      });
      if (toSearch.length === 0) continue;
      const hits = await retrieve(
        ctx,
        'search-o1',
        toSearch.map((x) => x.query),
        opts.topk,
      );
      const readPrompts = toSearch.map(({ st, query }, k) =>
        renderPrompt(
          ctx.sampler.tokenizer,
          null,
          reasonInDocumentsPrompt(previousReasoning(st.output), query, hits[k]),
        ),
      );
      const reads = await generate(ctx, readPrompts, opts.maxTurnTokens);
      toSearch.forEach(({ st, query }, k) => {
        st.queries.add(query);
        st.numSearches++;
        st.numGenerations++;
        const block = `\n\n${BEGIN_RESULT}\n${finalInformation(reads[k].text)}\n${END_RESULT}\n\n`;
        st.output += block;
        st.segments.push({ text: block, injected: true });
      });
    }
    return states.map((st) => ({
      prediction:
        boxedAnswer(st.output) ??
        cotAnswer(
          st.output.replace(
            new RegExp(`${escapeRe(BEGIN_RESULT)}[\\s\\S]*?${escapeRe(END_RESULT)}`, 'g'),
            '',
          ),
        ),
      prompt: st.prompt,
      segments: st.segments,
      numSearches: st.numSearches,
      numGenerations: st.numGenerations,
      finish: st.finish,
    }));
  },
};

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
