// The embedded BM25 retriever: opens an index directory written by buildIndex (one read per array
// file into shared memory, so query worker threads reuse the same bytes; passages stay on disk and
// are read per hit) and answers top-k queries exactly with block-max MaxScore.
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { ANALYZER_NAME, EnglishAnalyzer } from '../analyzer.ts';
import type { Hit, Retriever } from '../../core/retriever.ts';
import { splitContents } from '../../protocol/passages.ts';
import {
  BLOCK,
  INDEX_FORMAT,
  INDEX_VERSION,
  assertLittleEndian,
  indexPath,
  readTyped,
  readWholeFile,
  type IndexMeta,
  type Scoring,
} from './format.ts';
import { blockMaxScoreTopK, EMPTY_TOPK, TopKHeap, type TopK } from './maxscore.ts';
import { Cursor, END, type PostingsData } from './postings.ts';
import {
  contribution,
  docFactors,
  finalScore,
  roundUpF32,
  saturation,
  termBound,
  termWeight,
  type ScoringParams,
} from './scoring.ts';

export interface Bm25Options {
  /** BM25 term-frequency saturation (default: the index's, normally 0.9). */
  k1?: number;
  /** BM25 length normalisation (default: the index's, normally 0.4). */
  b?: number;
  /** 'bm25' (exact, default) or 'lucene' (Lucene 8.7's float32 scoring with one-byte norms). */
  scoring?: Scoring;
}

/** A hit from a stored corpus: also carries the exact `contents` string for the wire format. */
export interface StoredHit extends Hit {
  contents: string;
  /** Internal doc number (position in the corpus). */
  docNum: number;
}

/** One analysed query term present in the index. */
export interface QueryTerm {
  termId: number;
  df: number;
  /** Occurrences in the query (Anserini's clause boost). */
  qtf: number;
  weight: number;
}

/** The arrays of an open index, shareable with worker threads (SharedArrayBuffer-backed). */
export interface IndexArrays {
  terms: Uint8Array;
  termsIdx: Uint32Array;
  termsPost: Float64Array;
  words: Uint32Array;
  blockLast: Uint32Array;
  blockOff: Float64Array;
  blockBits: Uint8Array;
  blockMax: Float32Array;
  docLens: Uint32Array;
  storeIdx: Float64Array;
}

/** Read meta.json and check the format version (old indexes get a rebuild instruction). */
export function readIndexMeta(dir: string): IndexMeta {
  const path = indexPath(dir, 'meta');
  let meta: IndexMeta;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as IndexMeta;
  } catch (e) {
    throw new Error(`${path}: not a search-r1 BM25 index (${(e as Error).message})`);
  }
  if (meta.format !== INDEX_FORMAT)
    throw new Error(`${path}: not a search-r1 BM25 index (format ${String(meta.format)})`);
  if (meta.version !== INDEX_VERSION) {
    throw new Error(
      `${path}: BM25 index format v${meta.version}, this version reads v${INDEX_VERSION}` +
        ` (block-packed postings); rebuild with search-r1 index <corpus> --out ${dir}`,
    );
  }
  if (meta.analyzer !== ANALYZER_NAME && meta.analyzer !== 'custom') {
    throw new Error(
      `${path}: built with analyzer ${meta.analyzer}, this version analyses queries with ${ANALYZER_NAME}; ` +
        `rebuild with search-r1 index <corpus> --out ${dir}`,
    );
  }
  return meta;
}

/** Whether `dir` holds an index this version can open (for callers that cache built indexes). */
export function isCurrentIndex(dir: string): boolean {
  if (!existsSync(indexPath(dir, 'meta'))) return false;
  try {
    readIndexMeta(dir);
    return true;
  } catch {
    return false;
  }
}

/** Load every array file of an index (shared memory). */
export function loadIndexArrays(dir: string, meta: IndexMeta): IndexArrays {
  const V = meta.numTerms;
  const N = meta.numDocs;
  const B = meta.numBlocks;
  return {
    terms: new Uint8Array(readWholeFile(indexPath(dir, 'terms'))),
    termsIdx: readTyped(indexPath(dir, 'termsIdx'), Uint32Array, V + 1),
    termsPost: readTyped(indexPath(dir, 'termsPost'), Float64Array, 3 * V),
    words: readTyped(indexPath(dir, 'postings'), Uint32Array, meta.postingWords),
    blockLast: readTyped(indexPath(dir, 'blockLast'), Uint32Array, B),
    blockOff: readTyped(indexPath(dir, 'blockOff'), Float64Array, B + 1),
    blockBits: readTyped(indexPath(dir, 'blockBits'), Uint8Array, 2 * B),
    blockMax: readTyped(indexPath(dir, 'blockMax'), Float32Array, B),
    docLens: readTyped(indexPath(dir, 'docLens'), Uint32Array, N),
    storeIdx: readTyped(indexPath(dir, 'storeIdx'), Float64Array, N + 1),
  };
}

/** An open index's shared-memory state, posted to worker threads. */
export interface SharedIndex {
  dir: string;
  meta: IndexMeta;
  arrays: IndexArrays;
  params: ScoringParams;
  factors: Float64Array;
}

