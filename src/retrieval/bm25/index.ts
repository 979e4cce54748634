// The embedded BM25 retriever: opens an index directory written by buildIndex (one read per
// array file; passages stay on disk and are read per hit) and answers top-k queries exactly.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { EnglishAnalyzer } from '../analyzer.ts';
import type { Hit, Retriever } from '../types.ts';
import { splitContents } from '../../protocol/passages.ts';
import {
  INDEX_FORMAT,
  INDEX_VERSION,
  TF_ESCAPE,
  assertLittleEndian,
  indexPath,
  readTyped,
  readWholeFile,
  type IndexMeta,
} from './format.ts';
import { maxScoreTopK, type TermCursorInput, type TopK } from './maxscore.ts';

export interface Bm25Options {
  /** BM25 term-frequency saturation (default: the index's, normally 0.9). */
  k1?: number;
  /** BM25 length normalisation (default: the index's, normally 0.4). */
  b?: number;
}

/** A hit from a stored corpus: also carries the exact `contents` string for the wire format. */
export interface StoredHit extends Hit {
  contents: string;
  /** Internal doc number (position in the corpus). */
  docNum: number;
}

/** Lucene BM25 idf. */
export function bm25Idf(numDocs: number, df: number): number {
  return Math.log(1 + (numDocs - df + 0.5) / (df + 0.5));
}

export class Bm25Index implements Retriever {
  readonly k1: number;
  readonly b: number;
  private readonly analyzer = new EnglishAnalyzer(1 << 16);
  private readonly norms: Float64Array; // [N]
  private readonly termIdCache = new Map<string, number>();
  private readonly maxTfPart: Float64Array; // [V] max tf/(tf+norm) per term (depends on k1, b); NaN = not computed
  private readonly enc = new TextEncoder();
  private readonly dec = new TextDecoder();
  private storeFd: number | null;

  private constructor(
    readonly dir: string,
    readonly meta: IndexMeta,
    private readonly terms: Uint8Array,
    private readonly termsIdx: Uint32Array,
    private readonly termsPost: Float64Array,
    private readonly docs: Uint32Array,
    private readonly tfs: Uint8Array,
    private readonly tfsBig: Float64Array,
    readonly docLens: Uint32Array,
    private readonly storeIdx: Float64Array,
    opts: Bm25Options,
  ) {
    this.k1 = opts.k1 ?? meta.k1;
    this.b = opts.b ?? meta.b;
    if (!(this.k1 >= 0) || !(this.b >= 0 && this.b <= 1))
      throw new Error(`invalid BM25 parameters k1=${this.k1} b=${this.b}`);
    this.norms = new Float64Array(meta.numDocs);
    const avgdl = meta.avgdl || 1;
    for (let d = 0; d < meta.numDocs; d++)
      this.norms[d] = this.k1 * (1 - this.b + (this.b * docLens[d]) / avgdl);
    this.maxTfPart = new Float64Array(meta.numTerms).fill(NaN);
    this.storeFd = openSync(indexPath(dir, 'store'), 'r');
  }

  /** Open an index directory. */
  static async open(dir: string, opts: Bm25Options = {}): Promise<Bm25Index> {
    assertLittleEndian();
    let meta: IndexMeta;
    try {
      meta = JSON.parse(readFileSync(indexPath(dir, 'meta'), 'utf8')) as IndexMeta;
    } catch (e) {
      throw new Error(`${indexPath(dir, 'meta')}: not a search-r1 BM25 index (${(e as Error).message})`);
    }
    if (meta.format !== INDEX_FORMAT || meta.version !== INDEX_VERSION) {
      throw new Error(
        `${indexPath(dir, 'meta')}: unsupported index format ${meta.format} v${meta.version} (want ${INDEX_FORMAT} v${INDEX_VERSION})`,
      );
    }
    const V = meta.numTerms;
    const N = meta.numDocs;
    const P = meta.numPostings;
    return new Bm25Index(
      dir,
      meta,
      new Uint8Array(readWholeFile(indexPath(dir, 'terms'))),
      readTyped(indexPath(dir, 'termsIdx'), Uint32Array, V + 1),
      readTyped(indexPath(dir, 'termsPost'), Float64Array, 2 * V),
      readTyped(indexPath(dir, 'docs'), Uint32Array, P),
      readTyped(indexPath(dir, 'tfs'), Uint8Array, P),
      readTyped(indexPath(dir, 'tfsBig'), Float64Array),
      readTyped(indexPath(dir, 'docLens'), Uint32Array, N),
      readTyped(indexPath(dir, 'storeIdx'), Float64Array, N + 1),
      opts,
    );
  }

