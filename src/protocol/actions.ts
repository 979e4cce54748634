// Parsing the policy's action out of one turn, and the text the environment injects back.
import { pyStrip } from './text.ts';

export type Action = { type: 'search' | 'answer'; content: string };

/** Generation stops at the first closing action tag, so no tokens are wasted after it. */
export const STOP_SEQUENCES: readonly string[] = ['</search>', '</answer>'];

/** Injected when a turn contains neither action; byte-exact as the reference. */
export const INVALID_ACTION_MESSAGE =
  '\nMy previous action is invalid. If I want to search, I should put the query between <search> and </search>. ' +
  'If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again.\n';

// Dotall, non-greedy, backreference to the same tag name: `<search>…</answer>` is not an action.
const ACTION_RE = /<(search|answer)>(.*?)<\/\1>/s;

/** The first `<search>…</search>` or `<answer>…</answer>` in a turn (content stripped), or null. */
export function parseAction(turnText: string): Action | null {
  const m = ACTION_RE.exec(turnText);
  if (!m) return null;
  return { type: m[1] as Action['type'], content: pyStrip(m[2]!) };
}

/** The observation appended after a search turn. */
export function informationBlock(passagesText: string): string {
  return `\n\n<information>${passagesText}</information>\n\n`;
}
