// Epoch-based shuffled loader over training examples. Its whole state is (epoch, cursor): the
// permutation of an epoch is a pure function of (seed, epoch), so a checkpoint stores two ints.
import { deriveSeed, permutation, SEED_PURPOSE } from './rng.ts';

export interface LoaderState {
  epoch: number;
  cursor: number;
}

export class PromptLoader<T> {
  private perm: number[] = [];
  private permEpoch = -1;
  constructor(
    private readonly items: readonly T[],
    private readonly seed: number,
    private readonly shuffle: boolean,
    public state: LoaderState = { epoch: 0, cursor: 0 },
  ) {
    if (items.length === 0) throw new Error('PromptLoader: no training examples');
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
  /** The next `count` examples; crosses into the next epoch (reshuffled) when one ends. */
  next(count: number): T[] {
    const out: T[] = [];
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
