// Search-R1 training/test rows (the reference's data-prep output) in parquet: read with hyparquet,
// written with hyparquet-writer using the reference's nested schema.
import { rename, writeFile } from 'node:fs/promises';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import type { ChatMessage, QaExample } from '../protocol/types.ts';
import { searchR1UserPrompt } from '../protocol/prompt.ts';
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

const asNumber = (v: unknown): unknown => (typeof v === 'bigint' ? Number(v) : v);

function optionalString(v: unknown, loc: RecordLocation, field: string): string | null {
  return v === null || v === undefined ? null : expectString(v, loc, field);
}

/** The question inside a Search-R1 prompt (`… Question: {q}\n`), for files without a `question` column. */
export function questionFromPrompt(content: string): string | null {
  const at = content.lastIndexOf('Question: ');
  if (at < 0) return null;
  return pyStrip(content.slice(at + 'Question: '.length));
}

/** Validate one parquet row (hyparquet object) as a SearchR1Row; field paths are dotted. */
export function toSearchR1Row(raw: unknown, loc: RecordLocation): SearchR1Row {
  const r = expectObject(raw, loc);
  const dataSource = expectString(r.data_source, loc, 'data_source');
  if (!Array.isArray(r.prompt) || r.prompt.length === 0) {
    throw new DataError(
      { ...loc, field: 'prompt' },
      `expected a non-empty list of {role, content}, got ${jsonTypeName(r.prompt)}`,
    );
  }
  const prompt = r.prompt.map((m, i) => {
    const o = expectObject(m, loc, `prompt[${i}]`);
    const role = expectString(o.role, loc, `prompt[${i}].role`);
    if (role !== 'user' && role !== 'system' && role !== 'assistant') {
      throw new DataError(
        { ...loc, field: `prompt[${i}].role` },
        `expected user, system or assistant, got "${role}"`,
      );
    }
    return { role, content: expectString(o.content, loc, `prompt[${i}].content`) } as ChatMessage;
  });
  const rm = expectObject(r.reward_model, loc, 'reward_model');
  const gt = expectObject(rm.ground_truth, loc, 'reward_model.ground_truth');
  const target = expectStringList(gt.target, loc, 'reward_model.ground_truth.target');
  const style =
    rm.style === null || rm.style === undefined ? 'rule' : expectString(rm.style, loc, 'reward_model.style');
  const ei =
    r.extra_info === null || r.extra_info === undefined ? {} : expectObject(r.extra_info, loc, 'extra_info');
  const index = asNumber(ei.index);
  if (index !== undefined && index !== null && (typeof index !== 'number' || !Number.isInteger(index))) {
    throw new DataError(
      { ...loc, field: 'extra_info.index' },
      `expected an integer, got ${jsonTypeName(index)}`,
    );
  }
  // Files written by the reference have no uid and no row index of their own: fall back to the row.
  const idx = typeof index === 'number' ? index : (loc.row ?? 0);
  const split =
    ei.split === null || ei.split === undefined ? '' : expectString(ei.split, loc, 'extra_info.split');
  const uid =
    ei.uid === null || ei.uid === undefined
      ? rowUid(dataSource, idx)
      : expectString(ei.uid, loc, 'extra_info.uid');
  const goldenAnswers =
    r.golden_answers === null || r.golden_answers === undefined
      ? null
      : expectStringList(r.golden_answers, loc, 'golden_answers');
  const id =
    r.id === null || r.id === undefined ? null : typeof r.id === 'string' ? r.id : String(asNumber(r.id));
  return {
    id,
    question: optionalString(r.question, loc, 'question'),
    golden_answers: goldenAnswers,
    data_source: dataSource,
    prompt,
    ability:
      r.ability === null || r.ability === undefined ? ABILITY : expectString(r.ability, loc, 'ability'),
    reward_model: { style, ground_truth: { target } },
    extra_info: { split, index: idx, uid },
  };
}

/** Read and validate every row of a Search-R1 parquet file. Errors name the 0-based row. */
export async function readSearchR1Parquet(
  file: string,
  opts: SkipOptions = {},
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
      rows.push(toSearchR1Row(raw, { file, row }));
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
