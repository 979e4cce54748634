// Library form of `search-r1 index --dense`: embed a corpus (or convert a FAISS index) into a
// dense index directory, with a progress bar on a terminal and periodic lines otherwise.
import cliProgress from 'cli-progress';
import { buildDenseIndex } from './build.ts';
import { convertFaissIndex } from './convert.ts';
import type { DenseMeta } from './format.ts';
import { VECTOR_DTYPES } from './store.ts';
import type { VectorDtype } from './store.ts';

export interface DenseIndexCommandOptions {
  corpus: string;
  out: string;
  encoder?: string;
  dtype?: string;
  /** FAISS index file, or its byte-split parts in order. */
  faiss?: string[];
  hnsw?: boolean;
  hnswM?: number;
  efConstruction?: number;
  efSearch?: number;
  skipBadLines?: boolean;
  progress?: boolean;
}

export async function indexDense(o: DenseIndexCommandOptions): Promise<DenseMeta> {
  const dtype = (o.dtype ?? (o.faiss ? 'f16' : 'f32')) as VectorDtype;
  if (!VECTOR_DTYPES.includes(dtype))
    throw new Error(`--dtype ${o.dtype}: expected ${VECTOR_DTYPES.join(' | ')}`);
  const tty = process.stderr.isTTY === true && o.progress !== false;
  const bar = tty
    ? new cliProgress.SingleBar(
        {
          format: 'index --dense |{bar}| {value}/{total} passages, {rate}/s, eta {eta_formatted}',
          hideCursor: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let started = false;
  let lastLine = 0;
  const report = (done: number, total: number | null, seconds: number) => {
    const rate = seconds > 0 ? Math.round(done / seconds) : 0;
    if (bar) {
      if (!started) bar.start(total ?? done, done, { rate });
      started = true;
      if (total !== null) bar.setTotal(total);
      bar.update(done, { rate });
    } else if (o.progress !== false && seconds - lastLine >= 10) {
      lastLine = seconds;
      process.stderr.write(
        `index --dense: ${done.toLocaleString('en-US')}${total ? `/${total.toLocaleString('en-US')}` : ''} passages, ${rate}/s\n`,
      );
    }
  };
  const t0 = performance.now();
  try {
    if (o.faiss && o.faiss.length > 0)
      return await convertFaissIndex(o.faiss, o.corpus, o.out, {
        dtype,
        encoder: o.encoder,
        skipBadLines: o.skipBadLines,
        onProgress: (d, t) => report(d, t, (performance.now() - t0) / 1000),
      });
    if (!o.encoder)
      throw new Error('index --dense needs --encoder DIR (or --faiss FILE… to convert a FAISS index)');
    return await buildDenseIndex(o.corpus, o.out, {
      encoder: o.encoder,
      dtype,
      skipBadLines: o.skipBadLines,
      hnsw: o.hnsw ? { M: o.hnswM, efConstruction: o.efConstruction, efSearch: o.efSearch } : null,
      onProgress: (p) => {
        if (p.phase === 'embed') report(p.done, p.total, p.seconds);
        if (p.phase === 'hnsw' && o.progress !== false) {
          bar?.stop();
          process.stderr.write(`index --dense: building the HNSW graph over ${p.done} vectors\n`);
        }
      },
    });
  } finally {
    bar?.stop();
  }
}
