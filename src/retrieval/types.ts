// The retriever seam (ARCHITECTURE.md). Every retriever — embedded BM25, remote `/retrieve`,
// dense, hybrid — implements this, and `search-r1 serve` exposes any of them over HTTP.
import type { Passage } from '../protocol/types.ts';

/** One search result: a passage and its retrieval score (higher is better). */
export interface Hit extends Passage {
  score: number;
}

export interface Retriever {
  /** Batch search: one ranked list (length ≤ topk) per query, in query order. */
  search(queries: string[], topk: number): Promise<Hit[][]>;
  /** Release files, sockets, workers. Optional. */
  close?(): Promise<void>;
}
