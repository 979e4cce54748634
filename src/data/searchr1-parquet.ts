// Search-R1 training/test rows (the reference's data-prep output) in parquet: read with hyparquet,
// written with hyparquet-writer using the reference's nested schema.
import { rename, writeFile } from 'node:fs/promises';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ChatMessage } from '../core/tokenizer.ts';
import type { QaExample } from '../core/qa.ts';
import { searchR1UserPrompt } from '../protocol/prompt.ts';
import { pyStrip } from '../protocol/text.ts';
import { DataError, throwIssues, type DataIssue, type RecordLocation } from './errors.ts';
import {
  answerList,
  DEFAULT_ANSWER_SEPARATORS,
  GROUND_TRUTH_SHAPE,
  parseRecord,
  SearchR1RowSchema,
} from './shapes.ts';
import { handleBadRecord, newStats, reportSkipped, type ReadStats, type SkipOptions } from './jsonl.ts';

/**
 * One row, named as the reference's parquet columns. `id`, `question`, `golden_answers` are the
 * FlashRAG columns the reference's `datasets.map` keeps beside the new ones; `extra_info.uid` is
 * ours: `{data_source}:{index}`, a group id unique across merged datasets (the reference's
 * `index` restarts at 0 per dataset, so its GRPO groups collided).
 */
export interface SearchR1Row {
  id: string | null;
  question: string | null;
  golden_answers: string[] | null;
  data_source: string;
  prompt: ChatMessage[];
  ability: string;
  reward_model: { style: string; ground_truth: { target: string[] } };
  extra_info: { split: string; index: number; uid: string };
}

export const ABILITY = 'fact-reasoning';

export function rowUid(dataSource: string, index: number): string {
  return `${dataSource}:${index}`;
}

/** The reference's make_map_fn: prompt from the template, answers as the rule-based target. */
export function qaToSearchR1Row(ex: QaExample, index: number, split: string): SearchR1Row {
  return {
    id: ex.id,
    question: ex.question,
    golden_answers: [...ex.goldenAnswers],
    data_source: ex.dataSource,
    prompt: [{ role: 'user', content: searchR1UserPrompt(ex.question) }],
    ability: ABILITY,
    reward_model: { style: 'rule', ground_truth: { target: [...ex.goldenAnswers] } },
    extra_info: { split, index, uid: rowUid(ex.dataSource, index) },
  };
}

/**
 * Rows for several datasets merged in order; `index` counts per data source from 0 (as the
 * reference), `uid` is unique overall. Fails when two inputs share a data source name, since
 * their uids would collide.
 */
export function buildSearchR1Rows(
  datasets: { dataSource: string; examples: QaExample[] }[],
  split: string,
): SearchR1Row[] {
  const seen = new Set<string>();
  const rows: SearchR1Row[] = [];
  for (const { dataSource, examples } of datasets) {
    if (seen.has(dataSource)) {
      throw new Error(
        `data source "${dataSource}" given twice: group ids ("${dataSource}:<index>") would collide; name each input differently`,
      );
    }
    seen.add(dataSource);
    examples.forEach((ex, i) => rows.push(qaToSearchR1Row({ ...ex, dataSource }, i, split)));
  }
  return rows;
}

// Leaf helper for the explicit schema (pyarrow writes every field OPTIONAL; so do we).
const str = (name: string) =>
  ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' }) as const;
const list = (name: string) => [
  { name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 } as const,
  { name: 'list', repetition_type: 'REPEATED', num_children: 1 } as const,
];

/** The reference schema as pyarrow writes it (3-level LIST with `list`/`element`). */
export const SEARCH_R1_SCHEMA = [
  { name: 'schema', num_children: 8 },
  str('id'),
  str('question'),
  ...list('golden_answers'),
  str('element'),
  str('data_source'),
  ...list('prompt'),
  { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
  str('content'),
  str('role'),
  str('ability'),
  { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'ground_truth', repetition_type: 'OPTIONAL', num_children: 1 },
  ...list('target'),
  str('element'),
  str('style'),
  { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 3 },
  { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
  str('split'),
  str('uid'),
];

/** Parquet bytes of rows in the reference schema. */
export function searchR1ParquetBuffer(rows: SearchR1Row[]): ArrayBuffer {
  const col = <K extends keyof SearchR1Row>(k: K) => rows.map((r) => r[k]);
  return parquetWriteBuffer({
    columnData: [
      { name: 'id', data: col('id') },
      { name: 'question', data: col('question') },
      { name: 'golden_answers', data: col('golden_answers') },
      { name: 'data_source', data: col('data_source') },
      // Struct fields in schema order (content, role), as pyarrow orders them.
      { name: 'prompt', data: rows.map((r) => r.prompt.map((m) => ({ content: m.content, role: m.role }))) },
      { name: 'ability', data: col('ability') },
      {
        name: 'reward_model',
        data: rows.map((r) => ({
          ground_truth: { target: r.reward_model.ground_truth.target },
          style: r.reward_model.style,
        })),
      },
      {
        name: 'extra_info',
        data: rows.map((r) => ({
          index: BigInt(r.extra_info.index),
          split: r.extra_info.split,
          uid: r.extra_info.uid,
        })),
      },
    ],
    // The writer's types want its SchemaElement; ours is the same shape, declared inline.
    schema: SEARCH_R1_SCHEMA as unknown as Parameters<typeof parquetWriteBuffer>[0]['schema'],
    kvMetadata: [{ key: 'search-r1.format', value: 'search-r1 rows v1 (reference schema + extra_info.uid)' }],
  });
}

/** Write rows to `file` (through a temp file + rename, so a crash never leaves half a file). */
export async function writeSearchR1Parquet(file: string, rows: SearchR1Row[]): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, new Uint8Array(searchR1ParquetBuffer(rows)));
  await rename(tmp, file);
}

