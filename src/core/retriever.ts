// The retriever seam (docs/architecture.md). Every retriever — embedded BM25, remote `/retrieve`,
// dense, hybrid, web — implements this, and `search-r1 serve` exposes any of them over HTTP.
// Ground floor: imports nothing of ours.

/** One retrievable passage. `title` is as stored (wiki-18 titles keep their quotes). */
export interface Passage {
  id: string;
  title: string;
  text: string;
}

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
