// Hybrid retrieval: several first stages (e.g. BM25 and dense) fused by weighted reciprocal rank
// fusion (Cormack et al. 2009): score(d) = Σ_i w_i / (k + rank_i(d)), rank 1-based, over each
// retriever's top `depth`. Passages are identified by id; ties keep the order of first appearance
// (retriever order, then rank). Docs: docs/dense-retrieval.md.
import type { Hit, Retriever } from '../core/retriever.ts';

export interface HybridOptions {
  /** RRF constant k (60 in the original paper). */
  k?: number;
  /** Candidates taken from each retriever (default max(topk, 50)). */
  depth?: number;
}

export class HybridRetriever implements Retriever {
  constructor(
    readonly parts: readonly { retriever: Retriever; weight: number }[],
    readonly opts: HybridOptions = {},
  ) {
    if (parts.length === 0) throw new Error('hybrid retriever: no retrievers to fuse');
    for (const p of parts)
      if (!(p.weight >= 0) || !Number.isFinite(p.weight))
        throw new Error(`hybrid retriever: weight ${p.weight} must be a finite number ≥ 0`);
  }

  async search(queries: string[], topk: number): Promise<Hit[][]> {
    const k = this.opts.k ?? 60;
    const depth = Math.max(topk, this.opts.depth ?? 50);
    const lists = await Promise.all(this.parts.map((p) => p.retriever.search(queries, depth)));
    return queries.map((_, q) => {
      const fused = new Map<string, { hit: Hit; score: number; order: number }>();
      let order = 0;
      this.parts.forEach((p, i) => {
        lists[i][q].forEach((h, r) => {
          const add = p.weight / (k + r + 1);
          const e = fused.get(h.id);
          if (e) e.score += add;
          else fused.set(h.id, { hit: h, score: add, order: order++ });
        });
      });
      return [...fused.values()]
        .sort((a, b) => b.score - a.score || a.order - b.order)
        .slice(0, topk)
        .map((e) => ({ ...e.hit, score: e.score }));
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.retriever.close?.()));
  }
}

/** Parses "--hybrid-weights 1,1" (one weight per fused retriever). */
export function parseWeights(s: string | undefined, n: number): number[] {
  if (s === undefined) return new Array<number>(n).fill(1);
  const w = s.split(',').map((x) => Number(x.trim()));
  if (w.length !== n || w.some((x) => !Number.isFinite(x) || x < 0))
    throw new Error(`--hybrid-weights "${s}": expected ${n} comma-separated numbers ≥ 0 (BM25,dense)`);
  return w;
}
