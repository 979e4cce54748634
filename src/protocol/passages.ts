// Passage text as the policy sees it inside <information>…</information>.
import type { Passage } from '../core/retriever.ts';

/**
 * Split a wiki-18 `contents` field (`"Title"\nText`) at the first newline. The title keeps its
 * quotes, as the reference does (`content.split("\n")[0]`); text is everything after (the
 * reference keeps only the rest joined by "\n", which is the same string).
 * Without a newline the whole string is the title and the text is empty (reference behaviour).
 */
export function splitContents(contents: string): { title: string; text: string } {
  const nl = contents.indexOf('\n');
  if (nl < 0) return { title: contents, text: '' };
  return { title: contents.slice(0, nl), text: contents.slice(nl + 1) };
}

/** Inverse of splitContents for a passage whose title is already quoted or not. */
export function joinContents(title: string, text: string): string {
  return `${title}\n${text}`;
}

/** `Doc {i}(Title: {title}) {text}` one per line, i from 1; each line ends with "\n" (reference). */
export function formatPassages(passages: readonly Pick<Passage, 'title' | 'text'>[]): string {
  let out = '';
  passages.forEach((p, i) => {
    out += `Doc ${i + 1}(Title: ${p.title}) ${p.text}\n`;
  });
  return out;
}
