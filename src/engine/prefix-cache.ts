// Reuse of key/value caches across `sample` calls. A multi-turn rollout calls sample again with
// (previous prompt + completion + injected text) as the new prompt; re-running the model over
// that shared prefix is most of a turn's compute. After each call the K/V rows of every sequence
// are kept (on the JS heap, bounded), and the next call starts each prompt from the longest
// cached prefix. Cached rows are only valid for the weights they were computed with, so the
// store is tied to a weights version (see Model.weightsVersion) and empties itself on a change.
import type { KvCache } from './infer.ts';

interface Entry {
  /** Tokens whose K/V rows are stored, in order (positions 0..tokens.length-1). */
  tokens: number[];
  /** Per layer: [tokens.length, KD] keys and values. */
  k: Float32Array[];
  v: Float32Array[];
}

export class PrefixCache {
  private entries: Entry[] = [];
  private next: Entry[] = [];
  private nextFloats = 0;
  private version = -1;
  /** Statistics: prompt tokens served from the cache / prefilled, since creation. */
  reusedTokens = 0;
  prefilledTokens = 0;

  constructor(
    /** Upper bound on stored floats (keys + values, all layers). */
    private readonly maxFloats = 256 * 1024 * 1024,
    /** Shorter shared prefixes are not worth a lookup. */
    private readonly minPrefix = 8,
  ) {}

  clear(): void {
    this.entries = [];
    this.next = [];
    this.nextFloats = 0;
  }

  /** Starts a sample call under the given weights version (a different version drops everything). */
  begin(version: number): void {
    if (version !== this.version) this.clear();
    this.version = version;
    this.next = [];
    this.nextFloats = 0;
  }

  /**
   * Loads the longest cached prefix of `prompt` (at most prompt.length − 1 tokens: the last one
   * must run to produce logits) into `slot`; returns its length (0 = nothing reused).
   */
  restore(prompt: readonly number[], cache: KvCache, slot: number, KD: number): number {
    let best: Entry | null = null;
    let bestLen = 0;
    const limit = prompt.length - 1;
    for (const e of this.entries) {
      const m = Math.min(limit, e.tokens.length);
      if (m <= bestLen) continue;
      let i = 0;
      while (i < m && e.tokens[i] === prompt[i]) i++;
      if (i > bestLen) {
        bestLen = i;
        best = e;
      }
    }
    if (!best || bestLen < this.minPrefix || bestLen > cache.caps[slot]) {
      this.prefilledTokens += prompt.length;
      return 0;
    }
    for (let l = 0; l < best.k.length; l++) {
      cache.k[slot][l].data.set(best.k[l].subarray(0, bestLen * KD));
      cache.v[slot][l].data.set(best.v[l].subarray(0, bestLen * KD));
    }
    cache.len[slot] = bestLen;
    this.reusedTokens += bestLen;
    this.prefilledTokens += prompt.length - bestLen;
    return bestLen;
  }

  /** Keeps the K/V rows of a finished sequence (`tokens` = what was fed through the model). */
  keep(tokens: readonly number[], cache: KvCache, slot: number, KD: number): void {
    const n = Math.min(tokens.length, cache.len[slot]);
    const floats = 2 * n * KD * cache.k[slot].length;
    if (n < this.minPrefix || this.nextFloats + floats > this.maxFloats) return;
    this.next.push({
      tokens: tokens.slice(0, n),
      k: cache.k[slot].map((b) => b.data.slice(0, n * KD)),
      v: cache.v[slot].map((b) => b.data.slice(0, n * KD)),
    });
    this.nextFloats += floats;
  }

  /** Ends a sample call: what it kept replaces the previous contents. */
  end(): void {
    this.entries = this.next;
    this.next = [];
  }
}
