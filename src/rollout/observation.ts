// Encoding an information block within a token budget. Truncation keeps the closing
// `</information>` and the trailing "\n\n" (the reference could cut them off), so the policy
// always sees a well-formed block and the format reward can still parse it.
import type { Tokenizer } from '../core/tokenizer.ts';

const TAIL = '</information>\n\n';

export interface EncodedObservation {
  tokens: number[];
  /** The text the tokens stand for (the block, or its kept head + the closing tag). */
  text: string;
  truncated: boolean;
}

/**
 * Tokens of `block` (= `\n\n<information>…</information>\n\n`) in at most `budget` tokens.
 * Over budget: the head is cut at a token boundary and the tail re-attached. Returns null when
 * not even the tail and one head token fit.
 */
export function encodeObservation(tok: Tokenizer, block: string, budget: number): EncodedObservation | null {
  const full = tok.encode(block);
  if (full.length <= budget) return { tokens: full, text: block, truncated: false };
  if (!block.endsWith(TAIL))
    throw new Error('encodeObservation: the block does not end with </information>\\n\\n');
  const tail = tok.encode(TAIL);
  const room = budget - tail.length;
  if (room < 1) return null;
  const head = tok.encode(block.slice(0, block.length - TAIL.length)).slice(0, room);
  return { tokens: head.concat(tail), text: tok.decode(head) + TAIL, truncated: true };
}
