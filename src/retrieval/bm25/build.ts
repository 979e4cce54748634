// Index construction with bounded memory: analyse documents one at a time, buffer postings
// (term, doc, tf) up to a memory budget, spill each full buffer as a run sorted by term id, then
// merge the runs. Doc numbers only grow, so run r holds smaller doc numbers than run r+1 and the
// merge is a sequential walk over term ids that concatenates each term's blocks in run order.
// The term dictionary (term → provisional id) stays in memory: it grows with the vocabulary,
// not with the corpus.
import { mkdirSync, rmSync, writeFileSync, mkdtempSync, renameSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ANALYZER_NAME, EnglishAnalyzer } from '../analyzer.ts';
import { readCorpus } from '../../data/corpus.ts';
import type { DataError } from '../../data/errors.ts';
import {
  BLOCK,
  BinReader,
  BinWriter,
  FILES,
  INDEX_FORMAT,
  INDEX_VERSION,
  assertLittleEndian,
  type IndexMeta,
  type Scoring,
} from './format.ts';
import { encodeBlock } from './postings.ts';
import { docFactors, roundUpF32, saturation } from './scoring.ts';

/** What the index stores per passage: the id and the exact wire `contents` (`"Title"\nText`). */
export interface CorpusDoc {
  id: string;
  contents: string;
}

export interface BuildOptions {
  /** Bytes of postings buffered before spilling a sorted run (default 256 MiB). */
  memoryBudgetBytes?: number;
  /** Skip (and count) bad corpus records instead of failing on the first one. */
  skipBadLines?: boolean;
  /** Default BM25 parameters recorded in the index (pyserini: 0.9 / 0.4). */
  k1?: number;
  b?: number;
  /** Default scoring recorded in the index ('bm25' exact, or 'lucene' for Lucene 8.7 compatibility). */
  scoring?: Scoring;
  /** Analysis of a passage's contents into terms (default: the EnglishAnalyzer). Tests use it to
   *  index Lucene's own token streams. */
  analyze?: (contents: string) => string[];
  /** Progress callback, called at most a few times per second and once at the end. */
  onProgress?: (p: { docs: number; seconds: number; phase: 'index' | 'merge' | 'done' }) => void;
  /** Called for each skipped record (with --skip-bad-lines). */
  onSkip?: (err: DataError) => void;
  /** Where the corpus reader's skip summary goes (default: stderr; null: nowhere). */
  log?: ((message: string) => void) | null;
}

export interface BuildStats {
  numDocs: number;
  numTerms: number;
  numPostings: number;
  runs: number;
  skippedLines: number;
  seconds: number;
}

const BYTES_PER_BUFFERED_POSTING = 12; // term u32 + doc u32 + tf u32

/** Growable Uint32Array (amortised doubling, capped by the caller's budget). */
class U32Buffer {
  data = new Uint32Array(1024);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
}

/**
 * Build an index from a corpus file (`.jsonl`, `.jsonl.gz`, `.json` array) or any async iterable
 * of `{id, contents}` into `outDir` (created; existing index files are replaced atomically-ish:
 * written into a temp dir next to it, then renamed file by file).
 */
