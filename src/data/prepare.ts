// The reference's data-prep step: FlashRAG QA files → one Search-R1 parquet of training rows.
import type { QaExample } from '../protocol/types.ts';
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
    const dataSource = opts.dataSources?.[i] ?? inferDataSource(input);
    const { examples, stats } = await readQaFileWithStats(input, {
      dataSource,
      skipBadLines: opts.skipBadLines ?? false,
      ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
      log,
    });
    skipped += stats.skipped;
    // Parquet inputs carry their own data_source; the name given here wins so uids stay unique.
    datasets.push({ dataSource, examples });
    log(`search-r1 data: ${examples.length} examples from ${input} as "${dataSource}"`);
  }
  const rows = buildSearchR1Rows(datasets, opts.split);
  await writeSearchR1Parquet(opts.out, rows);
  const perSource = Object.fromEntries(datasets.map((d) => [d.dataSource, d.examples.length]));
  log(`search-r1 data: wrote ${rows.length} rows (split "${opts.split}") to ${opts.out}`);
  return { out: opts.out, rows: rows.length, perSource, skipped };
}
