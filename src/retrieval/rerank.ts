// Two-stage retrieval as the reference's rerank server: a first stage (any Retriever) returns
// `depth` candidates, a cross-encoder (BertForSequenceClassification, e.g. ms-marco MiniLM)
// scores each (query, passage) pair, and the top-k by that score are returned (score = logit).
import type { CrossEncoder } from '../engine/bert/encoder.ts';
import { joinContents } from '../protocol/passages.ts';
import type { Hit, Retriever } from '../core/retriever.ts';

export class RerankRetriever implements Retriever {
  constructor(
    readonly first: Retriever,
    readonly cross: Pick<CrossEncoder, 'score'> & { dispose?(): void },
    readonly opts: { depth?: number } = {},
  ) {}

  async search(queries: string[], topk: number): Promise<Hit[][]> {
    const depth = Math.max(topk, this.opts.depth ?? 10);
    const cands = await this.first.search(queries, depth);
    return queries.map((q, i) => {
      const hits = cands[i];
      const text = hits.map(
        (h) => (h as Hit & { contents?: string }).contents ?? joinContents(h.title, h.text),
      );
      const s = this.cross.score(q, text);
      return hits
        .map((h, j) => ({ h, s: s[j], j }))
        .sort((a, b) => b.s - a.s || a.j - b.j)
        .slice(0, topk)
        .map((e) => ({ ...e.h, score: e.s }));
    });
  }

  async close(): Promise<void> {
    await this.first.close?.();
    this.cross.dispose?.();
  }
}
