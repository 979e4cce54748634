// Spreading independent pieces of work (attention of one (sequence, KV head), one sequence's decode
// attention) over the kernel lanes. The assignment depends only on the costs and the lane count, so
// a run is reproducible at a given thread count; each piece runs whole on one lane, in the same
// order as on one thread, so the results do not depend on the thread count either.

/**
 * Lane of each piece: longest first onto the least-loaded lane (ties: lower piece index, then lower
 * lane), so unequal sequences still balance.
 */
export function assignLanes(costs: readonly number[], lanes: number): Int32Array {
  const out = new Int32Array(costs.length);
  if (lanes <= 1) return out;
  const order = costs.map((_, i) => i).sort((a, b) => costs[b] - costs[a] || a - b);
  const load = new Float64Array(lanes);
  for (const i of order) {
    let best = 0;
    for (let t = 1; t < lanes; t++) if (load[t] < load[best]) best = t;
    out[i] = best;
    load[best] += costs[i];
  }
  return out;
}
