// Exact top-k BM25 with block-max MaxScore (Turtle & Flood 1995's MaxScore; block-max bounds as
// in Ding & Suel 2011 and PISA's block_max_maxscore), document-at-a-time over block-packed postings.
//
// Terms are ordered by their whole-list bound; the low-bound prefix whose bounds sum to at most the
// current k-th score θ is "non-essential": a document appearing only there cannot enter the top-k,
// so candidates come from the essential terms only. Block maxima tighten this per document:
//  - one essential list left (the steady state for short queries): whole blocks whose bound plus
//    the others' bounds is ≤ θ are skipped without decoding, then postings one by one;
//  - before probing non-essential lists for a candidate, the sum of their bounds *in the blocks that
//    would hold it* (skip data only, no decoding) must still beat θ.
//
// Exactness: a candidate's score is summed in canonical query-term order whatever the evaluation
// order (pruned and exhaustive runs give bit-identical scores), and every bound is inflated
// (scoring.ts: termBound, BOUND_SLACK) so float rounding never prunes a document of the top-k.
// Ties: lower doc number first. Documents are visited in increasing doc number and the admission
// test is strict (score > θ), so a later document with the k-th score never displaces it.
import { END, type Cursor } from './postings.ts';
import { BOUND_SLACK, contribution, finalScore, saturation, termBound } from './scoring.ts';

export interface TopK {
  docs: Int32Array; // [n] doc numbers, best first
  scores: Float64Array; // [n]
}

export const EMPTY_TOPK: TopK = { docs: new Int32Array(0), scores: new Float64Array(0) };

/**
 * Top-k over `cursors` (freshly reset; `slot` = canonical position 0..m−1, `maxScore` = termBound of
 * the term's largest saturation). `factors` = scoring.docFactors (per-document norm or normInv).
 */
export function blockMaxScoreTopK(
  cursors: Cursor[],
  k: number,
  factors: Float64Array,
  lucene: boolean,
): TopK {
  const m = cursors.length;
  if (m === 0 || k <= 0) return EMPTY_TOPK;
  const c = cursors.slice().sort((x, y) => x.maxScore - y.maxScore || x.slot - y.slot);
  // prefixUb[i] = inflated Σ_{j ≤ i} maxScore_j.
  const prefixUb = new Float64Array(m);
  let acc = 0;
  for (let i = 0; i < m; i++) {
    acc += c[i].maxScore;
    prefixUb[i] = acc * BOUND_SLACK;
  }
  const contrib = new Float64Array(m); // by canonical slot
  const blockUb = new Float64Array(m); // per sorted position: bound in the candidate's block
  const heap = new TopKHeap(k);
  let theta = -Infinity; // the k-th score once the heap is full
  let firstEssential = 0;

  for (;;) {
    if (firstEssential === m - 1) {
      // One essential list: skip its blocks, then its postings, that cannot beat θ even with every
      // non-essential term's bound added.
      const e = c[m - 1];
      const w = e.weight;
      const rest = m >= 2 ? prefixUb[m - 2] : 0;
      const maxes = e.blockMaxes;
      if (e.doc === END) break;
      let nb = e.block;
      while (nb < e.end && (termBound(lucene, w, maxes[nb]) + rest) * BOUND_SLACK <= theta) nb++;
      if (nb >= e.end) break;
      if (nb !== e.block) e.load(nb);
      for (;;) {
        const d = e.doc;
        if (d === END) break;
        const sat = saturation(lucene, e.tf(), factors[d]);
        if ((termBound(lucene, w, sat) + rest) * BOUND_SLACK > theta) break;
        if (!e.atBlockEnd()) {
          e.next();
          continue;
        }
        // The rest of this block is pruned: skip blocks by their bound before decoding one.
        nb = e.block + 1;
        while (nb < e.end && (termBound(lucene, w, maxes[nb]) + rest) * BOUND_SLACK <= theta) nb++;
        if (nb >= e.end) e.finish();
        else e.load(nb);
      }
      if (e.doc === END) break;
    }

    // Next candidate: the smallest current doc among essential terms.
    let d = END;
    for (let i = firstEssential; i < m; i++) if (c[i].doc < d) d = c[i].doc;
    if (d === END) break;
    const factor = factors[d];
    let partial = 0;
    for (let i = firstEssential; i < m; i++) {
      const t = c[i];
      if (t.doc === d) {
        const x = contribution(lucene, t.weight, t.tf(), factor);
        contrib[t.slot] = x;
        partial += x;
        t.next();
      }
    }
    let pruned = false;
    if (firstEssential > 0) {
      // Block-max check of the non-essential terms at d (skip data only), then probe them from the
      // highest bound down while the partial score plus the remaining block bounds can beat θ.
      let ub = 0;
      for (let i = 0; i < firstEssential; i++) {
        const t = c[i];
        const bi = termBound(lucene, t.weight, t.blockMaxAt(d));
        ub += bi;
        blockUb[i] = ub;
      }
      if ((partial + ub) * BOUND_SLACK <= theta) pruned = true;
      else {
        for (let i = firstEssential - 1; i >= 0; i--) {
          if ((partial + blockUb[i]) * BOUND_SLACK <= theta) {
            pruned = true;
            break;
          }
          const t = c[i];
          t.nextGeq(d);
          if (t.doc === d) {
            const x = contribution(lucene, t.weight, t.tf(), factor);
            contrib[t.slot] = x;
            partial += x;
          }
        }
      }
    }
    if (!pruned) {
      let sum = 0;
      for (let s = 0; s < m; s++) sum += contrib[s];
      const score = finalScore(lucene, sum);
      if (heap.offer(score, d)) {
        theta = heap.threshold();
        while (firstEssential < m && prefixUb[firstEssential] <= theta) firstEssential++;
        if (firstEssential >= m) break;
      }
    }
    contrib.fill(0);
  }
  return heap.sorted();
}

