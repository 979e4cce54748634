// The reference's data-prep step: FlashRAG QA files → one Search-R1 parquet of training rows.
import type { QaExample } from '../core/qa.ts';
import type { SkipLimit } from './jsonl.ts';
import { readQaFileWithStats } from './qa.ts';
import { inferDataSource } from './qa.ts';
import { buildSearchR1Rows, writeSearchR1Parquet } from './searchr1-parquet.ts';

export interface PrepareOptions {
  /** QA files (FlashRAG/NQ-open JSONL, JSON arrays, or Search-R1 parquet), merged in order. */
  inputs: string[];
  /** One name per input (`nq`, `hotpotqa`); default inferred from each path. */
  dataSources?: string[];
  /** `extra_info.split` of every row (`train`, `test`). */
  split: string;
  /** Output parquet path. */
  out: string;
  skipBadLines?: boolean;
  /** With skipBadLines: fail past this many bad records per file (default: when all are bad). */
  maxSkipped?: SkipLimit;
  /** What a one-string answer list is split on (default `<|answer_split|>`). */
  answerSeparators?: readonly string[];
  /** Keep at most N examples per input. */
  limit?: number;
  /** Progress lines (default stderr). */
  log?: (message: string) => void;
}

export interface PrepareResult {
  out: string;
  rows: number;
  perSource: Record<string, number>;
  skipped: number;
}

export async function prepareSearchR1Data(opts: PrepareOptions): Promise<PrepareResult> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (opts.inputs.length === 0) throw new Error('no input files given');
  if (opts.dataSources && opts.dataSources.length !== opts.inputs.length) {
    throw new Error(
      `${opts.inputs.length} input file(s) but ${opts.dataSources.length} data source name(s): give one name per input, in the same order`,
    );
  }
  const datasets: { dataSource: string; examples: QaExample[] }[] = [];
  let skipped = 0;
  for (const [i, input] of opts.inputs.entries()) {
    // A name given by the user renames every row of the input; otherwise rows keep their own
    // data_source (a mixed file, e.g. Search-R1's test.parquet with seven sources, stays mixed)
    // and rows without one take the file's name.
    const named = opts.dataSources?.[i];
    const { examples, stats } = await readQaFileWithStats(input, {
      dataSource: named ?? inferDataSource(input),
      forceSource: named !== undefined,
      skipBadLines: opts.skipBadLines ?? false,
      ...(opts.maxSkipped ? { maxSkipped: opts.maxSkipped } : {}),
      ...(opts.answerSeparators ? { answerSeparators: opts.answerSeparators } : {}),
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      log,
    });
    skipped += stats.skipped;
    const bySource = new Map<string, QaExample[]>();
    for (const ex of examples) {
      const list = bySource.get(ex.dataSource);
      if (list) list.push(ex);
      else bySource.set(ex.dataSource, [ex]);
    }
    for (const [dataSource, group] of bySource) datasets.push({ dataSource, examples: group });
    log(
      `search-r1 data: ${examples.length} examples from ${input} as ${[...bySource.entries()].map(([s, g]) => `"${s}" (${g.length})`).join(', ')}`,
    );
  }
  const rows = buildSearchR1Rows(datasets, opts.split);
  await writeSearchR1Parquet(opts.out, rows);
  const perSource = Object.fromEntries(datasets.map((d) => [d.dataSource, d.examples.length]));
  log(`search-r1 data: wrote ${rows.length} rows (split "${opts.split}") to ${opts.out}`);
  return { out: opts.out, rows: rows.length, perSource, skipped };
}
