// Per-posting BM25 scoring, two modes (docs/bm25-index.md):
//
// bm25 (default, exact, float64):
//   contrib(w, tf, d) = w · tf / (tf + k1·(1 − b + b·dl_d/avgdl)),  w = qtf · ln(1 + (N − df + 0.5)/(df + 0.5))
// lucene (Lucene 8.7 BM25Similarity bit for bit, float32):
//   norm byte  = SmallFloat.intToByte4(dl_d); dl' = byte4ToInt(byte)         (lossy one-byte length)
//   normInv    = f32(1 / f32(k1·f32((1 − b) + f32(b·dl')/avgdl)))            avgdl = f32(Σdl / docCount)
//   w          = f32(boost · f32(ln(1 + (docCount − df + 0.5)/(df + 0.5))))   boost = query term count
//   contrib    = f32(w − f32(w / f32(1 + f32(tf · normInv))))
//   doc score  = f32(Σ contrib in float64)   (Lucene's disjunction scorers sum in double)
// Lucene 8 dropped BM25's constant (k1 + 1) numerator factor; neither mode has it.
// Both write contrib = w · s(tf, d) up to rounding, with the saturation s ∈ [0, 1) that block-max
// metadata bounds: bm25 s = tf/(tf + norm); lucene s = 1 − 1/(1 + tf·normInv).
import type { Scoring } from './format.ts';

const f32 = Math.fround;

// SmallFloat.intToByte4 / byte4ToInt (Lucene 8): lengths < 24 exact, larger ones keep 4 significant bits.
function longToInt4(i: number): number {
  const numBits = 32 - Math.clz32(i);
  if (numBits < 4) return i;
  const shift = numBits - 4;
  return ((i >>> shift) & 0x07) | ((shift + 1) << 3);
}
function int4ToLong(i: number): number {
  const bits = i & 0x07;
  const shift = (i >>> 3) - 1;
  return shift === -1 ? bits : (bits | 0x08) * 2 ** shift;
}
const NUM_FREE_VALUES = 255 - longToInt4(0x7fffffff); // 24

/** Lucene's one-byte document length (SmallFloat.intToByte4), 0..255. */
export function intToByte4(i: number): number {
  return i < NUM_FREE_VALUES ? i : NUM_FREE_VALUES + longToInt4(i - NUM_FREE_VALUES);
}
/** The length a one-byte norm stands for (SmallFloat.byte4ToInt). */
export function byte4ToInt(b: number): number {
  return b < NUM_FREE_VALUES ? b : NUM_FREE_VALUES + int4ToLong(b - NUM_FREE_VALUES);
}

export interface ScoringParams {
  scoring: Scoring;
  k1: number;
  b: number;
}

/** Collection statistics the scorer needs. */
export interface CollectionStats {
  numDocs: number;
  docsWithTerms: number;
  totalLength: number;
}

/** Per-document factor: bm25 → norm = k1·(1 − b + b·dl/avgdl); lucene → normInv (float32 value). */
export function docFactors(
  p: ScoringParams,
  stats: CollectionStats,
  docLens: Uint32Array,
  shared = false,
): Float64Array {
  const N = docLens.length;
  const out = new Float64Array(shared ? new SharedArrayBuffer(8 * N) : new ArrayBuffer(8 * N));
  if (p.scoring === 'bm25') {
    const avgdl = stats.numDocs > 0 ? stats.totalLength / stats.numDocs : 0;
    const a = avgdl || 1;
    for (let d = 0; d < N; d++) out[d] = p.k1 * (1 - p.b + (p.b * docLens[d]) / a);
    return out;
  }
  const cache = luceneNormInverse(p, stats);
  for (let d = 0; d < N; d++) out[d] = cache[intToByte4(docLens[d])];
  return out;
}

/** Lucene's 256-entry cache of 1/(k1·((1 − b) + b·len/avgdl)) in float32. */
export function luceneNormInverse(p: ScoringParams, stats: CollectionStats): Float64Array {
  const k1 = f32(p.k1);
  const b = f32(p.b);
  const avgdl = stats.totalLength > 0 ? f32(stats.totalLength / stats.docsWithTerms) : 1;
  const cache = new Float64Array(256);
  for (let i = 0; i < 256; i++)
    cache[i] = f32(1 / f32(k1 * f32(f32(1 - b) + f32(f32(b * byte4ToInt(i)) / avgdl))));
  return cache;
}

/** Query-term weight w (qtf = how often the analysed term occurs in the query). */
export function termWeight(p: ScoringParams, stats: CollectionStats, df: number, qtf: number): number {
  if (p.scoring === 'bm25') return qtf * Math.log(1 + (stats.numDocs - df + 0.5) / (df + 0.5));
  const idf = f32(Math.log(1 + (stats.docsWithTerms - df + 0.5) / (df + 0.5)));
  return f32(f32(qtf) * idf);
}

/** Saturation s(tf, d) ∈ [0, 1): contrib ≈ w · s. `factor` is docFactors()[d]. */
export function saturation(lucene: boolean, tf: number, factor: number): number {
  return lucene ? 1 - 1 / (1 + tf * factor) : tf / (tf + factor);
}

/** One posting's score contribution, exactly as the mode defines it. */
export function contribution(lucene: boolean, w: number, tf: number, factor: number): number {
  return lucene ? f32(w - f32(w / f32(1 + f32(tf * factor)))) : (w * tf) / (tf + factor);
}

/** The document score from its contributions' float64 sum. */
export function finalScore(lucene: boolean, sum: number): number {
  return lucene ? f32(sum) : sum;
}

/** Upper bound of one term's contribution over postings whose saturation is at most `s`. bm25:
 *  w·s (float64 rounding is covered by BOUND_SLACK on sums). lucene: each contribution is rounded
 *  to float32 a few times, an absolute error of a few ulps of w (≤ 2^-22·w), so add 1e-6·w. */
export function termBound(lucene: boolean, w: number, s: number): number {
  return lucene ? w * (s + 1e-6) : w * s;
}

/** Relative inflation of summed bounds, so float rounding never prunes a document that belongs in
 *  the top-k (far above the error of summing a few float64 values). */
export const BOUND_SLACK = 1 + 1e-9;

const f32Box = new Float32Array(1);
const u32Box = new Uint32Array(f32Box.buffer);
/** The smallest float32 ≥ x (x ≥ 0): block maxima are stored rounded up so they stay bounds. */
export function roundUpF32(x: number): number {
  f32Box[0] = x;
  if (f32Box[0] < x) u32Box[0]++;
  return f32Box[0];
}