/** Min-heap of the current top-k: the root is the worst (lowest score, then highest doc). */
export class TopKHeap {
  private readonly hd: Int32Array;
  private readonly hs: Float64Array;
  size = 0;
  constructor(private readonly k: number) {
    this.hd = new Int32Array(k);
    this.hs = new Float64Array(k);
  }

  /** The k-th score when full, else −∞ (anything may enter). */
  threshold(): number {
    return this.size === this.k ? this.hs[0] : -Infinity;
  }

  /** Insert (score, doc) if it enters the top-k; docs must arrive in increasing order. Returns
   *  whether the heap changed. */
  offer(score: number, doc: number): boolean {
    const hs = this.hs;
    const hd = this.hd;
    if (this.size < this.k) {
      let j = this.size++;
      while (j > 0) {
        const parent = (j - 1) >> 1;
        if (!worse(score, doc, hs[parent], hd[parent])) break;
        hs[j] = hs[parent];
        hd[j] = hd[parent];
        j = parent;
      }
      hs[j] = score;
      hd[j] = doc;
      return true;
    }
    if (!(score > hs[0])) return false;
    let j = 0;
    const size = this.size;
    for (;;) {
      const l = 2 * j + 1;
      if (l >= size) break;
      const r = l + 1;
      let ch = l;
      if (r < size && worse(hs[r], hd[r], hs[l], hd[l])) ch = r;
      if (!worse(hs[ch], hd[ch], score, doc)) break;
      hs[j] = hs[ch];
      hd[j] = hd[ch];
      j = ch;
    }
    hs[j] = score;
    hd[j] = doc;
    return true;
  }

  /** Best first (score descending, then doc ascending). */
  sorted(): TopK {
    const idx = Array.from({ length: this.size }, (_, i) => i);
    idx.sort((a, b) => this.hs[b] - this.hs[a] || this.hd[a] - this.hd[b]);
    return {
      docs: Int32Array.from(idx.map((i) => this.hd[i])),
      scores: Float64Array.from(idx.map((i) => this.hs[i])),
    };
  }
}

/** Is (s1, d1) ranked below (s2, d2)? Lower score is worse; on equal scores the higher doc is. */
function worse(s1: number, d1: number, s2: number, d2: number): boolean {
  return s1 < s2 || (s1 === s2 && d1 > d2);
}
