// One error type for bad input data: it always says where (file, line or row) and what (field).

export interface DataErrorLocation {
  file: string;
  /** 1-based line of a text file (JSONL). */
  line?: number;
  /** 0-based row of a parquet file or element of a JSON array. */
  row?: number;
  /** The field at fault, dotted for nested ones (`reward_model.ground_truth.target`). */
  field?: string;
}

/** One problem of a record: the field (dotted path, `prompt[0].role`) and what was expected. */
export interface DataIssue {
  field?: string;
  reason: string;
}

const issueText = (i: DataIssue) => `${i.field !== undefined ? `field "${i.field}": ` : ''}${i.reason}`;

/**
 * `data/x.jsonl:17: field "contents": expected a string, got number`; a record with several
 * problems lists them all, one per line, so one run shows everything to fix.
 */
export class DataError extends Error {
  readonly file: string;
  readonly line: number | undefined;
  readonly row: number | undefined;
  readonly field: string | undefined;
  /** The message without the location prefix. */
  readonly reason: string;
  /** Every problem found in the record (one element for a single-problem error). */
  readonly issues: DataIssue[];

  constructor(loc: DataErrorLocation, reason: string, options?: { cause?: unknown; issues?: DataIssue[] }) {
    const issues = options?.issues ?? [{ ...(loc.field !== undefined ? { field: loc.field } : {}), reason }];
    super(
      issues.length > 1
        ? `${formatLocation(loc)}: ${issues.length} problems:\n${issues.map((i) => `  - ${issueText(i)}`).join('\n')}`
        : `${formatLocation(loc)}: ${issueText(issues[0]!)}`,
      options?.cause !== undefined ? { cause: options.cause } : undefined,
    );
    this.name = 'DataError';
    this.file = loc.file;
    this.line = loc.line;
    this.row = loc.row;
    this.field = issues[0]?.field ?? loc.field;
    this.reason = issues.length > 1 ? issues.map(issueText).join('; ') : issues[0]!.reason;
    this.issues = issues;
  }
}

/** Throw one DataError listing every issue (no-op when there are none). */
export function throwIssues(loc: RecordLocation, issues: DataIssue[]): void {
  if (issues.length === 0) return;
  throw new DataError(loc, issues[0]!.reason, { issues });
}

function formatLocation(loc: DataErrorLocation): string {
  if (loc.line !== undefined) return `${loc.file}:${loc.line}`;
  if (loc.row !== undefined) return `${loc.file}: row ${loc.row}`;
  return loc.file;
}

/** JSON type name as a user would say it: string, number, boolean, null, array, object, missing. */
export function jsonTypeName(v: unknown): string {
  if (v === undefined) return 'nothing (field missing)';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'bigint') return 'number';
  return typeof v;
}

/** Where a record came from; `at(field)` makes the location of one of its fields. */
export interface RecordLocation {
  file: string;
  line?: number;
  row?: number;
}

export function expectString(v: unknown, loc: RecordLocation, field: string): string {
  if (typeof v !== 'string')
    throw new DataError({ ...loc, field }, `expected a string, got ${jsonTypeName(v)}`);
  return v;
}

export function expectObject(v: unknown, loc: RecordLocation, field?: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new DataError(
      { ...loc, ...(field !== undefined ? { field } : {}) },
      `expected an object, got ${jsonTypeName(v)}`,
    );
  }
  return v as Record<string, unknown>;
}

/** A list of strings (gold answers): each element must be a string, named by index on failure. */
export function expectStringList(v: unknown, loc: RecordLocation, field: string): string[] {
  if (!Array.isArray(v))
    throw new DataError({ ...loc, field }, `expected a list of strings, got ${jsonTypeName(v)}`);
  v.forEach((x, i) => {
    if (typeof x !== 'string')
      throw new DataError({ ...loc, field: `${field}[${i}]` }, `expected a string, got ${jsonTypeName(x)}`);
  });
  return v as string[];
}
