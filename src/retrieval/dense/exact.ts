// Exact maximum-inner-product search: scores = Q·Xᵀ as one GEMM per block of rows on the engine's
// kernels (batched queries make it a real matrix product), then a top-k heap per query.
// Ties go to the lower row number, so results are deterministic.
import { defaultKernels } from '../../engine/kernels/index.ts';
import type { Kernels } from '../../engine/kernels/types.ts';
import type { RowSource } from './store.ts';

export interface TopK {
  ids: Int32Array;
  scores: Float32Array;
}

/** Fixed-size min-heap of (score, id); the root is the current k-th best. */
export class TopKHeap {
  readonly s: Float32Array;
  readonly id: Int32Array;
  n = 0;
  constructor(readonly k: number) {
    this.s = new Float32Array(k);
    this.id = new Int32Array(k);
  }
  /** Is (a, ia) worse than (b, ib)? Lower score, or equal score and higher id. */
  private worse(a: number, ia: number, b: number, ib: number): boolean {
    return a < b || (a === b && ia > ib);
  }
  /** Smallest score that could still enter (−∞ until full). */
  get threshold(): number {
    return this.n < this.k ? -Infinity : this.s[0];
  }
  push(score: number, id: number): void {
    const { s, id: ids } = this;
    if (this.n < this.k) {
      let i = this.n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!this.worse(score, id, s[p], ids[p])) break;
        s[i] = s[p];
        ids[i] = ids[p];
        i = p;
      }
      s[i] = score;
      ids[i] = id;
      return;
    }
    if (!this.worse(s[0], ids[0], score, id)) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= this.k) break;
      const r = l + 1;
      const c = r < this.k && this.worse(s[r], ids[r], s[l], ids[l]) ? r : l;
      if (!this.worse(s[c], ids[c], score, id)) break;
      s[i] = s[c];
      ids[i] = ids[c];
      i = c;
    }
    s[i] = score;
    ids[i] = id;
  }
  /** Best first. */
  result(): TopK {
    const order = Array.from({ length: this.n }, (_, i) => i).sort((a, b) =>
      this.s[b] !== this.s[a] ? this.s[b] - this.s[a] : this.id[a] - this.id[b],
    );
    return {
      ids: Int32Array.from(order, (i) => this.id[i]),
      scores: Float32Array.from(order, (i) => this.s[i]),
    };
  }
}

/** Rows per GEMM block: big enough for GEMM efficiency, small enough for cache-friendly top-k scans. */
const BLOCK_ROWS = 4096;

/**
 * Top-k rows by inner product for each query ([nq, dim] row-major). `rowFilter` (optional) maps a
 * block start to nothing; every row of the source is scored.
 */
export function exactSearch(
  src: RowSource,
  queries: Float32Array,
  k: number,
  kernels: Kernels = defaultKernels(),
): TopK[] {
  const dim = src.dim;
  if (queries.length % dim !== 0)
    throw new Error(
      `exact search: query vectors have ${queries.length} values, not a multiple of the index dimension ${dim}`,
    );
  const nq = queries.length / dim;
  const heaps = Array.from({ length: nq }, () => new TopKHeap(Math.max(1, Math.min(k, src.count))));
  if (nq === 0 || src.count === 0 || k <= 0)
    return heaps.map(() => ({ ids: new Int32Array(0), scores: new Float32Array(0) }));
  const A = kernels.arena;
  const R = Math.min(BLOCK_ROWS, src.count);
  const Q = A.alloc(nq * dim);
  const X = A.alloc(R * dim);
  const S = A.alloc(nq * R);
  try {
    Q.data.set(queries);
    for (let start = 0; start < src.count; start += R) {
      const n = Math.min(R, src.count - start);
      src.readRows(start, n, X.data);
      kernels.gemm(false, true, nq, n, dim, 1, Q, 0, dim, X, 0, dim, 0, S, 0, n);
      const s = S.data;
      for (let q = 0; q < nq; q++) {
        const h = heaps[q];
        let th = h.threshold;
        const o = q * n;
        for (let i = 0; i < n; i++) {
          const v = s[o + i];
          if (v >= th) {
            h.push(v, start + i);
            th = h.threshold;
          }
        }
      }
    }
  } finally {
    A.free(Q);
    A.free(X);
    A.free(S);
  }
  return heaps.map((h) => h.result());
}
