// Exact top-k BM25 with MaxScore dynamic pruning (Turtle & Flood 1995), document-at-a-time.
//
// Score (Lucene ≥ 8 BM25Similarity, which dropped the constant (k1+1) factor):
//   score(d) = Σ_t qtf_t · idf_t · tf / (tf + k1·(1 − b + b·dl/avgdl)),
//   idf_t = ln(1 + (N − df + 0.5)/(df + 0.5)).
// Terms are ordered by their score upper bound; the low-bound prefix whose bounds sum to at most
// the current k-th score is "non-essential": a document appearing only there cannot enter the
// top-k, so candidates come only from the essential terms, and non-essential terms are probed
// only while the partial score plus their remaining bound could still beat the threshold.
//
// Block-max bounds (BMW / block-max MaxScore) were tried and measured slower on the benchmark
// corpus (top-3, 3–6 word queries): the extra per-candidate bound work costs more than the few
// blocks it skips (see BENCHMARKS.md).
//
// Exactness: each candidate's final score is summed in the canonical query-term order (the
// pruned evaluation order never leaks into the score), and bounds are inflated by a relative
// 1e-9 so float rounding can never prune a document that belongs in the top-k.
// Ties: lower doc number first. Documents are visited in increasing doc number, so a later
// document with a score equal to the k-th one never displaces it (comparison is strict).

/** One query term's postings and weights, ready for scoring. */
export interface TermCursorInput {
  docs: Uint32Array; // [df] ascending doc numbers
  tfs: Uint8Array; // [df] term frequencies; TF_ESCAPE → exact value from bigTf(postingIndex)
  postingBase: number; // index of docs[0] in the whole postings file (for bigTf lookups)
  weight: number; // qtf · idf
  maxScore: number; // upper bound of weight · tf/(tf+norm) over this term's postings
}

/** First index ≥ lo with arr[index] ≥ target (galloping then binary search); n when none. */
function advance(arr: Uint32Array, lo: number, n: number, target: number): number {
  if (lo >= n || arr[lo] >= target) return lo;
  let step = 1;
  let hi = lo + 1;
  while (hi < n && arr[hi] < target) {
    lo = hi;
    step <<= 1;
    hi = lo + step;
  }
  if (hi > n) hi = n;
  // invariant: arr[lo] < target, (hi === n or arr[hi] ≥ target)
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < target) lo = mid;
    else hi = mid;
  }
  return hi;
}

export interface TopK {
  docs: Int32Array; // [n] doc numbers, best first
  scores: Float64Array; // [n]
}

const RELATIVE_SLACK = 1 + 1e-9;

