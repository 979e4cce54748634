// Question–answer files → the common QaExample: FlashRAG JSONL (`question`, `golden_answers`),
// NQ-open JSONL (`question`, `answer`), JSON arrays of either, and Search-R1 parquet rows.
import { basename, dirname } from 'node:path';
import type { QaExample } from '../core/qa.ts';
import { throwIssues, type DataIssue, type RecordLocation } from './errors.ts';
import { ANSWERS_SHAPE, answerList, parseRecord, QaRecordSchema } from './shapes.ts';
import { handleBadRecord, newStats, reportSkipped, type ReadStats, type SkipOptions } from './jsonl.ts';
import { readRecords, type RecordFormat } from './records.ts';
import { readSearchR1Parquet, searchR1RowToQa } from './searchr1-parquet.ts';

export interface QaReadOptions extends SkipOptions {
  /** Dataset name for JSONL files (parquet rows carry their own). Default: inferred from the path. */
  dataSource?: string;
  format?: RecordFormat;
  /** Keep only the first N examples. */
  limit?: number;
  /** `dataSource` replaces the rows' own data_source (the user renamed it); default: rows keep theirs. */
  forceSource?: boolean;
  /** What a one-string answer list is split on (default `<|answer_split|>`). */
  answerSeparators?: readonly string[];
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

/**
 * One QA record → QaExample. Accepts FlashRAG / NQ-open / HotpotQA / 2WikiMultihopQA / MuSiQue
 * records (see QaRecordSchema); every problem of a bad record is reported at once. `index`
 * (0-based line/element) is the id when the record has none. The record's own `data_source`
 * wins over the file's name unless `forceSource` (the user named the source).
 */
export function toQaExample(
  raw: unknown,
  loc: RecordLocation,
  index: number,
  dataSource: string,
  opts: { separators?: readonly string[]; forceSource?: boolean } = {},
): QaExample {
  const r = parseRecord(QaRecordSchema, raw, loc);
  const issues: DataIssue[] = [];
  const field = r.golden_answers !== undefined && r.golden_answers !== null ? 'golden_answers' : 'answer';
  const given = r[field];
  let goldenAnswers = given === undefined || given === null ? null : answerList(given, opts.separators);
  if (given === undefined || given === null)
    issues.push({
      field: 'golden_answers',
      reason: `missing (a QA record needs "golden_answers" or "answer": ${ANSWERS_SHAPE})`,
    });
  else if (goldenAnswers === null)
    issues.push({ field, reason: 'empty list: a question needs at least one gold answer' });
  throwIssues(loc, issues);
  // MuSiQue lists other accepted spellings beside its one answer.
  if (field === 'answer' && r.answer_aliases) goldenAnswers = [...goldenAnswers!, ...r.answer_aliases];
  const rawId = r.id ?? r._id;
  const id = rawId === undefined || rawId === null ? String(index) : String(rawId);
  const source =
    !opts.forceSource && typeof r.data_source === 'string' && r.data_source !== ''
      ? r.data_source
      : dataSource;
  const ex: QaExample = { id, question: r.question, goldenAnswers: goldenAnswers!, dataSource: source };
  if (r.metadata !== undefined && r.metadata !== null) ex.metadata = r.metadata;
  else if (typeof r.type === 'string' || typeof r.level === 'string') {
    // HotpotQA / 2Wiki originals: keep the question type (bridge, comparison, …) for per-type tables.
    ex.metadata = {
      ...(typeof r.type === 'string' ? { type: r.type } : {}),
      ...(typeof r.level === 'string' ? { level: r.level } : {}),
    };
  }
  return ex;
}

/** Read a QA file with its counters (`skipped` > 0 only with skipBadLines). */
export async function readQaFileWithStats(
  file: string,
  opts: QaReadOptions = {},
): Promise<{ examples: QaExample[]; stats: ReadStats }> {
  const limit = opts.limit ?? Infinity;
  if (file.endsWith('.parquet')) {
    const { rows, stats: pqStats } = await readSearchR1Parquet(file, {
      ...opts,
      log: null,
      ...(opts.answerSeparators ? { answerSeparators: opts.answerSeparators } : {}),
    });
    const stats: ReadStats = { ...pqStats, records: 0 };
    const examples: QaExample[] = [];
    for (let i = 0; i < rows.length && examples.length < limit; i++) {
      try {
        const ex = searchR1RowToQa(rows[i]!, { file, row: i });
        if (opts.forceSource && opts.dataSource) ex.dataSource = opts.dataSource;
        examples.push(ex);
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
    map: (v, loc, index) =>
      toQaExample(v, loc, index, dataSource, {
        ...(opts.answerSeparators ? { separators: opts.answerSeparators } : {}),
        ...(opts.forceSource ? { forceSource: true } : {}),
      }),
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
