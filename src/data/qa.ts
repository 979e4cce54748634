// Question–answer files → the common QaExample: FlashRAG JSONL (`question`, `golden_answers`),
// NQ-open JSONL (`question`, `answer`), JSON arrays of either, and Search-R1 parquet rows.
import { basename, dirname } from 'node:path';
import type { QaExample } from '../protocol/types.ts';
import { pyStrip } from '../protocol/text.ts';
import {
  DataError,
  expectObject,
  expectString,
  expectStringList,
  jsonTypeName,
  type RecordLocation,
} from './errors.ts';
import { handleBadRecord, newStats, reportSkipped, type ReadStats, type SkipOptions } from './jsonl.ts';
import { readRecords, type RecordFormat } from './records.ts';
import { readSearchR1Parquet, searchR1RowToQa } from './searchr1-parquet.ts';

export interface QaReadOptions extends SkipOptions {
  /** Dataset name for JSONL files (parquet rows carry their own). Default: inferred from the path. */
  dataSource?: string;
  format?: RecordFormat;
  /** Keep only the first N examples. */
  limit?: number;
}

const SPLIT_NAMES = new Set(['train', 'dev', 'test', 'val', 'valid', 'validation']);

/**
 * `nq_open.dev.jsonl` → `nq_open`; FlashRAG's `nq/test.jsonl` → `nq` (a bare split name means the
 * dataset is the folder).
 */
export function inferDataSource(file: string): string {
  const stem = basename(file).split('.')[0] ?? '';
  if (stem !== '' && !SPLIT_NAMES.has(stem.toLowerCase())) return stem;
  const parent = basename(dirname(file));
  return parent !== '' && parent !== '.' ? parent : stem || 'unknown';
}

/** Gold answers: a list of strings, or a single string (taken as one answer, as the reference's em_check does). */
function goldAnswers(v: unknown, loc: RecordLocation, field: string): string[] {
  if (typeof v === 'string') return [v];
  const list = expectStringList(v, loc, field);
  if (list.length === 0)
    throw new DataError({ ...loc, field }, 'empty list: a question needs at least one gold answer');
  return list;
}

/** One FlashRAG or NQ-open record → QaExample. `index` (0-based line/element) is the id when there is none. */
export function toQaExample(raw: unknown, loc: RecordLocation, index: number, dataSource: string): QaExample {
  const r = expectObject(raw, loc);
  const question = expectString(r.question, loc, 'question');
  if (pyStrip(question) === '') throw new DataError({ ...loc, field: 'question' }, 'empty');
  let goldenAnswers: string[];
  if (r.golden_answers !== undefined) goldenAnswers = goldAnswers(r.golden_answers, loc, 'golden_answers');
  else if (r.answer !== undefined) goldenAnswers = goldAnswers(r.answer, loc, 'answer');
  else
    throw new DataError(
      { ...loc, field: 'golden_answers' },
      'missing (a QA record needs "golden_answers" or "answer")',
    );
  let id: string;
  if (r.id === undefined || r.id === null) id = String(index);
  else if (typeof r.id === 'string' || (typeof r.id === 'number' && Number.isFinite(r.id))) id = String(r.id);
  else throw new DataError({ ...loc, field: 'id' }, `expected a string or number, got ${jsonTypeName(r.id)}`);
  const ex: QaExample = { id, question, goldenAnswers, dataSource };
  if (r.metadata !== undefined && r.metadata !== null)
    ex.metadata = expectObject(r.metadata, loc, 'metadata');
  return ex;
}

/** Read a QA file with its counters (`skipped` > 0 only with skipBadLines). */
export async function readQaFileWithStats(
  file: string,
  opts: QaReadOptions = {},
): Promise<{ examples: QaExample[]; stats: ReadStats }> {
  const limit = opts.limit ?? Infinity;
  if (file.endsWith('.parquet')) {
    const { rows, stats: pqStats } = await readSearchR1Parquet(file, { ...opts, log: null });
    const stats: ReadStats = { ...pqStats, records: 0 };
    const examples: QaExample[] = [];
    for (let i = 0; i < rows.length && examples.length < limit; i++) {
      try {
        examples.push(searchR1RowToQa(rows[i]!, { file, row: i }));
        stats.records++;
      } catch (err) {
        handleBadRecord(err, stats, opts);
      }
    }
    reportSkipped(file, stats, opts);
    return { examples, stats };
  }
  const dataSource = opts.dataSource ?? inferDataSource(file);
  const reader = readRecords(file, {
    ...opts,
    map: (v, loc, index) => toQaExample(v, loc, index, dataSource),
  });
  const examples: QaExample[] = [];
  for await (const ex of reader) {
    examples.push(ex);
    if (examples.length >= limit) break;
  }
  return { examples, stats: reader.stats ?? newStats() };
}

/** Read a QA file (FlashRAG / NQ-open JSONL or JSON array, Search-R1 parquet) as QaExample[]. */
export async function readQaFile(file: string, opts: QaReadOptions = {}): Promise<QaExample[]> {
  return (await readQaFileWithStats(file, opts)).examples;
}
