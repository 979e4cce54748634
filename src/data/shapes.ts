// The accepted shapes of QA records and Search-R1 rows as zod schemas, so a bad record is
// reported with ALL its problems at once, each with its field path and the shape expected
// (docs/data-formats.md lists the accepted variants).
import { z } from 'zod';
import { pyStrip } from '../protocol/text.ts';
import { jsonTypeName, throwIssues, type DataIssue, type RecordLocation } from './errors.ts';

/** Separators a one-string answer list is split on (Search-R1 follow-ups write `a<|answer_split|>b`). */
export const DEFAULT_ANSWER_SEPARATORS: readonly string[] = ['<|answer_split|>'];

const got = (iss: { input?: unknown }) => `got ${jsonTypeName(iss.input)}`;
/** A zod error message: the expected shape, then what was there. */
const expected = (shape: string) => (iss: { input?: unknown }) => `expected ${shape}, ${got(iss)}`;

export const ANSWERS_SHAPE = 'a list of strings, or one string (answers split on the answer separators)';
const str = () => z.string({ error: expected('a string') });
const answers = z.union([str(), z.array(str())], { error: expected(ANSWERS_SHAPE) });
const id = z.union([z.string(), z.number(), z.bigint()], { error: expected('a string or an integer') });
const optionalString = (what = 'a string') => z.string({ error: expected(what) }).nullish();

/**
 * A QA record: FlashRAG (`question`, `golden_answers`), NQ-open (`answer` list), HotpotQA and
 * 2WikiMultihopQA originals (`_id`, `answer` string), MuSiQue (`answer` + `answer_aliases`).
 */
export const QaRecordSchema = z.looseObject(
  {
    question: z
      .string({ error: expected('a non-empty string') })
      .refine((s) => pyStrip(s) !== '', { error: 'expected a non-empty string, got an empty one' }),
    golden_answers: answers.nullish(),
    answer: answers.nullish(),
    answer_aliases: z.array(z.string(), { error: expected('a list of strings') }).nullish(),
    id: id.nullish(),
    _id: id.nullish(),
    data_source: optionalString(),
    metadata: z.record(z.string(), z.unknown(), { error: expected('an object') }).nullish(),
  },
  { error: expected('a JSON object (a QA record with "question" and "golden_answers" or "answer")') },
);
export type QaRecord = z.infer<typeof QaRecordSchema>;

const message = z.object(
  {
    role: z.enum(['system', 'user', 'assistant'], {
      error: (iss) => `expected user, system or assistant, got ${JSON.stringify(iss.input)}`,
    }),
    content: z.string({ error: expected('a string') }),
  },
  { error: expected('a {role, content} object') },
);

export const GROUND_TRUTH_SHAPE = `{target: [answers]}, {target: "a<|answer_split|>b"}, a list of strings, or one string`;

/** A Search-R1 row (the reference's parquet, and its follow-ups' variants). */
export const SearchR1RowSchema = z.looseObject(
  {
    data_source: z.string({ error: expected('a string (the dataset name)') }),
    prompt: z.union([z.string(), z.array(message).min(1)], {
      error: expected('a non-empty list of {role, content} messages, or the question / prompt as one string'),
    }),
    reward_model: z.looseObject(
      {
        style: optionalString(),
        ground_truth: z.union([z.looseObject({ target: answers }), str(), z.array(str())], {
          error: expected(GROUND_TRUTH_SHAPE),
        }),
      },
      { error: expected(`an object {style, ground_truth: ${GROUND_TRUTH_SHAPE}}`) },
    ),
    extra_info: z
      .looseObject(
        {
          index: z
            .union([z.number().int(), z.bigint(), z.string()], { error: expected('an integer or a string') })
            .nullish(),
          split: optionalString(),
          uid: optionalString(),
        },
        { error: expected('an object {split, index}') },
      )
      .nullish(),
    ability: optionalString(),
    id: id.nullish(),
    question: optionalString(),
    golden_answers: answers.nullish(),
  },
  { error: expected('an object (a Search-R1 row)') },
);
export type SearchR1RowInput = z.infer<typeof SearchR1RowSchema>;

/** `['prompt', 0, 'role']` → `prompt[0].role`. */
export function fieldPath(path: readonly PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out;
}

interface ZodIssueLike {
  code: string;
  path: PropertyKey[];
  message: string;
  errors?: ZodIssueLike[][];
}

/**
 * A union that failed because one alternative matched the type but had bad parts inside
 * (`golden_answers: ["a", 3]`) is reported by those parts (`golden_answers[1]: expected a
 * string`), not as "none of the alternatives".
 */
function flattenIssue(issue: ZodIssueLike, prefix: PropertyKey[]): DataIssue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'invalid_union' && issue.errors) {
    const deep = issue.errors.find((b) => b.length > 0 && b.every((i) => i.path.length > 0));
    if (deep) return deep.flatMap((i) => flattenIssue(i, path));
  }
  const field = fieldPath(path);
  return [{ ...(field !== undefined ? { field } : {}), reason: issue.message }];
}

/** Parse `raw` with `schema`; every problem is reported in one DataError (plus `extra` checks). */
export function parseRecord<T>(schema: z.ZodType<T>, raw: unknown, loc: RecordLocation): T {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  throwIssues(
    loc,
    r.error.issues.flatMap((i) => flattenIssue(i, [])),
  );
  throw new Error('unreachable');
}

/** A one-string answer list split on the separators (trimmed, empty parts dropped). */
export function splitAnswers(s: string, separators: readonly string[] = DEFAULT_ANSWER_SEPARATORS): string[] {
  if (!separators.some((sep) => sep !== '' && s.includes(sep))) return [s]; // one answer, as given
  let parts = [s];
  for (const sep of separators) parts = parts.flatMap((p) => p.split(sep));
  const kept = parts.map((p) => pyStrip(p)).filter((p) => p !== '');
  return kept.length > 0 ? kept : [s];
}

/** Answers as given (list, one separated string, or {target}) → the list; null when empty. */
export function answerList(
  v: unknown,
  separators: readonly string[] = DEFAULT_ANSWER_SEPARATORS,
): string[] | null {
  if (typeof v === 'string') return splitAnswers(v, separators);
  if (Array.isArray(v)) return v.length > 0 ? (v as string[]) : null;
  if (v !== null && typeof v === 'object' && 'target' in v)
    return answerList((v as { target: unknown }).target, separators);
  return null;
}
