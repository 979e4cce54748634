// What the inference methods share: rendering a prompt for the model (its chat template when it
// has one, else plain text), one batched greedy generation, retrieval, answer extraction.
import type { Completion } from '../../core/sampler.ts';
import type { Tokenizer } from '../../core/tokenizer.ts';
import { normalizeQuestion } from '../../protocol/prompt.ts';
import { extractAnswer } from '../../protocol/rewards.ts';
import { pyStrip } from '../../protocol/text.ts';
import type { ChatMessage } from '../../core/tokenizer.ts';
import type { QaExample } from '../../core/qa.ts';
import type { Hit, Retriever } from '../../core/retriever.ts';
import type { MethodContext } from '../types.ts';

/**
 * The prompt text for a system + user instruction. Through the model's chat template when it has
 * one (instruct models); otherwise the plain text `system\n\nuser\n` followed by `rawCue` (a base
 * model needs a cue such as "Answer:" to know where its part begins).
 */
export function renderPrompt(tokenizer: Tokenizer, system: string | null, user: string, rawCue = ''): string {
  const messages: ChatMessage[] = [];
  if (system) messages.push({ role: 'system', content: system });
  messages.push({ role: 'user', content: user });
  const chat = tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true });
  if (chat !== null) return chat;
  return `${system ? `${system}\n\n` : ''}${user}\n${rawCue}`;
}

/**
 * One greedy generation per prompt text (a single batched Sampler call). The token budget is
 * clamped so prompt + generation fits `maxTotalTokens` (the model's context); a prompt that
 * already fills it gets an empty 'length' completion without a call.
 */
export async function generate(
  ctx: MethodContext,
  prompts: string[],
  maxTokens: number,
  stop: string[] = [],
): Promise<Completion[]> {
  if (prompts.length === 0) return [];
  const { sampler, opts } = ctx;
  const ids = prompts.map((p) => sampler.tokenizer.encode(p));
  const room = ids.map((p) => opts.maxTotalTokens - p.length);
  const live = ids.map((_, i) => i).filter((i) => room[i] > 0);
  const out: Completion[] = ids.map(() => ({
    tokens: [],
    logprobs: [],
    finish: 'length' as const,
    text: '',
  }));
  if (live.length === 0) return out;
  // Group by budget so a long prompt never shortens the others' (results independent of batching).
  const groups = new Map<number, number[]>();
  for (const i of live) {
    const b = Math.min(maxTokens, room[i]);
    groups.set(b, [...(groups.get(b) ?? []), i]);
  }
  for (const [budget, idx] of groups) {
    const res = await sampler.sample({
      prompts: idx.map((i) => ids[i]),
      maxTokens: budget,
      stop,
      temperature: opts.temperature,
      topP: opts.topP,
      n: 1,
      ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    });
    idx.forEach((i, k) => (out[i] = res[k][0]));
  }
  return out;
}

/** The retriever of a context, or a clear error for methods that need one. */
export function requireRetriever(ctx: MethodContext, method: string): Retriever {
  if (!ctx.retriever)
    throw new Error(`method ${method} needs a retriever (--retriever INDEX_DIR or --retriever-url URL)`);
  return ctx.retriever;
}

/** Batched retrieval, one ranked list per query. */
export async function retrieve(
  ctx: MethodContext,
  method: string,
  queries: string[],
  topk: number,
): Promise<Hit[][]> {
  if (queries.length === 0) return [];
  return requireRetriever(ctx, method).search(queries, topk);
}

/**
 * A short answer out of free text (Direct, RAG): an `<answer>` block when the model wrote one
 * (models trained on the Search-R1 format do), else the first non-empty line without an
 * "Answer:" prefix or a final period.
 */
export function shortAnswer(text: string): string {
  const tagged = extractAnswer(text);
  if (tagged !== null) return tagged;
  const line =
    text
      .split('\n')
      .map((l) => pyStrip(l))
      .find((l) => l.length > 0) ?? '';
  return pyStrip(line.replace(/^(the\s+)?answer\s*(is)?\s*[:：]\s*/i, '').replace(/\.$/, ''));
}

/**
 * The answer of a chain of thought: "So the answer is: X" (the CoT / IRCoT demonstrations'
 * format), else an `<answer>` block, else the last non-empty line.
 */
export function cotAnswer(text: string): string {
  const m = [...text.matchAll(/answer is\s*[:：]?\s*(.+?)(?:\.\s|\.$|\n|$)/gi)];
  if (m.length > 0) return pyStrip(m[m.length - 1][1]);
  const tagged = extractAnswer(text);
  if (tagged !== null) return tagged;
  const lines = text
    .split('\n')
    .map((l) => pyStrip(l))
    .filter((l) => l.length > 0);
  return lines.length > 0 ? lines[lines.length - 1].replace(/\.$/, '') : '';
}

/** The content of the last `\boxed{…}` (Search-o1's answer format), braces balanced. */
export function boxedAnswer(text: string): string | null {
  const at = text.lastIndexOf('\\boxed{');
  if (at < 0) return null;
  let depth = 1;
  let i = at + '\\boxed{'.length;
  const start = i;
  for (; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) break;
  }
  if (depth !== 0) return null;
  return pyStrip(text.slice(start, i).replace(/^\\text\{(.*)\}$/s, '$1'));
}

/** Passages in the IRCoT / FlashRAG reference style. */
export function wikipediaStyle(hits: readonly Hit[]): string {
  return hits.map((h) => `Wikipedia Title: ${h.title.replace(/^"(.*)"$/s, '$1')}\n${h.text}`).join('\n\n');
}

/**
 * Questions as every method shows them: one line, stripped, `?` appended when missing (the
 * Search-R1 normalisation, so all methods see the same question text).
 */
export function questionText(ex: QaExample): string {
  return normalizeQuestion(ex.question.replace(/\s*\n\s*/g, ' '));
}
