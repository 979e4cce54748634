// HNSW search (Malkov & Yashunin) as FAISS implements it (HNSW::search with upper_beam 1 and
// search_bounded_queue): greedy descent from the entry point through the upper levels, then a
// beam search at level 0 whose candidate set holds ef = max(efSearch, k) entries and which stops
// when efSearch candidates are closer than the one being expanded. Distances are negated inner
// products (smaller = better), as FAISS's NegativeDistanceComputer. The same search runs on a
// graph read from a FAISS IndexHNSWFlat file or one we build (./hnsw-build.ts).
import type { TopK } from './exact.ts';

export interface HnswGraphLike {
  readonly count: number;
  readonly entryPoint: number;
  readonly maxLevel: number;
  neighbors(node: number, level: number): ArrayLike<number>;
}

/** −(query · vector of node): smaller is closer. */
export type QueryDistance = (node: number) => number;

/** FAISS's MinimaxHeap: a bounded set of candidates; pops the min, evicts the max when full. */
class Candidates {
  readonly d: Float64Array;
  readonly id: Int32Array;
  n = 0;
  constructor(readonly cap: number) {
    this.d = new Float64Array(cap);
    this.id = new Int32Array(cap);
  }
  push(id: number, d: number): void {
    if (this.n === this.cap) {
      let mi = 0;
      for (let i = 1; i < this.n; i++) if (this.d[i] > this.d[mi]) mi = i;
      if (d >= this.d[mi]) return;
      this.d[mi] = d;
      this.id[mi] = id;
      return;
    }
    this.d[this.n] = d;
    this.id[this.n++] = id;
  }
  popMin(): { id: number; d: number } {
    let mi = 0;
    for (let i = 1; i < this.n; i++) if (this.d[i] < this.d[mi]) mi = i;
    const out = { id: this.id[mi], d: this.d[mi] };
    this.n--;
    this.d[mi] = this.d[this.n];
    this.id[mi] = this.id[this.n];
    return out;
  }
  countBelow(t: number): number {
    let c = 0;
    for (let i = 0; i < this.n; i++) if (this.d[i] < t) c++;
    return c;
  }
}

/** Result max-heap of size k on distance (root = worst kept). */
class Results {
  readonly d: Float64Array;
  readonly id: Int32Array;
  n = 0;
  constructor(readonly k: number) {
    this.d = new Float64Array(k);
    this.id = new Int32Array(k);
  }
  offer(id: number, d: number): void {
    if (this.n < this.k) {
      let i = this.n++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (this.d[p] >= d) break;
        this.d[i] = this.d[p];
        this.id[i] = this.id[p];
        i = p;
      }
      this.d[i] = d;
      this.id[i] = id;
    } else if (d < this.d[0]) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= this.n) break;
        const r = l + 1;
        const c = r < this.n && this.d[r] > this.d[l] ? r : l;
        if (this.d[c] <= d) break;
        this.d[i] = this.d[c];
        this.id[i] = this.id[c];
        i = c;
      }
      this.d[i] = d;
      this.id[i] = id;
    }
  }
  /** Best first, as inner products. */
  sorted(): TopK {
    const order = Array.from({ length: this.n }, (_, i) => i).sort(
      (a, b) => this.d[a] - this.d[b] || this.id[a] - this.id[b],
    );
    return {
      ids: Int32Array.from(order, (i) => this.id[i]),
      scores: Float32Array.from(order, (i) => -this.d[i]),
    };
  }
}

/** Visited marks, reused across queries (a generation counter instead of clearing). */
export class Visited {
  private marks: Uint32Array;
  private gen = 1;
  constructor(n: number) {
    this.marks = new Uint32Array(n);
  }
  reset(n: number): void {
    if (this.marks.length < n) this.marks = new Uint32Array(n);
    if (++this.gen === 0xffffffff) {
      this.marks.fill(0);
      this.gen = 1;
    }
  }
  test(i: number): boolean {
    return this.marks[i] === this.gen;
  }
  set(i: number): void {
    this.marks[i] = this.gen;
  }
}

/** Greedy descent at one level: move to a closer neighbour until none is closer. */
export function greedyNearest(
  g: HnswGraphLike,
  dist: QueryDistance,
  level: number,
  start: number,
  dStart: number,
): { node: number; d: number } {
  let node = start;
  let d = dStart;
  for (;;) {
    const prev = node;
    const nb = g.neighbors(node, level);
    for (let j = 0; j < nb.length; j++) {
      const v = nb[j];
      const dv = dist(v);
      if (dv < d) {
        d = dv;
        node = v;
      }
    }
    if (node === prev) return { node, d };
  }
}

/** Top-k by inner product for one query. */
export function hnswSearch(
  g: HnswGraphLike,
  dist: QueryDistance,
  k: number,
  efSearch: number,
  visited: Visited = new Visited(g.count),
): TopK {
  if (g.count === 0 || k <= 0) return { ids: new Int32Array(0), scores: new Float32Array(0) };
  let cur = { node: g.entryPoint, d: dist(g.entryPoint) };
  for (let level = g.maxLevel; level >= 1; level--) cur = greedyNearest(g, dist, level, cur.node, cur.d);
  const ef = Math.max(efSearch, k);
  const cand = new Candidates(ef);
  cand.push(cur.node, cur.d);
  const res = new Results(Math.min(k, g.count));
  visited.reset(g.count);
  res.offer(cur.node, cur.d);
  visited.set(cur.node);
  while (cand.n > 0) {
    const { id: v0, d: d0 } = cand.popMin();
    if (cand.countBelow(d0) >= efSearch) break;
    const nb = g.neighbors(v0, 0);
    for (let j = 0; j < nb.length; j++) {
      const v1 = nb[j];
      if (visited.test(v1)) continue;
      visited.set(v1);
      const d = dist(v1);
      res.offer(v1, d);
      cand.push(v1, d);
    }
  }
  return res.sorted();
}
