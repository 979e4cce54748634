// A dense index directory as a Retriever: queries are embedded with the encoder recorded in the
// index (or one given), searched exactly (batched GEMM) or through the HNSW graph when the index
// has one, and the hits' passages read from the passage store.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BertEncoder } from '../../engine/bert/encoder.ts';
import type { Hit, Retriever } from '../../core/retriever.ts';
import { exactSearch } from './exact.ts';
import type { TopK } from './exact.ts';
import { FILES, readDenseMeta } from './format.ts';
import type { DenseMeta } from './format.ts';
import { hnswSearch, Visited } from './hnsw.ts';
import { dot, MemoryHnswGraph } from './hnsw-build.ts';
import { PassageStore } from './passages.ts';
import { VectorStore } from './store.ts';

/** What a dense index needs from an encoder (BertEncoder satisfies it). */
export interface QueryEncoder {
  readonly dim: number;
  readonly dir?: string;
  embed(texts: readonly string[], prefix: 'query' | 'passage' | 'none'): Float32Array[];
  dispose?(): void;
}

export interface DenseOpenOptions {
  /** Encoder folder or instance; default: the one recorded in meta.json. */
  encoder?: string | QueryEncoder;
  /** 'auto' (HNSW when the index has a graph), 'exact' or 'hnsw'. */
  search?: 'auto' | 'exact' | 'hnsw';
  efSearch?: number;
}

export type DenseHit = Hit & { contents: string };

export class DenseIndex implements Retriever {
  private readonly visited: Visited;
  private constructor(
    readonly dir: string,
    readonly meta: DenseMeta,
    readonly store: VectorStore,
    readonly passages: PassageStore,
    readonly encoder: QueryEncoder | null,
    private readonly ownsEncoder: boolean,
    private readonly graph: MemoryHnswGraph | null,
    readonly efSearch: number,
  ) {
    this.visited = new Visited(meta.count);
  }

  static open(dir: string, o: DenseOpenOptions = {}): DenseIndex {
    const meta = readDenseMeta(dir);
    const metaPath = join(dir, FILES.meta);
    const store = new VectorStore(
      join(dir, FILES.vectors),
      meta.dim,
      meta.count,
      meta.dtype,
      join(dir, FILES.scales),
    );
    const passages = new PassageStore(join(dir, FILES.passages), join(dir, FILES.offsets));
    if (passages.count !== meta.count)
      throw new Error(
        `${join(dir, FILES.passages)}: ${passages.count} passages but ${metaPath} says ${meta.count} vectors (corpus/index mismatch)`,
      );
    let encoder: QueryEncoder | null = null;
    let owns = false;
    if (typeof o.encoder === 'object') encoder = o.encoder;
    else {
      const encDir = o.encoder ?? meta.encoder?.path;
      if (encDir) {
        if (!existsSync(encDir))
          throw new Error(
            `${o.encoder ? '--encoder' : `${metaPath}: recorded encoder`} ${encDir} does not exist (pass --encoder DIR)`,
          );
        encoder = BertEncoder.load(encDir);
        owns = true;
      }
    }
    if (encoder && encoder.dim !== meta.dim)
      throw new Error(
        `encoder ${encoder.dir ?? ''} makes ${encoder.dim}-dimensional vectors but ${metaPath} holds ${meta.dim}-dimensional ones (wrong vector dimension: use the encoder the index was built with)`,
      );
    const mode = o.search ?? 'auto';
    if (mode === 'hnsw' && !meta.hnsw)
      throw new Error(`${metaPath}: this index has no HNSW graph (build with --hnsw)`);
    let graph: MemoryHnswGraph | null = null;
    if (meta.hnsw && mode !== 'exact') {
      const h = meta.hnsw;
      const read = (f: string, bytes: number) => {
        const p = join(dir, f);
        const size = statSync(p).size;
        if (size !== bytes) throw new Error(`${p}: ${size} bytes, expected ${bytes} (truncated?)`);
        const b = readFileSync(p);
        return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
      };
      const levels = new Int32Array(read(FILES.hnswLevels, meta.count * 4));
      const offsets = new Float64Array(read(FILES.hnswOffsets, (meta.count + 1) * 8));
      const nb = new Int32Array(read(FILES.hnswNeighbors, offsets[meta.count] * 4));
      graph = new MemoryHnswGraph(meta.count, h.entryPoint, h.maxLevel, h.cum, levels, offsets, nb);
    }
    return new DenseIndex(
      dir,
      meta,
      store,
      passages,
      encoder,
      owns,
      graph,
      o.efSearch ?? meta.hnsw?.efSearch ?? 64,
    );
  }

  get count(): number {
    return this.meta.count;
  }

  /** Top-k rows per query vector ([nq, dim] row-major). */
  searchVectors(queries: Float32Array, k: number): TopK[] {
    if (queries.length % this.meta.dim !== 0)
      throw new Error(`dense index ${this.dir}: query vectors are not ${this.meta.dim}-dimensional`);
    if (!this.graph) return exactSearch(this.store, queries, k);
    const dim = this.meta.dim;
    const nq = queries.length / dim;
    const row = new Float32Array(dim);
    const out: TopK[] = [];
    for (let q = 0; q < nq; q++) {
      const dist = (node: number) => {
        this.store.readRows(node, 1, row);
        return -dot(queries, q * dim, row, 0, dim);
      };
      out.push(hnswSearch(this.graph, dist, k, this.efSearch, this.visited));
    }
    return out;
  }

  document(i: number): DenseHit {
    return { ...this.passages.get(i), score: 0 };
  }

  async search(queries: string[], topk: number): Promise<DenseHit[][]> {
    if (!this.encoder) throw new Error(`${this.dir}: no encoder recorded in the index; pass --encoder DIR`);
    const vecs = this.encoder.embed(queries, 'query');
    const q = new Float32Array(vecs.length * this.meta.dim);
    vecs.forEach((v, i) => q.set(v, i * this.meta.dim));
    return this.searchVectors(q, topk).map((r) =>
      Array.from(r.ids, (id, j) => ({ ...this.passages.get(id), score: r.scores[j] })),
    );
  }

  async close(): Promise<void> {
    this.passages.close();
    if (this.ownsEncoder) this.encoder?.dispose?.();
  }
}
