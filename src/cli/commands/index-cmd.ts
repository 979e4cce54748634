// `search-r1 index <corpus> --out <dir>`: build the embedded BM25 index of a passage corpus.
import type { Command } from 'commander';
import { buildIndex, type BuildStats } from '../../retrieval/bm25/build.ts';
import { numberOption } from '../options.ts';
import { indexDense } from '../../retrieval/dense/cli.ts';

export interface IndexCommandOptions {
  corpus: string;
  out: string;
  /** Postings buffered in memory before a sorted run is spilled to disk (MiB). */
  memoryMb?: number;
  skipBadLines?: boolean;
  k1?: number;
  b?: number;
  /** Default scoring recorded in the index: Lucene 8.7's (one-byte norms, float32) instead of exact BM25. */
  luceneCompat?: boolean;
  /** Progress line on stderr (default true). */
  progress?: boolean;
}

/** Library form of the command: build the index and return its statistics. */
export async function indexCorpus(o: IndexCommandOptions): Promise<BuildStats> {
  const tty = process.stderr.isTTY === true;
  let lastLine = 0;
  const stats = await buildIndex(o.corpus, o.out, {
    memoryBudgetBytes: Math.round((o.memoryMb ?? 256) * 1024 * 1024),
    skipBadLines: o.skipBadLines,
    k1: o.k1,
    b: o.b,
    scoring: o.luceneCompat ? 'lucene' : 'bm25',
    onProgress:
      o.progress === false
        ? undefined
        : ({ docs, seconds, phase }) => {
            const rate = seconds > 0 ? Math.round(docs / seconds) : 0;
            const line = `index: ${phase === 'merge' ? 'merging runs after ' : ''}${docs.toLocaleString('en-US')} passages, ${rate.toLocaleString('en-US')} passages/s, ${seconds.toFixed(1)} s`;
            if (tty) process.stderr.write(`\r${line}\x1b[K${phase === 'done' ? '\n' : ''}`);
            else if (phase !== 'index' || seconds - lastLine >= 10) {
              lastLine = seconds;
              process.stderr.write(`${line}\n`);
            }
          },
  });
  return stats;
}

export function register(program: Command): void {
  program
    .command('index')
    .description('Build a BM25 index (Lucene-like English analysis) of a wiki-18-style corpus')
    .argument(
      '<corpus>',
      'passages: .jsonl, .jsonl.gz or a .json array; records {id, contents} or {id, title, text}',
    )
    .requiredOption('-o, --out <dir>', 'index directory to write')
    .option(
      '--memory-mb <n>',
      'postings buffered before spilling a sorted run to disk',
      numberOption('memory-mb'),
      256,
    )
    .option('--skip-bad-lines', 'skip and count malformed records instead of failing')
    .option('--k1 <x>', 'default BM25 k1 stored in the index', numberOption('k1'), 0.9)
    .option('--b <x>', 'default BM25 b stored in the index', numberOption('b'), 0.4)
    .option('--lucene-compat', 'score as Lucene 8.7 / Pyserini by default (one-byte length norms, float32)')
    .option('--no-progress', 'no progress line on stderr')
    .option('--dense', 'build a dense (embedding) index instead: needs --encoder, or --faiss to convert')
    .option('--encoder <dir>', 'dense: BERT-family encoder folder (E5, BGE, MiniLM)')
    .option('--dtype <type>', 'dense: vector storage f32 | f16 | int8 (default f32; f16 for --faiss)')
    .option(
      '--faiss <files...>',
      'dense: convert this FAISS IndexFlatIP / IndexHNSWFlat (or its split parts, in order)',
    )
    .option('--hnsw', 'dense: also build an HNSW graph (else search is exact)')
    .option('--hnsw-m <n>', 'dense: HNSW neighbours per node', numberOption('hnsw-m'), 16)
    .option('--ef-construction <n>', 'dense: HNSW build beam', numberOption('ef-construction'), 100)
    .option(
      '--ef-search <n>',
      'dense: default HNSW search beam stored in the index',
      numberOption('ef-search'),
      64,
    )
    .action(
      async (
        corpus: string,
        opts: {
          out: string;
          memoryMb: number;
          skipBadLines?: boolean;
          k1: number;
          b: number;
          luceneCompat?: boolean;
          progress: boolean;
          dense?: boolean;
          encoder?: string;
          dtype?: string;
          faiss?: string[];
          hnsw?: boolean;
          hnswM: number;
          efConstruction: number;
          efSearch: number;
        },
      ) => {
        if (opts.dense || opts.faiss) {
          const m = await indexDense({ corpus, ...opts });
          console.log(
            `dense index: ${m.count.toLocaleString('en-US')} vectors × ${m.dim} (${m.dtype})${m.hnsw ? ', HNSW' : ''} → ${opts.out}`,
          );
          return;
        }
        const s = await indexCorpus({ corpus, ...opts });
        console.log(
          `indexed ${s.numDocs.toLocaleString('en-US')} passages (${s.numTerms.toLocaleString('en-US')} terms, ` +
            `${s.numPostings.toLocaleString('en-US')} postings, ${s.runs} run${s.runs === 1 ? '' : 's'}` +
            `${s.skippedLines ? `, ${s.skippedLines} bad records skipped` : ''}) in ${s.seconds.toFixed(1)} s → ${opts.out}`,
        );
      },
    );
}