export class Bm25Index implements Retriever {
  readonly params: ScoringParams;
  private readonly lucene: boolean;
  private readonly analyzer = new EnglishAnalyzer(1 << 16);
  /** Per document: bm25 norm k1·(1 − b + b·dl/avgdl), or lucene normInv. */
  private readonly factors: Float64Array;
  private readonly termIdCache = new Map<string, number>();
  private readonly postingsData: PostingsData;
  /** Per term: max saturation under the scoring in use (NaN until computed, for non-default params). */
  private readonly termMaxSat: Float64Array | null;
  private readonly cursors: Cursor[] = [];
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private storeFd: number | null;

  private constructor(
    readonly dir: string,
    readonly meta: IndexMeta,
    readonly arrays: IndexArrays,
    opts: Bm25Options,
    factors?: Float64Array,
  ) {
    this.params = { k1: opts.k1 ?? meta.k1, b: opts.b ?? meta.b, scoring: opts.scoring ?? meta.scoring };
    const { k1, b, scoring } = this.params;
    if (!(k1 >= 0) || !(b >= 0 && b <= 1)) throw new Error(`invalid BM25 parameters k1=${k1} b=${b}`);
    if (scoring !== 'bm25' && scoring !== 'lucene')
      throw new Error(`unknown BM25 scoring '${String(scoring)}'`);
    this.lucene = scoring === 'lucene';
    this.factors = factors ?? docFactors(this.params, meta, arrays.docLens, true);
    const asBuilt = k1 === meta.k1 && b === meta.b && scoring === meta.scoring;
    // Block maxima are stored for the index's default parameters; other parameters recompute a
    // term's maxima from its postings the first time a query uses it.
    this.termMaxSat = asBuilt ? null : new Float64Array(meta.numTerms).fill(NaN);
    this.postingsData = {
      words: arrays.words,
      blockLast: arrays.blockLast,
      blockOff: arrays.blockOff,
      blockBits: arrays.blockBits,
      blockMax: asBuilt ? arrays.blockMax : new Float32Array(meta.numBlocks),
    };
    this.storeFd = openSync(indexPath(dir, 'store'), 'r');
  }

  /** Open an index directory. */
  static async open(dir: string, opts: Bm25Options = {}): Promise<Bm25Index> {
    assertLittleEndian();
    const meta = readIndexMeta(dir);
    return new Bm25Index(dir, meta, loadIndexArrays(dir, meta), opts);
  }

  /** What a query worker thread needs to open this index without a second copy in memory. */
  shareable(): SharedIndex {
    return {
      dir: this.dir,
      meta: this.meta,
      arrays: this.arrays,
      params: this.params,
      factors: this.factors,
    };
  }

  /** An index over arrays another thread loaded (shared memory). */
  static fromShared(s: SharedIndex): Bm25Index {
    return new Bm25Index(s.dir, s.meta, s.arrays, s.params, s.factors);
  }

  get numDocs(): number {
    return this.meta.numDocs;
  }

  get k1(): number {
    return this.params.k1;
  }

  get b(): number {
    return this.params.b;
  }

  /** Sorted-dictionary position of an analysed term, or -1. */
  termId(term: string): number {
    const cached = this.termIdCache.get(term);
    if (cached !== undefined) return cached;
    const key = this.enc.encode(term);
    let lo = 0;
    let hi = this.meta.numTerms - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.compareTerm(mid, key);
      if (c === 0) {
        found = mid;
        break;
      }
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    if (this.termIdCache.size > 1 << 16) this.termIdCache.clear();
    this.termIdCache.set(term, found);
    return found;
  }

  private compareTerm(i: number, key: Uint8Array): number {
    const { terms, termsIdx } = this.arrays;
    const s = termsIdx[i];
    const e = termsIdx[i + 1];
    const n = Math.min(e - s, key.length);
    for (let j = 0; j < n; j++) {
      const diff = terms[s + j] - key[j];
      if (diff !== 0) return diff;
    }
    return e - s - key.length;
  }

  /** Document frequency of an analysed term (0 when unknown). */
  df(term: string): number {
    const id = this.termId(term);
    return id < 0 ? 0 : this.arrays.termsPost[3 * id + 1];
  }

