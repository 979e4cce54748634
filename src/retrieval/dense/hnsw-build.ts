// Building an HNSW graph (Malkov & Yashunin 2018) in FAISS's layout, so one search routine
// (./hnsw.ts) serves graphs we build and graphs read from FAISS files: per node a level count,
// and one neighbour list of cum[levels] slots (2M at level 0, M above; −1 = empty).
// Insertion: random level (P(level ≥ l) = M^−l), greedy descent above it, then per level an
// efConstruction beam search and the neighbour-selection heuristic (keep a candidate only if it
// is closer to the new node than to every neighbour already kept), linking both ways and
// shrinking overfull lists with the same heuristic. Distance = −inner product.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../../core/rng.ts';
import { FILES } from './format.ts';
import type { HnswMeta } from './format.ts';
import type { RowSource } from './store.ts';
import { writeFully } from './store.ts';

export interface HnswGraph {
  count: number;
  M: number;
  efConstruction: number;
  cum: number[];
  levels: Int32Array;
  offsets: Float64Array;
  neighbors: Int32Array;
  entryPoint: number;
  maxLevel: number;
}

export function dot(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < d; j += 4) {
    s0 += a[ao + j] * b[bo + j];
    s1 += a[ao + j + 1] * b[bo + j + 1];
    s2 += a[ao + j + 2] * b[bo + j + 2];
    s3 += a[ao + j + 3] * b[bo + j + 3];
  }
  for (; j < d; j++) s0 += a[ao + j] * b[bo + j];
  return s0 + s1 + s2 + s3;
}

/** Binary heap of (d, id); `max` selects a max-heap. */
class Heap {
  d: number[] = [];
  id: number[] = [];
  constructor(private readonly max: boolean) {}
  get size(): number {
    return this.d.length;
  }
  private better(i: number, j: number): boolean {
    return this.max ? this.d[i] > this.d[j] : this.d[i] < this.d[j];
  }
  private swap(i: number, j: number): void {
    [this.d[i], this.d[j]] = [this.d[j], this.d[i]];
    [this.id[i], this.id[j]] = [this.id[j], this.id[i]];
  }
  push(d: number, id: number): void {
    this.d.push(d);
    this.id.push(id);
    let i = this.d.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): { d: number; id: number } {
    const top = { d: this.d[0], id: this.id[0] };
    const ld = this.d.pop() as number;
    const lid = this.id.pop() as number;
    if (this.d.length > 0) {
      this.d[0] = ld;
      this.id[0] = lid;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= this.d.length) break;
        const r = l + 1;
        const c = r < this.d.length && this.better(r, l) ? r : l;
        if (!this.better(c, i)) break;
        this.swap(i, c);
        i = c;
      }
    }
    return top;
  }
  topD(): number {
    return this.d[0];
  }
}