export async function buildIndex(
  corpus: string | AsyncIterable<CorpusDoc> | Iterable<CorpusDoc>,
  outDir: string,
  opts: BuildOptions = {},
): Promise<BuildStats> {
  assertLittleEndian();
  const t0 = performance.now();
  const budget = Math.max(opts.memoryBudgetBytes ?? 256 * 1024 * 1024, 1024);
  const maxBuffered = Math.max(16, Math.floor(budget / BYTES_PER_BUFFERED_POSTING));
  const k1 = opts.k1 ?? 0.9;
  const b = opts.b ?? 0.4;
  const scoring: Scoring = opts.scoring ?? 'bm25';
  const reader =
    typeof corpus === 'string'
      ? readCorpus(corpus, { skipBadLines: opts.skipBadLines, onSkip: opts.onSkip, log: opts.log })
      : null;
  const docs: AsyncIterable<CorpusDoc> | Iterable<CorpusDoc> = reader ?? (corpus as AsyncIterable<CorpusDoc>);

  mkdirSync(outDir, { recursive: true });
  const work = mkdtempSync(join(outDir, '.build-'));
  try {
    const english = new EnglishAnalyzer();
    const analyze = opts.analyze ?? ((text: string) => english.analyze(text));
    const vocab = new Map<string, number>(); // term → provisional id (first-seen order)
    const termBuf = new U32Buffer();
    const docBuf = new U32Buffer();
    const tfBuf = new U32Buffer();
    const runPaths: string[] = [];
    const storeW = new BinWriter(join(work, FILES.store));
    const storeIdxW = new BinWriter(join(work, FILES.storeIdx));
    const docLensW = new BinWriter(join(work, FILES.docLens));
    const enc = new TextEncoder();
    const docTf = new Map<number, number>();
    const docLens = new U32Buffer();
    let numDocs = 0;
    let totalLength = 0;
    let lastReport = 0;

    const spill = (): void => {
      if (termBuf.length === 0) return;
      const path = join(work, `run-${runPaths.length}.bin`);
      writeRun(path, vocab.size, termBuf, docBuf, tfBuf);
      runPaths.push(path);
      termBuf.length = docBuf.length = tfBuf.length = 0;
    };

    for await (const doc of docs as AsyncIterable<CorpusDoc>) {
      const docNum = numDocs++;
      if (numDocs > 0x7ffffffe) throw new Error('corpus has more than 2^31-2 passages');
      // Passage store: [u32 idLen][id][contents], offsets in store.idx.
      storeIdxW.writeF64(storeW.bytes);
      const idBytes = enc.encode(doc.id);
      storeW.writeU32(idBytes.length);
      storeW.write(idBytes);
      storeW.write(enc.encode(doc.contents));
      // Postings of this document.
      const terms = analyze(doc.contents);
      docLensW.writeU32(terms.length);
      docLens.push(terms.length);
      totalLength += terms.length;
      docTf.clear();
      for (const t of terms) {
        let id = vocab.get(t);
        if (id === undefined) {
          id = vocab.size;
          vocab.set(t, id);
        }
        docTf.set(id, (docTf.get(id) ?? 0) + 1);
      }
      for (const [id, tf] of docTf) {
        termBuf.push(id);
        docBuf.push(docNum);
        tfBuf.push(tf);
      }
      if (termBuf.length >= maxBuffered) spill();
      if (opts.onProgress && (numDocs & 1023) === 0) {
        const now = performance.now();
        if (now - lastReport > 250) {
          lastReport = now;
          opts.onProgress({ docs: numDocs, seconds: (now - t0) / 1000, phase: 'index' });
        }
      }
    }
    const skippedLines = reader?.stats.skipped ?? 0;
    storeIdxW.writeF64(storeW.bytes);
    storeW.close();
    storeIdxW.close();
    docLensW.close();
    spill();
    const runs = runPaths.length;
    opts.onProgress?.({ docs: numDocs, seconds: (performance.now() - t0) / 1000, phase: 'merge' });

    const lens = docLens.data.subarray(0, numDocs);
    let docsWithTerms = 0;
    for (let d = 0; d < numDocs; d++) if (lens[d] > 0) docsWithTerms++;
    const stats = { numDocs, docsWithTerms, totalLength };
    const factors = docFactors({ k1, b, scoring }, stats, lens);
    const { numPostings, numBlocks, postingWords } = mergeRuns(
      work,
      runPaths,
      vocab,
      factors,
      scoring === 'lucene',
    );
    const meta: IndexMeta = {
      format: INDEX_FORMAT,
      version: INDEX_VERSION,
      analyzer: opts.analyze ? 'custom' : ANALYZER_NAME,
      numDocs,
      docsWithTerms,
      numTerms: vocab.size,
      numPostings,
      numBlocks,
      postingWords,
      totalLength,
      avgdl: numDocs > 0 ? totalLength / numDocs : 0,
      k1,
      b,
      scoring,
      createdAt: new Date().toISOString(),
      skippedLines,
    };
    writeFileSync(join(work, FILES.meta), JSON.stringify(meta, null, 2) + '\n');
    for (const p of runPaths) rmSync(p, { force: true });
    // Move the finished files into place; meta.json last so a crash never leaves a valid-looking
    // meta over half-written arrays.
    if (existsSync(join(outDir, FILES.meta))) rmSync(join(outDir, FILES.meta));
    for (const f of Object.values(FILES)) if (f !== FILES.meta) renameSync(join(work, f), join(outDir, f));
    renameSync(join(work, FILES.meta), join(outDir, FILES.meta));
    const seconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({ docs: numDocs, seconds, phase: 'done' });
    return { numDocs, numTerms: vocab.size, numPostings, runs, skippedLines, seconds };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Spill one run: postings grouped by term id (counting sort keeps doc order), as blocks
 *  `[termId u32][count u32][docs u32 × count][tfs u32 × count]`. */
function writeRun(path: string, vocabSize: number, terms: U32Buffer, docs: U32Buffer, tfs: U32Buffer): void {
  const n = terms.length;
  const start = new Uint32Array(vocabSize + 1);
  for (let i = 0; i < n; i++) start[terms.data[i] + 1]++;
  for (let t = 0; t < vocabSize; t++) start[t + 1] += start[t];
  const fill = start.slice(0, vocabSize);
  const sortedDocs = new Uint32Array(n);
  const sortedTfs = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const p = fill[terms.data[i]]++;
    sortedDocs[p] = docs.data[i];
    sortedTfs[p] = tfs.data[i];
  }
  const w = new BinWriter(path, 4 << 20);
  for (let t = 0; t < vocabSize; t++) {
    const a = start[t];
    const c = start[t + 1] - a;
    if (c === 0) continue;
    w.writeU32(t);
    w.writeU32(c);
    w.write(sortedDocs.subarray(a, a + c));
    w.write(sortedTfs.subarray(a, a + c));
  }
  w.close();
}

/** Compare two UTF-8 byte strings (the order terms.bin is sorted in). */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

/** Merge the runs into block-packed postings (postings.bin + blocks.*) and write the sorted term
 *  dictionary. Block maxima are computed for the index's default scoring parameters. */
function mergeRuns(
  work: string,
  runPaths: string[],
  vocab: Map<string, number>,
  factors: Float64Array,
  lucene: boolean,
): { numPostings: number; numBlocks: number; postingWords: number } {
  const V = vocab.size;
  const readers = runPaths.map((p) => new BinReader(p));
  const nextTerm = readers.map((r) => (r.done ? Infinity : r.readU32()));
  const postW = new BinWriter(join(work, FILES.postings), 4 << 20);
  const lastW = new BinWriter(join(work, FILES.blockLast));
  const offW = new BinWriter(join(work, FILES.blockOff));
  const bitsW = new BinWriter(join(work, FILES.blockBits));
  const maxW = new BinWriter(join(work, FILES.blockMax));
  const firstBlock = new Float64Array(V); // by provisional id
  const df = new Float64Array(V);
  const termMax = new Float64Array(V);
  let docs = new Uint32Array(1 << 16);
  let tfs = new Uint32Array(1 << 16);
  const scratch = new Int32Array(BLOCK);
  const blockWords = new Uint32Array(2 * BLOCK);
  const bits = new Uint8Array(2);
  const last = new Uint32Array(1);
  const max = new Float32Array(1);
  let numPostings = 0;
  let numBlocks = 0;
  let words = 0;
  for (let t = 0; t < V; t++) {
    // Gather the term's postings from every run (runs hold increasing doc ranges).
    let n = 0;
    for (let r = 0; r < readers.length; r++) {
      if (nextTerm[r] !== t) continue;
      const rd = readers[r];
      const c = rd.readU32();
      if (docs.length < n + c) {
        const size = Math.max(n + c, docs.length * 2);
        const d2 = new Uint32Array(size);
        d2.set(docs.subarray(0, n));
        docs = d2;
        const t2 = new Uint32Array(size);
        t2.set(tfs.subarray(0, n));
        tfs = t2;
      }
      rd.readU32s(docs, n, c);
      rd.readU32s(tfs, n, c);
      n += c;
      nextTerm[r] = rd.done ? Infinity : rd.readU32();
    }
    firstBlock[t] = numBlocks;
    df[t] = n;
    let best = 0;
    for (let s = 0; s < n; s += BLOCK) {
      const len = Math.min(BLOCK, n - s);
      const [w, wd, wt] = encodeBlock(docs, tfs, s, len, s === 0 ? -1 : docs[s - 1], blockWords, 0, scratch);
      postW.write(blockWords.subarray(0, w));
      offW.writeF64(words);
      words += w;
      bits[0] = wd;
      bits[1] = wt;
      bitsW.write(bits);
      last[0] = docs[s + len - 1];
      lastW.write(last);
      let m = 0;
      for (let i = s; i < s + len; i++) {
        const sat = saturation(lucene, tfs[i], factors[docs[i]]);
        if (sat > m) m = sat;
      }
      max[0] = roundUpF32(m);
      maxW.write(max);
      if (max[0] > best) best = max[0];
      numBlocks++;
    }
    termMax[t] = best;
    numPostings += n;
  }
  offW.writeF64(words);
  for (const r of readers) r.close();
  for (const w of [postW, lastW, offW, bitsW, maxW]) w.close();

  // Dictionary sorted by UTF-8 bytes so lookups can binary-search the raw blob.
  const enc = new TextEncoder();
  const entries: { bytes: Uint8Array; id: number }[] = [];
  for (const [term, id] of vocab) entries.push({ bytes: enc.encode(term), id });
  entries.sort((a, b) => compareBytes(a.bytes, b.bytes));
  const termsW = new BinWriter(join(work, FILES.terms));
  const idx = new Uint32Array(V + 1);
  const post = new Float64Array(3 * V);
  let off = 0;
  entries.forEach((e, i) => {
    idx[i] = off;
    termsW.write(e.bytes);
    off += e.bytes.length;
    post[3 * i] = firstBlock[e.id];
    post[3 * i + 1] = df[e.id];
    post[3 * i + 2] = termMax[e.id];
  });
  if (off > 0xffffffff) throw new Error('term dictionary exceeds 4 GiB');
  idx[V] = off;
  termsW.close();
  const idxW = new BinWriter(join(work, FILES.termsIdx));
  idxW.write(idx);
  idxW.close();
  const termsPostW = new BinWriter(join(work, FILES.termsPost));
  termsPostW.write(post);
  termsPostW.close();
  return { numPostings, numBlocks, postingWords: words };
}
