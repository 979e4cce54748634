// Stop strings: where generation stops. Every sampler (embedded engine, OpenAI-compatible servers,
// GGUF, our own OpenAI server) cuts completions the same way, so the rule lives here once.

export interface StopHit {
  /** Index of the stop string's first character in the text. */
  index: number;
  /** Index just after the stop string (where the completion is cut). */
  end: number;
  stop: string;
}

/**
 * The stop string whose occurrence in `text` ends earliest, i.e. where generation would have
 * stopped (ties: the first in `stops`). Empty stop strings are ignored.
 */
export function findStop(text: string, stops: readonly string[]): StopHit | null {
  let best: StopHit | null = null;
  for (const s of stops) {
    if (s.length === 0) continue;
    const i = text.indexOf(s);
    if (i >= 0 && (best === null || i + s.length < best.end)) best = { index: i, end: i + s.length, stop: s };
  }
  return best;
}

/** `text` cut right after the first stop string it contains (kept), or unchanged. */
export function cutAfterStop(text: string, stops: readonly string[]): { text: string; stop?: string } {
  const hit = findStop(text, stops);
  if (!hit) return { text };
  return { text: text.slice(0, hit.end), stop: hit.stop };
}