  /** Query text → known terms in first-occurrence order, weighted by their count in the query
   *  (Anserini's bag of words: one clause per distinct term, boosted by its count). */
  queryTerms(query: string): QueryTerm[] {
    const counts = new Map<number, number>();
    for (const t of this.analyzer.analyze(query)) {
      const id = this.termId(t);
      if (id >= 0) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return this.weigh(counts);
  }

  /** Already-analysed query terms (e.g. another analyzer's output) → weighted query terms. */
  queryTermsFromTokens(tokens: string[]): QueryTerm[] {
    const counts = new Map<number, number>();
    for (const t of tokens) {
      const id = this.termId(t);
      if (id >= 0) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    return this.weigh(counts);
  }

  private weigh(counts: Map<number, number>): QueryTerm[] {
    const out: QueryTerm[] = [];
    for (const [termId, qtf] of counts) {
      const df = this.arrays.termsPost[3 * termId + 1];
      out.push({ termId, df, qtf, weight: termWeight(this.params, this.meta, df, qtf) });
    }
    return out;
  }

  /** Max saturation of a term under the scoring in use (recomputing its block maxima if needed). */
  private maxSaturation(termId: number): number {
    if (this.termMaxSat === null) return this.arrays.termsPost[3 * termId + 2];
    const cached = this.termMaxSat[termId];
    if (!Number.isNaN(cached)) return cached;
    const first = this.arrays.termsPost[3 * termId];
    const df = this.arrays.termsPost[3 * termId + 1];
    const c = new Cursor(this.postingsData);
    c.reset(first, df, 0, 0, 0);
    const maxes = this.postingsData.blockMax;
    let best = 0;
    for (let b = first; b < c.end; b++) {
      if (b !== c.block) c.load(b);
      let m = 0;
      for (;;) {
        const s = saturation(this.lucene, c.tf(), this.factors[c.doc]);
        if (s > m) m = s;
        if (c.atBlockEnd()) break;
        c.next();
      }
      maxes[b] = roundUpF32(m);
      if (maxes[b] > best) best = maxes[b];
    }
    this.termMaxSat[termId] = best;
    return best;
  }

  private cursorsFor(terms: QueryTerm[]): Cursor[] {
    while (this.cursors.length < terms.length) this.cursors.push(new Cursor(this.postingsData));
    return terms.map((t, slot) => {
      const c = this.cursors[slot];
      const sat = this.maxSaturation(t.termId);
      c.reset(
        this.arrays.termsPost[3 * t.termId],
        t.df,
        t.weight,
        termBound(this.lucene, t.weight, sat),
        slot,
      );
      return c;
    });
  }

  /** Top-k for weighted query terms (no passage reads). */
  topK(terms: QueryTerm[], k: number): TopK {
    if (terms.length === 0 || k <= 0) return EMPTY_TOPK;
    return blockMaxScoreTopK(this.cursorsFor(terms), k, this.factors, this.lucene);
  }

  /** Top-k doc numbers and scores for one query (no passage reads). */
  searchDocs(query: string, k: number): TopK {
    return this.topK(this.queryTerms(query), k);
  }

  /** Unpruned reference: scores every posting of every query term (benchmark exactness check).
   *  Terms are added in query order into a dense accumulator, the same summation order as topK. */
  exhaustiveTopK(terms: QueryTerm[], k: number): TopK {
    if (terms.length === 0 || k <= 0) return EMPTY_TOPK;
    const acc = new Float64Array(this.meta.numDocs);
    const hit = new Uint8Array(this.meta.numDocs);
    for (const c of this.cursorsFor(terms)) {
      for (; c.doc !== END; c.next()) {
        acc[c.doc] += contribution(this.lucene, c.weight, c.tf(), this.factors[c.doc]);
        hit[c.doc] = 1;
      }
    }
    const heap = new TopKHeap(k);
    for (let d = 0; d < acc.length; d++) if (hit[d]) heap.offer(finalScore(this.lucene, acc[d]), d);
    return heap.sorted();
  }

  /** Stored `{id, contents}` of doc number `d` (one positional read). */
  document(d: number): { id: string; contents: string } {
    if (this.storeFd === null) throw new Error(`${this.dir}: index is closed`);
    if (!(d >= 0 && d < this.meta.numDocs))
      throw new RangeError(`doc number ${d} out of range [0, ${this.meta.numDocs})`);
    const start = this.arrays.storeIdx[d];
    const end = this.arrays.storeIdx[d + 1];
    const buf = Buffer.allocUnsafe(end - start);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(this.storeFd, buf, off, buf.length - off, start + off);
      if (n <= 0) throw new Error(`${indexPath(this.dir, 'store')}: truncated at doc ${d}`);
      off += n;
    }
    const idLen = buf.readUInt32LE(0);
    return {
      id: this.dec.decode(buf.subarray(4, 4 + idLen)),
      contents: this.dec.decode(buf.subarray(4 + idLen)),
    };
  }

  /** Hits for a top-k list. */
  hits(top: TopK): StoredHit[] {
    const hits: StoredHit[] = [];
    for (let i = 0; i < top.docs.length; i++) {
      const docNum = top.docs[i];
      const { id, contents } = this.document(docNum);
      const { title, text } = splitContents(contents);
      hits.push({ id, title, text, score: top.scores[i], contents, docNum });
    }
    return hits;
  }

  /** Hits for one query. */
  searchOne(query: string, k: number): StoredHit[] {
    return this.hits(this.searchDocs(query, k));
  }

  async search(queries: string[], topk: number): Promise<StoredHit[][]> {
    return queries.map((q) => this.searchOne(q, topk));
  }

  async close(): Promise<void> {
    if (this.storeFd !== null) closeSync(this.storeFd);
    this.storeFd = null;
  }
}

/** Postings per block (re-exported for tests). */
export { BLOCK };
export { buildIndex, type BuildOptions, type BuildStats, type CorpusDoc } from './build.ts';