  get numDocs(): number {
    return this.meta.numDocs;
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
    const s = this.termsIdx[i];
    const e = this.termsIdx[i + 1];
    const n = Math.min(e - s, key.length);
    for (let j = 0; j < n; j++) {
      const diff = this.terms[s + j] - key[j];
      if (diff !== 0) return diff;
    }
    return e - s - key.length;
  }

  /** Document frequency of an analysed term (0 when unknown). */
  df(term: string): number {
    const id = this.termId(term);
    return id < 0 ? 0 : this.termsPost[2 * id + 1];
  }

  private bigTf = (postingIndex: number): number => {
    // Binary search the [posting, tf] pairs.
    const a = this.tfsBig;
    let lo = 0;
    let hi = a.length / 2 - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const p = a[2 * mid];
      if (p === postingIndex) return a[2 * mid + 1];
      if (p < postingIndex) lo = mid + 1;
      else hi = mid - 1;
    }
    throw new Error(
      `${this.dir}: corrupt index: posting ${postingIndex} has an escaped tf but no entry in tfs-big.bin`,
    );
  };

  /** Postings of sorted term `id`: doc numbers, tfs, and the global index of the first posting. */
  postings(id: number): { docs: Uint32Array; tfs: Uint8Array; base: number } {
    const start = this.termsPost[2 * id];
    const df = this.termsPost[2 * id + 1];
    return {
      docs: this.docs.subarray(start, start + df),
      tfs: this.tfs.subarray(start, start + df),
      base: start,
    };
  }

  /** Exact tf of posting `p` of the whole postings file. */
  tfAt(p: number): number {
    const t = this.tfs[p];
    return t === TF_ESCAPE ? this.bigTf(p) : t;
  }

  /** max over the term's postings of tf/(tf+norm): the MaxScore bound, computed once per term. */
  private maxTfPartOf(id: number): number {
    const cached = this.maxTfPart[id];
    if (!Number.isNaN(cached)) return cached;
    const { docs, tfs, base } = this.postings(id);
    let best = 0;
    for (let i = 0; i < docs.length; i++) {
      let tf = tfs[i];
      if (tf === TF_ESCAPE) tf = this.bigTf(base + i);
      const v = tf / (tf + this.norms[docs[i]]);
      if (v > best) best = v;
    }
    this.maxTfPart[id] = best;
    return best;
  }

  /** Query text → scoring inputs: unique known terms in first-occurrence order, weight = qtf·idf
   *  (pyserini's bag-of-words query boosts a repeated term by its count). */
  queryTerms(query: string): TermCursorInput[] {
    const counts = new Map<number, number>();
    for (const t of this.analyzer.analyze(query)) {
      const id = this.termId(t);
      if (id >= 0) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const out: TermCursorInput[] = [];
    for (const [id, qtf] of counts) {
      const { docs, tfs, base } = this.postings(id);
      const weight = qtf * bm25Idf(this.meta.numDocs, docs.length);
      out.push({ docs, tfs, postingBase: base, weight, maxScore: weight * this.maxTfPartOf(id) });
    }
    return out;
  }

  /** Top-k doc numbers and scores for one query (no passage reads). */
  searchDocs(query: string, k: number): TopK {
    return maxScoreTopK(this.queryTerms(query), k, this.norms, this.bigTf);
  }

  /** Stored `{id, contents}` of doc number `d` (one positional read). */
  document(d: number): { id: string; contents: string } {
    if (this.storeFd === null) throw new Error(`${this.dir}: index is closed`);
    if (!(d >= 0 && d < this.meta.numDocs))
      throw new RangeError(`doc number ${d} out of range [0, ${this.meta.numDocs})`);
    const start = this.storeIdx[d];
    const end = this.storeIdx[d + 1];
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

  /** Hits for one query. */
  searchOne(query: string, k: number): StoredHit[] {
    const top = this.searchDocs(query, k);
    const hits: StoredHit[] = [];
    for (let i = 0; i < top.docs.length; i++) {
      const docNum = top.docs[i];
      const { id, contents } = this.document(docNum);
      const { title, text } = splitContents(contents);
      hits.push({ id, title, text, score: top.scores[i], contents, docNum });
    }
    return hits;
  }

  async search(queries: string[], topk: number): Promise<StoredHit[][]> {
    return queries.map((q) => this.searchOne(q, topk));
  }

  async close(): Promise<void> {
    if (this.storeFd !== null) closeSync(this.storeFd);
    this.storeFd = null;
  }
}

export { buildIndex, type BuildOptions, type BuildStats, type CorpusDoc } from './build.ts';