/** The question inside a Search-R1 prompt (`… Question: {q}\n`), for files without a `question` column. */
export function questionFromPrompt(content: string): string | null {
  const at = content.lastIndexOf('Question: ');
  if (at < 0) return null;
  return pyStrip(content.slice(at + 'Question: '.length));
}

/**
 * Validate one row (hyparquet object or JSON) as a SearchR1Row; every problem is reported at once
 * with its dotted field path. Accepted variants (Search-R1 and its follow-ups): ground truth as
 * `{target: [...]}`, `{target: "a<|answer_split|>b"}`, a list or one separated string; ids and
 * `extra_info.index` as integers or strings; the prompt as a chat list, the full Search-R1 user
 * prompt as one string, or the bare question (then the Search-R1 template is applied).
 */
export function toSearchR1Row(
  raw: unknown,
  loc: RecordLocation,
  separators: readonly string[] = DEFAULT_ANSWER_SEPARATORS,
): SearchR1Row {
  const r = parseRecord(SearchR1RowSchema, raw, loc);
  const issues: DataIssue[] = [];
  const target = answerList(r.reward_model.ground_truth, separators);
  if (target === null)
    issues.push({
      field: 'reward_model.ground_truth',
      reason: `empty: expected ${GROUND_TRUTH_SHAPE} with at least one answer`,
    });
  let question = r.question ?? null;
  let prompt: ChatMessage[];
  if (typeof r.prompt === 'string') {
    // The whole user prompt (has "Question: "), or the bare question: build the Search-R1 prompt.
    const q = questionFromPrompt(r.prompt);
    if (q === null) {
      question ??= pyStrip(r.prompt);
      if (question === '')
        issues.push({ field: 'prompt', reason: 'empty string: expected the question or the prompt' });
      prompt = [{ role: 'user', content: question === '' ? '' : searchR1UserPrompt(question) }];
    } else prompt = [{ role: 'user', content: r.prompt }];
  } else prompt = r.prompt;
  const ei = r.extra_info ?? {};
  // Integers (or bigint from parquet INT64) are the index; a numeric string too; any other string
  // id keeps the row number as index and becomes the group id's suffix.
  let idx: number = loc.row ?? 0;
  let uidSuffix: string | null = null;
  if (typeof ei.index === 'bigint') idx = Number(ei.index);
  else if (typeof ei.index === 'number') idx = ei.index;
  else if (typeof ei.index === 'string') {
    if (/^\d+$/.test(ei.index)) idx = Number(ei.index);
    else uidSuffix = ei.index;
  }
  throwIssues(loc, issues);
  const dataSource = r.data_source;
  const goldenAnswers =
    r.golden_answers === undefined || r.golden_answers === null
      ? null
      : answerList(r.golden_answers, separators);
  return {
    id: r.id === null || r.id === undefined ? null : String(r.id),
    question,
    golden_answers: goldenAnswers,
    data_source: dataSource,
    prompt,
    ability: r.ability ?? ABILITY,
    reward_model: { style: r.reward_model.style ?? 'rule', ground_truth: { target: target! } },
    extra_info: {
      split: ei.split ?? '',
      index: idx,
      uid: ei.uid ?? (uidSuffix !== null ? `${dataSource}:${uidSuffix}` : rowUid(dataSource, idx)),
    },
  };
}

/** Read and validate every row of a Search-R1 parquet file. Errors name the 0-based row. */
export async function readSearchR1Parquet(
  file: string,
  opts: SkipOptions & { answerSeparators?: readonly string[] } = {},
): Promise<{ rows: SearchR1Row[]; stats: ReadStats }> {
  const stats = newStats();
  let objects: Record<string, unknown>[];
  try {
    const buffer = await asyncBufferFromFile(file);
    const metadata = await parquetMetadataAsync(buffer);
    objects = (await parquetReadObjects({ file: buffer, metadata })) as Record<string, unknown>[];
  } catch (e) {
    throw new DataError({ file }, `cannot read parquet: ${(e as Error).message}`, { cause: e });
  }
  const rows: SearchR1Row[] = [];
  objects.forEach((raw, row) => {
    stats.read++;
    try {
      rows.push(toSearchR1Row(raw, { file, row }, opts.answerSeparators));
      stats.records++;
    } catch (err) {
      handleBadRecord(err, stats, opts);
    }
  });
  reportSkipped(file, stats, opts);
  return { rows, stats };
}

/** A row as the common QA type (question from the `question` column, else from the prompt). */
export function searchR1RowToQa(row: SearchR1Row, loc: RecordLocation): QaExample {
  const question = row.question ?? questionFromPrompt(row.prompt[row.prompt.length - 1]!.content);
  if (question === null) {
    throw new DataError(
      { ...loc, field: 'question' },
      'missing, and the prompt has no "Question: " to take it from',
    );
  }
  return {
    id: row.id ?? String(row.extra_info.index),
    question,
    goldenAnswers: row.reward_model.ground_truth.target,
    dataSource: row.data_source,
    metadata: {
      prompt: row.prompt,
      ability: row.ability,
      split: row.extra_info.split,
      index: row.extra_info.index,
      uid: row.extra_info.uid,
    },
  };
}