export function maxScoreTopK(
  terms: TermCursorInput[], // canonical (query) order
  k: number,
  norms: Float64Array, // [N] k1·(1 − b + b·dl/avgdl)
  bigTf: (postingIndex: number) => number,
): TopK {
  const m = terms.length;
  if (m === 0 || k <= 0) return { docs: new Int32Array(0), scores: new Float64Array(0) };
  // Order by bound ascending; remember each term's canonical slot.
  const order = terms.map((_, i) => i).sort((a, b) => terms[a].maxScore - terms[b].maxScore || a - b);
  const docs = order.map((i) => terms[i].docs);
  const tfs = order.map((i) => terms[i].tfs);
  const base = new Float64Array(order.map((i) => terms[i].postingBase));
  const weight = new Float64Array(order.map((i) => terms[i].weight));
  const slot = Int32Array.from(order);
  const len = Int32Array.from(order.map((i) => terms[i].docs.length));
  const pos = new Int32Array(m);
  // prefixUb[i] = inflated Σ_{j ≤ i} maxScore_j.
  const prefixUb = new Float64Array(m);
  let acc = 0;
  for (let i = 0; i < m; i++) {
    acc += terms[order[i]].maxScore;
    prefixUb[i] = acc * RELATIVE_SLACK;
  }
  const contrib = new Float64Array(m); // by canonical slot

  // Min-heap of the current top-k: root is the worst (lowest score, then highest doc).
  const heapDoc = new Int32Array(k);
  const heapScore = new Float64Array(k);
  let size = 0;
  let theta = -1; // scores are > 0, so anything beats -1 until the heap is full
  let firstEssential = 0;

  for (;;) {
    // Next candidate: smallest current doc among essential terms.
    let d = 0x7fffffff;
    for (let i = firstEssential; i < m; i++) {
      const p = pos[i];
      if (p < len[i]) {
        const x = docs[i][p];
        if (x < d) d = x;
      }
    }
    if (d === 0x7fffffff) break;
    if (firstEssential === m - 1 && m >= 2) {
      // One essential list (the common steady state for short queries): skip its postings whose
      // own score plus every other term's bound cannot beat the threshold, in a tight loop. This is
      // exactly the first pruning test of the general path below, hoisted.
      const i = m - 1;
      const arr = docs[i];
      const tfa = tfs[i];
      const n = len[i];
      const w = weight[i];
      const rest = prefixUb[m - 2];
      let p = pos[i];
      while (p < n) {
        const x = arr[p];
        let tf = tfa[p];
        if (tf === 255) tf = bigTf(base[i] + p);
        if ((w * tf) / (tf + norms[x]) + rest > theta) break;
        p++;
      }
      pos[i] = p;
      if (p >= n) break;
      d = arr[p];
    }
    const norm = norms[d];
    let partial = 0;
    for (let i = firstEssential; i < m; i++) {
      const p = pos[i];
      if (p < len[i] && docs[i][p] === d) {
        let tf = tfs[i][p];
        if (tf === 255) tf = bigTf(base[i] + p);
        const c = (weight[i] * tf) / (tf + norm);
        contrib[slot[i]] = c;
        partial += c;
        pos[i] = p + 1;
      }
    }
    let pruned = false;
    for (let i = firstEssential - 1; i >= 0; i--) {
      if (partial + prefixUb[i] <= theta) {
        pruned = true;
        break;
      }
      const arr = docs[i];
      const n = len[i];
      const lo = advance(arr, pos[i], n, d);
      pos[i] = lo;
      if (lo < n && arr[lo] === d) {
        let tf = tfs[i][lo];
        if (tf === 255) tf = bigTf(base[i] + lo);
        const c = (weight[i] * tf) / (tf + norm);
        contrib[slot[i]] = c;
        partial += c;
      }
    }
    if (!pruned) {
      let score = 0;
      for (let s = 0; s < m; s++) score += contrib[s];
      if (size < k) {
        // Sift up.
        let j = size++;
        while (j > 0) {
          const parent = (j - 1) >> 1;
          if (!worse(score, d, heapScore[parent], heapDoc[parent])) break;
          heapScore[j] = heapScore[parent];
          heapDoc[j] = heapDoc[parent];
          j = parent;
        }
        heapScore[j] = score;
        heapDoc[j] = d;
        if (size === k) theta = heapScore[0];
      } else if (score > theta) {
        siftDownReplace(heapScore, heapDoc, size, score, d);
        theta = heapScore[0];
      }
      if (size === k) while (firstEssential < m && prefixUb[firstEssential] <= theta) firstEssential++;
    }
    for (let s = 0; s < m; s++) contrib[s] = 0;
    if (firstEssential >= m) break;
  }

  // Extract best first.
  const idx = Array.from({ length: size }, (_, i) => i);
  idx.sort((a, b) => heapScore[b] - heapScore[a] || heapDoc[a] - heapDoc[b]);
  return {
    docs: Int32Array.from(idx.map((i) => heapDoc[i])),
    scores: Float64Array.from(idx.map((i) => heapScore[i])),
  };
}

/** Is (s1, d1) ranked below (s2, d2)? Lower score is worse; on equal scores the higher doc is. */
function worse(s1: number, d1: number, s2: number, d2: number): boolean {
  return s1 < s2 || (s1 === s2 && d1 > d2);
}

function siftDownReplace(hs: Float64Array, hd: Int32Array, size: number, score: number, doc: number): void {
  let j = 0;
  for (;;) {
    const l = 2 * j + 1;
    if (l >= size) break;
    const r = l + 1;
    let c = l;
    if (r < size && worse(hs[r], hd[r], hs[l], hd[l])) c = r;
    if (!worse(hs[c], hd[c], score, doc)) break;
    hs[j] = hs[c];
    hd[j] = hd[c];
    j = c;
  }
  hs[j] = score;
  hd[j] = doc;
}
