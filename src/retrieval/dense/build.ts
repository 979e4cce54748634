// `search-r1 index --dense`: embed a corpus with a BERT encoder into a dense index directory.
// Resumable: work goes to `<out>.partial/`, and after every chunk of passages the vectors and
// passages are fsynced and `state.json` records how many are done; re-running the same command
// after a crash truncates the files to that point and continues with the next passage. The
// finished directory is renamed into place with meta.json written last.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { BertEncoder } from '../../engine/bert/encoder.ts';
import { readCorpus } from '../../data/corpus.ts';
import { DENSE_FORMAT, DENSE_VERSION, FILES } from './format.ts';
import type { DenseMeta, HnswMeta } from './format.ts';
import { PassageWriter } from './passages.ts';
import { VECTOR_DTYPES, VectorStore, VectorWriter } from './store.ts';
import type { VectorDtype } from './store.ts';
import { buildHnsw, writeHnswFiles } from './hnsw-build.ts';

export interface DenseBuildOptions {
  encoder: string | BertEncoder;
  dtype?: VectorDtype;
  /** Passages per encoder call and per checkpoint of the resumable state. */
  chunk?: number;
  /** Also build an HNSW graph (M neighbours per node, efConstruction beam). */
  hnsw?: { M?: number; efConstruction?: number; efSearch?: number } | null;
  skipBadLines?: boolean;
  onProgress?: (p: {
    done: number;
    total: number | null;
    seconds: number;
    phase: 'embed' | 'hnsw' | 'done';
  }) => void;
  /** Tests: stop (throw) after this many chunks, as a crash would. */
  crashAfterChunks?: number;
}

interface BuildState {
  corpus: string;
  corpusSize: number;
  corpusMtimeMs: number;
  encoder: string;
  dtype: VectorDtype;
  dim: number;
  done: number;
  passageBytes: number;
}

/** Newline count of an uncompressed file (the progress bar's total), null for .gz. */
function countLines(path: string): number | null {
  if (path.endsWith('.gz')) return null;
  const buf = readFileSync(path);
  let n = 0;
  for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  if (buf.length > 0 && buf[buf.length - 1] !== 10) n++;
  return n;
}

export async function buildDenseIndex(corpus: string, out: string, o: DenseBuildOptions): Promise<DenseMeta> {
  const dtype = o.dtype ?? 'f32';
  if (!VECTOR_DTYPES.includes(dtype))
    throw new Error(`--dtype ${dtype}: expected ${VECTOR_DTYPES.join(' | ')}`);
  const enc = typeof o.encoder === 'string' ? BertEncoder.load(o.encoder) : o.encoder;
  const encoderPath = resolve(enc.dir);
  const target = resolve(out);
  const part = `${target}.partial`;
  const st = statSync(corpus);
  const fresh: BuildState = {
    corpus: resolve(corpus),
    corpusSize: st.size,
    corpusMtimeMs: st.mtimeMs,
    encoder: encoderPath,
    dtype,
    dim: enc.dim,
    done: 0,
    passageBytes: 0,
  };
  const statePath = join(part, 'state.json');
  let state = fresh;
  if (existsSync(statePath)) {
    const old = JSON.parse(readFileSync(statePath, 'utf8')) as BuildState;
    const same = (['corpus', 'corpusSize', 'corpusMtimeMs', 'encoder', 'dtype', 'dim'] as const).every(
      (k) => old[k] === fresh[k],
    );
    if (same) state = old;
  }
  if (state === fresh) {
    rmSync(part, { recursive: true, force: true });
    mkdirSync(part, { recursive: true });
  }
  const vw = new VectorWriter(
    join(part, FILES.vectors),
    join(part, FILES.scales),
    enc.dim,
    dtype,
    state.done,
  );
  const pw = new PassageWriter(
    join(part, FILES.passages),
    join(part, FILES.offsets),
    state.done > 0 ? { count: state.done, bytes: state.passageBytes } : null,
  );
  const total = countLines(corpus);
  const t0 = performance.now();
  const chunk = o.chunk ?? 256;
  let chunks = 0;
  let buf: { id: string; contents: string }[] = [];
  const flush = () => {
    if (buf.length === 0) return;
    const vecs = enc.embed(
      buf.map((p) => p.contents),
      'passage',
    );
    const rows = new Float32Array(vecs.length * enc.dim);
    vecs.forEach((v, i) => rows.set(v, i * enc.dim));
    vw.append(rows);
    pw.append(buf);
    vw.sync();
    state = { ...state, done: vw.count, passageBytes: pw.bytes };
    writeFileSync(`${statePath}.tmp`, JSON.stringify(state));
    renameSync(`${statePath}.tmp`, statePath);
    buf = [];
    o.onProgress?.({ done: state.done, total, seconds: (performance.now() - t0) / 1000, phase: 'embed' });
    if (o.crashAfterChunks !== undefined && ++chunks >= o.crashAfterChunks)
      throw new Error(`simulated crash after ${chunks} chunks`);
  };
  try {
    let seen = 0;
    for await (const rec of readCorpus(corpus, { skipBadLines: o.skipBadLines })) {
      if (seen++ < state.done) continue; // resumed: already embedded
      buf.push({ id: rec.id, contents: rec.contents });
      if (buf.length >= chunk) flush();
    }
    flush();
  } finally {
    vw.close();
  }
  pw.finish();
  let hnsw: HnswMeta | null = null;
  if (o.hnsw) {
    o.onProgress?.({ done: state.done, total, seconds: (performance.now() - t0) / 1000, phase: 'hnsw' });
    const store = new VectorStore(
      join(part, FILES.vectors),
      enc.dim,
      state.done,
      dtype,
      join(part, FILES.scales),
    );
    const g = buildHnsw(store, { M: o.hnsw.M, efConstruction: o.hnsw.efConstruction });
    hnsw = writeHnswFiles(part, g, o.hnsw.efSearch ?? 64);
  }
  const meta: DenseMeta = {
    format: DENSE_FORMAT,
    version: DENSE_VERSION,
    dim: enc.dim,
    count: state.done,
    dtype,
    metric: 'ip',
    encoder: { path: encoderPath, settings: enc.settings },
    source: { corpus: resolve(corpus) },
    hnsw,
  };
  rmSync(statePath);
  writeFileSync(join(part, FILES.meta), JSON.stringify(meta, null, 2) + '\n');
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) renameSync(target, old);
  renameSync(part, target);
  rmSync(old, { recursive: true, force: true });
  o.onProgress?.({ done: state.done, total, seconds: (performance.now() - t0) / 1000, phase: 'done' });
  if (typeof o.encoder === 'string') enc.dispose();
  return meta;
}
