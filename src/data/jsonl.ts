// Streaming JSON-lines reader (.jsonl, .jsonl.gz): one line at a time through node:readline, so
// a 21M-line corpus never sits in memory. Bad lines fail with file:line, or are skipped and counted.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DataError } from './errors.ts';

export interface ReadStats {
  /** Lines (or rows/elements) read, including blank and skipped ones. */
  read: number;
  /** Records yielded. */
  records: number;
  /** Bad records skipped (only with skipBadLines). */
  skipped: number;
  /** Whitespace-only lines: no data, ignored (counted so nothing disappears unnoticed). */
  blank: number;
  /** The first few skip errors, for the report. */
  firstErrors: DataError[];
}

export interface SkipOptions {
  /** Skip malformed lines instead of failing; the count is in `stats` and logged at the end. */
  skipBadLines?: boolean;
  /** Called for every skipped line. */
  onSkip?: (err: DataError) => void;
  /** Where the end-of-file skip summary goes (default: one line on stderr). null: nowhere. */
  log?: ((message: string) => void) | null;
  /** Called with the running counters every `progressEvery` lines/rows (long reads show progress). */
  onProgress?: (stats: Readonly<ReadStats>) => void;
  /** Default 100,000. */
  progressEvery?: number;
  /**
   * With skipBadLines: the most bad records a file may have before the read fails anyway
   * (`{count: 10}` or `{fraction: 0.01}`). Default: fail only when every record was bad.
   */
  maxSkipped?: SkipLimit;
}

export type SkipLimit = { count: number } | { fraction: number };

/** `--max-skipped 100` (records) or `--max-skipped 2%` (of the file's records). */
export function parseSkipLimit(v: string): SkipLimit {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
  if (pct) return { fraction: Number(pct[1]) / 100 };
  if (/^\d+$/.test(v.trim())) return { count: Number(v) };
  throw new Error(`--max-skipped must be a count (100) or a percentage (2%), got "${v}"`);
}

/** Fail when more records were skipped than the limit allows (default: all of them). */
export function checkSkipLimit(file: string, stats: ReadStats, opts: SkipOptions): void {
  if (stats.skipped === 0) return;
  const seen = stats.skipped + stats.records;
  const lim = opts.maxSkipped;
  const over =
    lim === undefined
      ? stats.records === 0
      : 'count' in lim
        ? stats.skipped > lim.count
        : stats.skipped / seen > lim.fraction;
  if (!over) return;
  const allowed =
    lim === undefined
      ? 'every record was bad'
      : 'count' in lim
        ? `more than --max-skipped ${lim.count}`
        : `more than --max-skipped ${lim.fraction * 100}%`;
  const first = stats.firstErrors[0];
  throw new DataError(
    { file },
    `skipped ${stats.skipped} bad of ${seen} records (${allowed}); refusing to go on${first ? `. First: ${first.message}` : ''}`,
  );
}

/** Call opts.onProgress when the read count reaches a multiple of progressEvery. */
export function maybeProgress(stats: ReadStats, opts: SkipOptions): void {
  if (opts.onProgress && stats.read % (opts.progressEvery ?? 100_000) === 0) opts.onProgress(stats);
}

export interface JsonlOptions<T> extends SkipOptions {
  /** Turn one parsed line into a record; throw DataError (with the given location) to reject it. */
  map?: (value: unknown, loc: { file: string; line: number }) => T;
  /** Counters to fill (lets a wrapping reader expose the same object); default: a fresh one. */
  stats?: ReadStats;
}

export interface JsonlRecord<T> {
  value: T;
  /** 1-based line number. */
  line: number;
}

export function newStats(): ReadStats {
  return { read: 0, records: 0, skipped: 0, blank: 0, firstErrors: [] };
}

const MAX_KEPT_ERRORS = 5;

/** Count a bad record when skipping is on (and rethrow otherwise). */
export function handleBadRecord(err: unknown, stats: ReadStats, opts: SkipOptions): void {
  if (!(err instanceof DataError) || !opts.skipBadLines) throw err;
  stats.skipped++;
  if (stats.firstErrors.length < MAX_KEPT_ERRORS) stats.firstErrors.push(err);
  opts.onSkip?.(err);
}

/** One stderr line when anything was skipped (silent otherwise); then the skip limit is enforced. */
export function reportSkipped(file: string, stats: ReadStats, opts: SkipOptions): void {
  if (stats.skipped === 0) return;
  try {
    logSkipped(file, stats, opts);
  } finally {
    checkSkipLimit(file, stats, opts);
  }
}

function logSkipped(file: string, stats: ReadStats, opts: SkipOptions): void {
  const log = opts.log === undefined ? (m: string) => process.stderr.write(`${m}\n`) : opts.log;
  if (!log) return;
  const first = stats.firstErrors[0];
  log(
    `search-r1: skipped ${stats.skipped} bad ${stats.skipped === 1 ? 'record' : 'records'} of ${stats.read} in ${file}` +
      (first ? ` (first: ${first.message})` : ''),
  );
}

/** A readable stream of the file's bytes, gunzipped when the name ends in .gz. */
export function openMaybeGzip(file: string): Readable {
  const raw = createReadStream(file);
  if (!file.endsWith('.gz')) return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/**
 * Streams the records of a JSONL file. `stats` fills in as the iteration proceeds and is final
 * once it ends. Blank lines are ignored; a leading UTF-8 BOM is removed.
 */
export class JsonlReader<T = unknown> implements AsyncIterable<JsonlRecord<T>> {
  readonly stats: ReadStats;
  constructor(
    readonly file: string,
    private readonly opts: JsonlOptions<T> = {},
  ) {
    this.stats = opts.stats ?? newStats();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<JsonlRecord<T>> {
    const { file, opts, stats } = this;
    const input = openMaybeGzip(file);
    const lines = createInterface({ input, crlfDelay: Infinity });
    try {
      for await (let text of lines) {
        const line = ++stats.read;
        maybeProgress(stats, opts);
        if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
        if (text.trim() === '') {
          stats.blank++;
          continue;
        }
        let value: T;
        try {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (e) {
            throw new DataError({ file, line }, `invalid JSON: ${(e as Error).message}`);
          }
          value = opts.map ? opts.map(parsed, { file, line }) : (parsed as T);
        } catch (err) {
          handleBadRecord(err, stats, opts);
          continue;
        }
        stats.records++;
        yield { value, line };
      }
    } catch (err) {
      if (err instanceof DataError) throw err;
      const e = err as NodeJS.ErrnoException;
      // Stream errors (missing file, corrupt gzip) name the file; the cause keeps the details.
      throw new DataError({ file, ...(stats.read > 0 ? { line: stats.read } : {}) }, e.message, {
        cause: err,
      });
    } finally {
      lines.close();
      input.destroy();
    }
    reportSkipped(file, stats, opts);
  }
}

/** `for await (const { value, line } of readJsonl(path, opts))`; `.stats` after the loop. */
export function readJsonl<T = unknown>(file: string, opts: JsonlOptions<T> = {}): JsonlReader<T> {
  return new JsonlReader<T>(file, opts);
}

/** Read a whole JSONL file into memory (small files: QA sets). */
export async function readJsonlAll<T = unknown>(
  file: string,
  opts: JsonlOptions<T> = {},
): Promise<{ records: JsonlRecord<T>[]; stats: ReadStats }> {
  const reader = readJsonl(file, opts);
  const records: JsonlRecord<T>[] = [];
  for await (const r of reader) records.push(r);
  return { records, stats: reader.stats };
}
