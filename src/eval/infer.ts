// `search-r1 infer "question"` as a library function: one question through one method (default
// the Search-R1 agent), and the transcript printed readably (tags coloured in a terminal).
import type { QaExample } from '../core/qa.ts';
import { METHODS } from './methods/index.ts';
import type { MethodContext, MethodName, MethodOutput, Segment } from './types.ts';

export interface InferResult extends MethodOutput {
  question: string;
  method: MethodName;
  elapsedMs: number;
}

export async function inferOne(
  question: string,
  method: MethodName,
  ctx: MethodContext,
): Promise<InferResult> {
  const m = METHODS[method];
  const ex: QaExample = { id: 'q', question, goldenAnswers: [], dataSource: 'infer' };
  const t0 = Date.now();
  const [out] = await m.run([ex], ctx);
  return { ...out, question, method, elapsedMs: Date.now() - t0 };
}

const ANSI: Record<string, string> = {
  think: '\x1b[33m', // yellow
  search: '\x1b[1;32m', // bold green
  information: '\x1b[36m', // cyan
  answer: '\x1b[1;31m', // bold red
  injected: '\x1b[2m', // dim
  reset: '\x1b[0m',
};
const TAG_RE = /(<\/?(?:think|search|information|answer)>|<\|(?:begin|end)_search_(?:query|result)\|>)/;
const TAG_KIND: Record<string, string> = {
  think: 'think',
  search: 'search',
  information: 'information',
  answer: 'answer',
  '|begin_search_query|': 'search',
  '|end_search_query|': 'search',
  '|begin_search_result|': 'information',
  '|end_search_result|': 'information',
};

/** Colours tag spans with ANSI codes; the tag state carries across segments. */
export function colourSegments(segments: readonly Segment[]): string {
  let open: string | null = null;
  let out = '';
  for (const seg of segments) {
    for (const part of seg.text.split(TAG_RE)) {
      if (part.length === 0) continue;
      const m = /^<(\/?)(think|search|information|answer|\|(?:begin|end)_search_(?:query|result)\|)>$/.exec(
        part,
      );
      if (m) {
        const kind = TAG_KIND[m[2]];
        const closing = m[1] === '/' || m[2].startsWith('|end');
        out += `${ANSI[kind]}${part}${ANSI.reset}`;
        open = closing ? null : kind;
      } else {
        const style = open ? ANSI[open] : seg.injected ? ANSI.injected : '';
        out += style ? `${style}${part}${ANSI.reset}` : part;
      }
    }
  }
  return out;
}

export function formatInferResult(r: InferResult, opts: { colour: boolean; showPrompt?: boolean }): string {
  const body = opts.colour ? colourSegments(r.segments) : r.segments.map((s) => s.text).join('');
  const bold = (s: string) => (opts.colour ? `\x1b[1m${s}\x1b[0m` : s);
  const lines = [
    `${bold('Question:')} ${r.question}  ${opts.colour ? '\x1b[2m' : ''}(method ${r.method})${opts.colour ? '\x1b[0m' : ''}`,
  ];
  if (opts.showPrompt) lines.push(`${bold('Prompt:')}\n${r.prompt}`);
  lines.push('', body.trimEnd(), '');
  lines.push(`${bold('Answer:')} ${r.prediction || '(none)'}`);
  lines.push(
    `searches: ${r.numSearches} · generations: ${r.numGenerations} · finish: ${r.finish} · ${(r.elapsedMs / 1000).toFixed(2)} s`,
  );
  return lines.join('\n');
}
