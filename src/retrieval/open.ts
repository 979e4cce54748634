// One place that turns retriever flags into a Retriever: bm25 (embedded index), dense (a dense
// index directory, encoder from the index or --encoder), hybrid (both, fused by weighted RRF),
// each optionally followed by a cross-encoder reranker. Docs: docs/dense-retrieval.md.
import { CrossEncoder } from '../engine/bert/encoder.ts';
import { Bm25Index } from './bm25/index.ts';
import { DenseIndex } from './dense/index.ts';
import { HybridRetriever, parseWeights } from './hybrid.ts';
import { RerankRetriever } from './rerank.ts';
import type { Retriever } from '../core/retriever.ts';

export const RETRIEVER_KINDS = ['bm25', 'dense', 'hybrid', 'google', 'serpapi', 'brave'] as const;
export type RetrieverKind = (typeof RETRIEVER_KINDS)[number];

export interface RetrieverSpec {
  kind: RetrieverKind;
  /** BM25 index directory (bm25, hybrid). */
  index?: string;
  /** Dense index directory (dense, hybrid). */
  denseIndex?: string;
  /** Query encoder folder; default: the one recorded in the dense index. */
  encoder?: string;
  /** Cross-encoder folder: rerank the first stage's candidates. */
  reranker?: string;
  rerankDepth?: number;
  /** "bm25,dense" RRF weights for hybrid (default 1,1). */
  hybridWeights?: string;
  efSearch?: number;
}

export async function openRetriever(s: RetrieverSpec): Promise<Retriever> {
  const need = (v: string | undefined, flag: string): string => {
    if (!v) throw new Error(`--retriever ${s.kind} needs ${flag}`);
    return v;
  };
  let first: Retriever;
  switch (s.kind) {
    case 'bm25':
      first = await Bm25Index.open(need(s.index, '--index <dir>'));
      break;
    case 'dense':
      first = DenseIndex.open(need(s.denseIndex, '--dense-index <dir>'), {
        encoder: s.encoder,
        efSearch: s.efSearch,
      });
      break;
    case 'hybrid': {
      const w = parseWeights(s.hybridWeights, 2);
      const bm25 = await Bm25Index.open(need(s.index, '--index <dir> (BM25)'));
      const dense = DenseIndex.open(need(s.denseIndex, '--dense-index <dir>'), {
        encoder: s.encoder,
        efSearch: s.efSearch,
      });
      first = new HybridRetriever([
        { retriever: bm25, weight: w[0] },
        { retriever: dense, weight: w[1] },
      ]);
      break;
    }
    case 'google':
    case 'serpapi':
    case 'brave':
      throw new Error(
        `--retriever ${s.kind}: web search retrievers are not implemented yet (issue 14, item 5)`,
      );
    default:
      throw new Error(`--retriever ${String(s.kind)}: expected ${RETRIEVER_KINDS.join(' | ')}`);
  }
  if (!s.reranker) return first;
  return new RerankRetriever(first, CrossEncoder.load(s.reranker), { depth: s.rerankDepth });
}
