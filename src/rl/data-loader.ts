// Epoch-based shuffled loader over training examples. Its whole state is (epoch, cursor): the
// permutation of an epoch is a pure function of (seed, epoch), so a checkpoint stores two ints.
// Optionally stratified: with a stratum key per example (e.g. a question's relation), draws go
// round-robin over the strata (each round in a seeded order), so every batch holds the strata in
// equal shares however unequal their sizes — rare kinds of question are not drowned by frequent ones.
import { deriveSeed, permutation } from '../core/rng.ts';
import { SEED_PURPOSE } from './rng.ts';

export interface LoaderState {
  epoch: number;
  /** Position in the epoch's permutation; stratified: draws since the start (epoch = ⌊cursor / items⌋). */
  cursor: number;
}

export class PromptLoader<T> {
  private perm: number[] = [];
  private permEpoch = -1;
  /** Stratified mode: item indices per stratum (in first-seen order of the keys). */
  private readonly strata: number[][] | null;
  constructor(
    private readonly items: readonly T[],
    private readonly seed: number,
    private readonly shuffle: boolean,
    public state: LoaderState = { epoch: 0, cursor: 0 },
    /** One stratum key per item (same length as `items`); omitted: plain epochs. */
    strataKeys?: readonly string[],
  ) {
    if (items.length === 0) throw new Error('PromptLoader: no training examples');
    if (strataKeys) {
      if (strataKeys.length !== items.length) throw new Error(`PromptLoader: ${strataKeys.length} stratum keys for ${items.length} examples`);
      const byKey = new Map<string, number[]>();
      strataKeys.forEach((k, i) => (byKey.get(k) ?? byKey.set(k, []).get(k)!).push(i));
      this.strata = [...byKey.values()];
    } else this.strata = null;
  }
  private order(epoch: number): number[] {
    if (this.permEpoch !== epoch) {
      this.perm = this.shuffle
        ? permutation(this.items.length, deriveSeed(this.seed, SEED_PURPOSE.shuffle, epoch))
        : Array.from({ length: this.items.length }, (_, i) => i);
      this.permEpoch = epoch;
    }
    return this.perm;
  }
  /**
   * Stratified draw number t: round r = ⌊t / S⌋ visits the S strata in a seeded order, and stratum s
   * gives its r-th item: its own epochs, each a seeded permutation of its members. A pure function of t.
   */
  private stratified(t: number): T {
    const strata = this.strata!;
    const S = strata.length;
    const round = Math.floor(t / S);
    const visit = this.shuffle ? permutation(S, deriveSeed(this.seed, SEED_PURPOSE.shuffle, 0x57a7, round)) : Array.from({ length: S }, (_, i) => i);
    const members = strata[visit[t % S]];
    const ep = Math.floor(round / members.length);
    const perm = this.shuffle ? permutation(members.length, deriveSeed(this.seed, SEED_PURPOSE.shuffle, 0x57a7, visit[t % S], ep, 1)) : null;
    const k = round % members.length;
    return this.items[members[perm ? perm[k] : k]];
  }
  /** The next `count` examples; crosses into the next epoch (reshuffled) when one ends. */
  next(count: number): T[] {
    const out: T[] = [];
    if (this.strata) {
      for (let i = 0; i < count; i++) out.push(this.stratified(this.state.cursor + i));
      const cursor = this.state.cursor + count;
      this.state = { epoch: Math.floor(cursor / this.items.length), cursor };
      return out;
    }
    while (out.length < count) {
      const order = this.order(this.state.epoch);
      out.push(this.items[order[this.state.cursor]]);
      this.state =
        this.state.cursor + 1 >= order.length
          ? { epoch: this.state.epoch + 1, cursor: 0 }
          : { epoch: this.state.epoch, cursor: this.state.cursor + 1 };
    }
    return out;
  }
}

/** The value at a dotted path of an example (`metadata.relation`), as a stratum key; an error names the example. */
export function stratumKey(example: Record<string, unknown>, path: string, where: string): string {
  let v: unknown = example;
  for (const part of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    throw new Error(`${where}: data.stratifyBy "${path}" is not a string, number or boolean field of this example`);
  }
  return String(v);
}
