// Index construction with bounded memory, on all cores, resumable:
//  - the main thread reads the corpus and hands batches of passages to analysis workers
//    (build-worker.ts; inline when threads = 0 or a custom analyzer is given), then maps their
//    local term ids to provisional index ids in document order (so any thread count gives the same
//    files), writes the passage store and buffers postings (term, doc, tf);
//  - a full buffer (the memory budget) is spilled as a run sorted by term id, followed by a
//    checkpoint (runs, store/doclens sizes, vocabulary log): a crashed build started again with the
//    same corpus and options resumes after the last checkpoint;
//  - the runs are merged into block-packed postings (doc numbers only grow, so run r holds smaller
//    doc numbers than run r+1 and each term's blocks concatenate in run order).
// The term dictionary (term → provisional id) stays in memory: it grows with the vocabulary.
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ANALYZER_NAME, EnglishAnalyzer } from '../analyzer.ts';
import { readCorpus } from '../../data/corpus.ts';
import type { DataError } from '../../data/errors.ts';
import { BatchAnalyzer, type AnalyzedBatch } from './analyze-batch.ts';
import {
  BLOCK,
  BinReader,
  BinWriter,
  FILES,
  INDEX_FORMAT,
  INDEX_VERSION,
  assertLittleEndian,
  readTyped,
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

export interface BuildProgress {
  docs: number;
  seconds: number;
  phase: 'index' | 'merge' | 'done';
  /** Estimated share of the corpus read (plain .jsonl files only; from bytes stored vs file size). */
  fraction?: number;
  /** Estimated seconds to the end of indexing (not counting the merge), when `fraction` is known. */
  etaSeconds?: number;
  /** Passages skipped because a previous run had indexed them (resumed build). */
  resumedDocs: number;
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
   *  index Lucene's own token streams; a custom analyzer runs inline (threads = 0). */
  analyze?: (contents: string) => string[];
  /** Analysis worker threads (default: the machine's cores; 0 = analyse on the main thread). */
  threads?: number;
  /** Resume a crashed build from its last checkpoint (default: true for corpus files, whose path,
   *  size and mtime identify them; false for iterables, which must promise to yield the same docs). */
  resume?: boolean;
  /** Progress callback, called at most a few times per second and once at the end. */
  onProgress?: (p: BuildProgress) => void;
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
  /** Passages taken over from a checkpoint of an earlier, interrupted build. */
  resumedDocs: number;
}

const BYTES_PER_BUFFERED_POSTING = 12; // term u32 + doc u32 + tf u32
const BATCH_DOCS = 512;

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

/** Growable Int32Array of local → provisional term ids (−1 = not yet mapped). */
class IdMap {
  ids = new Int32Array(1024).fill(-1);
  terms: string[] = [];
  add(newTerms: string[]): void {
    for (const t of newTerms) this.terms.push(t);
    if (this.terms.length > this.ids.length) {
      const next = new Int32Array(Math.max(this.terms.length, this.ids.length * 2)).fill(-1);
      next.set(this.ids);
      this.ids = next;
    }
  }
}

interface Checkpoint {
  identity: string;
  docs: number;
  runs: number;
  storeBytes: number;
  vocabSize: number;
  totalLength: number;
  skipped: number;
}

/** A pool of analysis workers; batches go round-robin and come back in order per worker. */
class AnalysisWorkers {
  private readonly workers: Worker[] = [];
  private readonly queues: { resolve: (b: AnalyzedBatch) => void; reject: (e: Error) => void }[][] = [];
  constructor(n: number) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL('./thread.mjs', import.meta.url), {
        workerData: { entry: new URL('./build-worker.ts', import.meta.url).href },
      });
      const q: { resolve: (b: AnalyzedBatch) => void; reject: (e: Error) => void }[] = [];
      w.on('message', (m: { ok?: AnalyzedBatch; error?: string }) => {
        const p = q.shift();
        if (m.ok) p?.resolve(m.ok);
        else p?.reject(new Error(`analysis worker: ${m.error}`));
      });
      w.on('error', (e) => {
        for (const p of q.splice(0)) p.reject(e);
      });
      this.workers.push(w);
      this.queues.push(q);
    }
  }
  get size(): number {
    return this.workers.length;
  }
  run(worker: number, docs: CorpusDoc[]): Promise<AnalyzedBatch> {
    return new Promise((resolve, reject) => {
      this.queues[worker].push({ resolve, reject });
      this.workers[worker].postMessage(docs);
    });
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * Build an index from a corpus file (`.jsonl`, `.jsonl.gz`, `.json` array) or any (async) iterable
 * of `{id, contents}` into `outDir` (created). Work happens in `outDir/.build` (kept after a crash
 * for resuming); finished files are moved into place with meta.json last.
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
  const isFile = typeof corpus === 'string';
  const reader = isFile
    ? readCorpus(corpus, { skipBadLines: opts.skipBadLines, onSkip: opts.onSkip, log: opts.log })
    : null;
  const docs: AsyncIterable<CorpusDoc> | Iterable<CorpusDoc> = reader ?? (corpus as AsyncIterable<CorpusDoc>);
  const fileSize = isFile ? statSync(corpus).size : 0;
  const estimable = isFile && /\.jsonl$/i.test(corpus);
  const identity = JSON.stringify({
    corpus: isFile
      ? { path: resolve(corpus), size: fileSize, mtimeMs: statSync(corpus).mtimeMs }
      : 'iterable',
    k1,
    b,
    scoring,
    analyzer: opts.analyze ? 'custom' : ANALYZER_NAME,
    skipBadLines: opts.skipBadLines === true,
  });

  mkdirSync(outDir, { recursive: true });
  const work = join(outDir, '.build');
  const cpPath = join(work, 'checkpoint.json');
  const vocabLogPath = join(work, 'vocab.jsonl');
  let cp: Checkpoint | null = null;
  if ((opts.resume ?? isFile) && existsSync(cpPath)) {
    const c = JSON.parse(readFileSync(cpPath, 'utf8')) as Checkpoint;
    if (c.identity === identity) cp = c;
  }
  if (!cp) {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    writeFileSync(vocabLogPath, '');
  }

  const threads = opts.analyze ? 0 : Math.max(0, opts.threads ?? availableParallelism());
  const pool = threads > 0 ? new AnalysisWorkers(threads) : null;
  try {
    const english = opts.analyze ? null : new EnglishAnalyzer();
    const inline = new BatchAnalyzer(opts.analyze ?? ((text: string) => english!.analyze(text)));
    const vocab = new Map<string, number>(); // term → provisional id (first-seen order)
    const vocabList: string[] = [];
    const termBuf = new U32Buffer();
    const docBuf = new U32Buffer();
    const tfBuf = new U32Buffer();
    const docLens = new U32Buffer();
    let runs = 0;
    let numDocs = 0;
    let totalLength = 0;
    let vocabLogged = 0;
    let lastReport = 0;
    let resumedDocs = 0;
    let skippedBefore = 0;
    if (cp) {
      for (const line of readFileSync(vocabLogPath, 'utf8').split('\n').slice(0, cp.vocabSize)) {
        const t = JSON.parse(line) as string;
        vocab.set(t, vocabList.length);
        vocabList.push(t);
      }
      if (vocabList.length !== cp.vocabSize)
        throw new Error(`${vocabLogPath}: truncated checkpoint vocabulary`);
      vocabLogged = cp.vocabSize;
      const lens = readTyped(join(work, FILES.docLens), Uint32Array);
      for (let d = 0; d < cp.docs; d++) docLens.push(lens[d]);
      numDocs = resumedDocs = cp.docs;
      totalLength = cp.totalLength;
      runs = cp.runs;
      skippedBefore = cp.skipped;
      for (let r = runs; existsSync(join(work, `run-${r}.bin`)); r++) rmSync(join(work, `run-${r}.bin`));
    }
    const storeW = new BinWriter(join(work, FILES.store), 4 << 20, cp ? cp.storeBytes : undefined);
    const storeIdxW = new BinWriter(join(work, FILES.storeIdx), 1 << 20, cp ? 8 * cp.docs : undefined);
    const docLensW = new BinWriter(join(work, FILES.docLens), 1 << 20, cp ? 4 * cp.docs : undefined);
    const maps = Array.from({ length: Math.max(1, threads) }, () => new IdMap());

    const spill = (): void => {
      if (termBuf.length === 0) return;
      writeRun(join(work, `run-${runs}.bin`), vocab.size, termBuf, docBuf, tfBuf);
      runs++;
      termBuf.length = docBuf.length = tfBuf.length = 0;
      // Checkpoint: everything up to numDocs is durable.
      storeW.sync();
      storeIdxW.sync();
      docLensW.sync();
      let log = '';
      for (; vocabLogged < vocabList.length; vocabLogged++)
        log += JSON.stringify(vocabList[vocabLogged]) + '\n';
      appendFileSync(vocabLogPath, log);
      const c: Checkpoint = {
        identity,
        docs: numDocs,
        runs,
        storeBytes: storeW.bytes,
        vocabSize: vocabList.length,
        totalLength,
        skipped: skippedBefore + (reader?.stats.skipped ?? 0),
      };
      writeFileSync(cpPath + '.tmp', JSON.stringify(c));
      renameSync(cpPath + '.tmp', cpPath);
    };

    const report = (): void => {
      if (!opts.onProgress) return;
      const now = performance.now();
      if (now - lastReport < 250) return;
      lastReport = now;
      const seconds = (now - t0) / 1000;
      const p: BuildProgress = { docs: numDocs, seconds, phase: 'index', resumedDocs };
      if (estimable && fileSize > 0) {
        // A JSONL line is its store record plus ~22 bytes of JSON syntax and escapes.
        const fraction = Math.min(0.999, (storeW.bytes + 22 * numDocs) / fileSize);
        const resumedFraction = resumedDocs > 0 ? (resumedDocs / numDocs) * fraction : 0;
        p.fraction = fraction;
        if (fraction > resumedFraction + 1e-6)
          p.etaSeconds = (seconds * (1 - fraction)) / (fraction - resumedFraction);
      }
      opts.onProgress(p);
    };

    // Map one analysed batch into postings, in document order.
    const consume = (map: IdMap, r: AnalyzedBatch): void => {
      map.add(r.newTerms);
      const ids = map.ids;
      const enc = r.enc;
      let k = 0;
      let off = 0;
      for (let i = 0; i < r.recLens.length; i++) {
        const docNum = numDocs++;
        if (numDocs > 0x7ffffffe) throw new Error('corpus has more than 2^31-2 passages');
        storeIdxW.writeF64(storeW.bytes);
        storeW.write(r.store.subarray(off, off + r.recLens[i]));
        off += r.recLens[i];
        const dl = enc[k++];
        const nu = enc[k++];
        docLensW.writeU32(dl);
        docLens.push(dl);
        totalLength += dl;
        for (let j = 0; j < nu; j++) {
          const l = enc[k++];
          const tf = enc[k++];
          let g = ids[l];
          if (g < 0) {
            const t = map.terms[l];
            const known = vocab.get(t);
            if (known === undefined) {
              g = vocabList.length;
              vocab.set(t, g);
              vocabList.push(t);
            } else g = known;
            ids[l] = g;
          }
          termBuf.push(g);
          docBuf.push(docNum);
          tfBuf.push(tf);
        }
        if (termBuf.length >= maxBuffered) spill();
      }
      report();
    };

    let toSkip = resumedDocs;
    let batch: CorpusDoc[] = [];
    let seq = 0;
    const inflight: { map: IdMap; result: Promise<AnalyzedBatch> }[] = [];
    const dispatch = async (): Promise<void> => {
      const docsOfBatch = batch;
      batch = [];
      if (!pool) {
        consume(maps[0], inline.run(docsOfBatch));
        return;
      }
      const w = seq++ % pool.size;
      inflight.push({ map: maps[w], result: pool.run(w, docsOfBatch) });
      if (inflight.length >= 2 * pool.size) {
        const next = inflight.shift()!;
        consume(next.map, await next.result);
      }
    };
    for await (const doc of docs as AsyncIterable<CorpusDoc>) {
      if (toSkip > 0) {
        toSkip--;
        continue;
      }
      batch.push({ id: doc.id, contents: doc.contents });
      if (batch.length >= BATCH_DOCS) await dispatch();
    }
    if (toSkip > 0)
      throw new Error(
        `the corpus has fewer passages than the checkpoint of the interrupted build (${resumedDocs})`,
      );
    if (batch.length > 0) await dispatch();
    for (const next of inflight.splice(0)) consume(next.map, await next.result);
    const skippedLines = (reader?.stats.skipped ?? 0) + skippedBefore;
    spill();
    storeIdxW.writeF64(storeW.bytes);
    storeW.close();
    storeIdxW.close();
    docLensW.close();
    const runPaths = Array.from({ length: runs }, (_, r) => join(work, `run-${r}.bin`));
    opts.onProgress?.({
      docs: numDocs,
      seconds: (performance.now() - t0) / 1000,
      phase: 'merge',
      resumedDocs,
    });

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
    // Move the finished files into place; meta.json last so a crash never leaves a valid-looking
    // meta over half-written arrays.
    if (existsSync(join(outDir, FILES.meta))) rmSync(join(outDir, FILES.meta));
    for (const f of Object.values(FILES)) if (f !== FILES.meta) renameSync(join(work, f), join(outDir, f));
    renameSync(join(work, FILES.meta), join(outDir, FILES.meta));
    rmSync(work, { recursive: true, force: true });
    const seconds = (performance.now() - t0) / 1000;
    opts.onProgress?.({ docs: numDocs, seconds, phase: 'done', resumedDocs });
    return { numDocs, numTerms: vocab.size, numPostings, runs, skippedLines, seconds, resumedDocs };
  } finally {
    await pool?.close();
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