export function buildHnsw(
  src: RowSource,
  o: { M?: number; efConstruction?: number; seed?: number; onProgress?: (done: number) => void } = {},
): HnswGraph {
  const M = o.M ?? 16;
  const efC = o.efConstruction ?? 100;
  const n = src.count;
  const dim = src.dim;
  const X = new Float32Array(n * dim);
  for (let s = 0; s < n; s += 65536) {
    const m = Math.min(65536, n - s);
    src.readRows(s, m, X.subarray(s * dim, (s + m) * dim));
  }
  const rng = new Rng(o.seed ?? 12345);
  const mult = 1 / Math.log(M);
  const levels = new Int32Array(n);
  let maxLevels = 1;
  for (let i = 0; i < n; i++) {
    let u = rng.uniform();
    while (u <= 0) u = rng.uniform();
    levels[i] = Math.min(Math.floor(-Math.log(u) * mult), 15) + 1; // number of levels the node is on
    maxLevels = Math.max(maxLevels, levels[i]);
  }
  const cum = [0, 2 * M];
  for (let l = 1; l < maxLevels; l++) cum.push(cum[l] + M);
  const offsets = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) offsets[i + 1] = offsets[i] + cum[levels[i]];
  const neighbors = new Int32Array(offsets[n]).fill(-1);
  const slots = (l: number) => cum[l + 1] - cum[l];
  const dist = (a: number, b: number) => -dot(X, a * dim, X, b * dim, dim);
  const visit = new Uint32Array(n);
  let gen = 0;

  /** Beam search at `level` from entry points; returns up to ef nearest as a max-heap. */
  const searchLayer = (q: number, entry: number, dEntry: number, level: number, ef: number): Heap => {
    gen++;
    const cand = new Heap(false);
    const res = new Heap(true);
    cand.push(dEntry, entry);
    res.push(dEntry, entry);
    visit[entry] = gen;
    while (cand.size > 0) {
      const c = cand.pop();
      if (c.d > res.topD() && res.size >= ef) break;
      const b = offsets[c.id] + cum[level];
      for (let j = 0; j < slots(level); j++) {
        const v = neighbors[b + j];
        if (v < 0) break;
        if (visit[v] === gen) continue;
        visit[v] = gen;
        const dv = dist(q, v);
        if (res.size < ef || dv < res.topD()) {
          cand.push(dv, v);
          res.push(dv, v);
          if (res.size > ef) res.pop();
        }
      }
    }
    return res;
  };

  /** The heuristic: from candidates sorted nearest first, keep those not closer to a kept one. */
  const select = (base: number, cands: { d: number; id: number }[], max: number): number[] => {
    cands.sort((a, b) => a.d - b.d || a.id - b.id);
    const kept: number[] = [];
    for (const c of cands) {
      if (kept.length >= max) break;
      let ok = true;
      for (const k of kept)
        if (dist(c.id, k) < c.d) {
          ok = false;
          break;
        }
      if (ok) kept.push(c.id);
    }
    void base;
    return kept;
  };

  const link = (a: number, b: number, level: number) => {
    const off = offsets[a] + cum[level];
    const cap = slots(level);
    for (let j = 0; j < cap; j++) {
      if (neighbors[off + j] === b) return;
      if (neighbors[off + j] < 0) {
        neighbors[off + j] = b;
        return;
      }
    }
    // Full: re-select among the current neighbours and b.
    const cands = [{ d: dist(a, b), id: b }];
    for (let j = 0; j < cap; j++) cands.push({ d: dist(a, neighbors[off + j]), id: neighbors[off + j] });
    const kept = select(a, cands, cap);
    for (let j = 0; j < cap; j++) neighbors[off + j] = j < kept.length ? kept[j] : -1;
  };

  let entry = -1;
  let maxLevel = -1;
  for (let q = 0; q < n; q++) {
    const top = levels[q] - 1;
    if (entry < 0) {
      entry = q;
      maxLevel = top;
      continue;
    }
    let cur = entry;
    let dCur = dist(q, cur);
    for (let l = maxLevel; l > top; l--) {
      for (let changed = true; changed;) {
        changed = false;
        const b = offsets[cur] + cum[l];
        for (let j = 0; j < slots(l); j++) {
          const v = neighbors[b + j];
          if (v < 0) break;
          const dv = dist(q, v);
          if (dv < dCur) {
            dCur = dv;
            cur = v;
            changed = true;
          }
        }
      }
    }
    for (let l = Math.min(top, maxLevel); l >= 0; l--) {
      const res = searchLayer(q, cur, dCur, l, efC);
      const cands = res.d.map((d, i) => ({ d, id: res.id[i] }));
      const best = cands.reduce((a, b) => (b.d < a.d ? b : a));
      const kept = select(q, cands, slots(l));
      const off = offsets[q] + cum[l];
      kept.forEach((v, j) => (neighbors[off + j] = v));
      for (const v of kept) link(v, q, l);
      cur = best.id;
      dCur = best.d;
    }
    if (top > maxLevel) {
      maxLevel = top;
      entry = q;
    }
    if (o.onProgress && q % 10000 === 0) o.onProgress(q);
  }
  return { count: n, M, efConstruction: efC, cum, levels, offsets, neighbors, entryPoint: entry, maxLevel };
}

/** In-memory graph for the search routine. */
export class MemoryHnswGraph {
  constructor(
    readonly count: number,
    readonly entryPoint: number,
    readonly maxLevel: number,
    private readonly cum: readonly number[],
    private readonly levels: Int32Array,
    private readonly offsets: Float64Array,
    private readonly nb: Int32Array,
  ) {}
  neighbors(node: number, level: number): Int32Array {
    if (level >= this.levels[node]) return new Int32Array(0);
    const b = this.offsets[node] + this.cum[level];
    const e = b + this.cum[level + 1] - this.cum[level];
    let m = b;
    while (m < e && this.nb[m] >= 0) m++;
    return this.nb.subarray(b, m);
  }
}

/** Writes hnsw.levels / hnsw.offsets / hnsw.neighbors into dir; returns the meta part. */
export function writeHnswFiles(
  dir: string,
  g: HnswGraph,
  efSearch: number,
  source: 'built' | 'faiss' = 'built',
): HnswMeta {
  writeFileSync(
    join(dir, FILES.hnswLevels),
    new Uint8Array(g.levels.buffer, g.levels.byteOffset, g.levels.byteLength),
  );
  writeFileSync(
    join(dir, FILES.hnswOffsets),
    new Uint8Array(g.offsets.buffer, g.offsets.byteOffset, g.offsets.byteLength),
  );
  writeFileSync(
    join(dir, FILES.hnswNeighbors),
    new Uint8Array(g.neighbors.buffer, g.neighbors.byteOffset, g.neighbors.byteLength),
  );
  void writeFully;
  return {
    cum: g.cum,
    entryPoint: g.entryPoint,
    maxLevel: g.maxLevel,
    efSearch,
    M: g.M,
    efConstruction: g.efConstruction,
    source,
  };
}
