// Records of a JSONL(.gz) file or of one JSON array file, behind one iterator with the same
// location (line for JSONL, 0-based row for arrays) and skip/count contract.
import { open, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { DataError, jsonTypeName, type RecordLocation } from './errors.ts';
import {
  handleBadRecord,
  maybeProgress,
  newStats,
  readJsonl,
  reportSkipped,
  type ReadStats,
  type SkipOptions,
} from './jsonl.ts';

export type RecordFormat = 'auto' | 'jsonl' | 'json-array';

export interface RecordsOptions<T> extends SkipOptions {
  /** 'auto' (default): a file whose first non-blank character is `[` is a JSON array, else JSONL. */
  format?: RecordFormat;
  /** Turn one parsed record into T; throw DataError with the given location to reject it. */
  map: (value: unknown, loc: RecordLocation, index: number) => T;
}

/** Is this file one JSON array? `.json.gz` by name; otherwise the first non-blank character is `[`. */
export async function looksLikeJsonArray(file: string): Promise<boolean> {
  if (file.endsWith('.gz')) return file.endsWith('.json.gz');
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    throw new DataError({ file }, (e as Error).message, { cause: e });
  }
  try {
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf
      .subarray(0, bytesRead)
      .toString('utf8')
      .replace(/^\ufeff/, '');
    return head.trimStart().startsWith('[');
  } finally {
    await fh.close();
  }
}

/**
 * Streams mapped records. JSONL is read line by line; a JSON array is parsed whole (JSON.parse of
 * the file): arrays are small in practice (the 2Wiki corpus is 3 MB) and no streaming JSON parser
 * is among our dependencies. `index` passed to `map` is the 0-based line index (JSONL) or element
 * index (array), stable whether or not bad records are skipped.
 */
export class RecordReader<T> implements AsyncIterable<T> {
  readonly stats: ReadStats = newStats();
  constructor(
    readonly file: string,
    private readonly opts: RecordsOptions<T>,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    const { file, opts, stats } = this;
    const format = opts.format ?? 'auto';
    const isArray = format === 'json-array' || (format === 'auto' && (await looksLikeJsonArray(file)));
    if (!isArray) {
      const reader = readJsonl<T>(file, { ...opts, map: (v, loc) => opts.map(v, loc, loc.line - 1), stats });
      for await (const { value } of reader) yield value;
      return;
    }
    let parsed: unknown;
    try {
      const bytes = await readFile(file);
      const text = (file.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8').replace(/^\ufeff/, '');
      parsed = JSON.parse(text);
    } catch (e) {
      throw new DataError({ file }, `cannot read a JSON array: ${(e as Error).message}`, { cause: e });
    }
    if (!Array.isArray(parsed))
      throw new DataError({ file }, `expected a JSON array, got ${jsonTypeName(parsed)}`);
    for (let row = 0; row < parsed.length; row++) {
      stats.read++;
      maybeProgress(stats, opts);
      let rec: T;
      try {
        rec = opts.map(parsed[row], { file, row }, row);
      } catch (err) {
        handleBadRecord(err, stats, opts);
        continue;
      }
      stats.records++;
      yield rec;
    }
    reportSkipped(file, stats, opts);
  }
}

export function readRecords<T>(file: string, opts: RecordsOptions<T>): RecordReader<T> {
  return new RecordReader(file, opts);
}
