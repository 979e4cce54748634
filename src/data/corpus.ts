// Passage corpora: wiki-18 JSONL (`{"id", "contents": "\"Title\"\nText"}`), `{"id","title","text"}`
// records, gzipped JSONL, or one JSON array of such objects (e.g. the 2WikiMultihopQA corpus).
import { open, readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { joinContents, splitContents } from '../protocol/passages.ts';
import { DataError, expectObject, expectString, jsonTypeName, type RecordLocation } from './errors.ts';
import {
  handleBadRecord,
  newStats,
  readJsonl,
  reportSkipped,
  type ReadStats,
  type SkipOptions,
} from './jsonl.ts';

export interface CorpusRecord {
  id: string;
  /** As served in `Doc i(Title: …)`: wiki-18 titles keep their quotes. */
  title: string;
  text: string;
  /** The exact wiki-18 string (`"Title"\nText`), what the /retrieve API returns. */
  contents: string;
}

export interface CorpusOptions extends SkipOptions {
  /**
   * For `title`+`text` records: wrap the title in double quotes, as wiki-18 does, so the policy
   * sees the same `Doc 1(Title: "X")` shape whatever the source format. Default true.
   */
  quoteTitles?: boolean;
  /** 'auto' (default): a file whose first non-blank byte is `[` is a JSON array, else JSONL. */
  format?: 'auto' | 'jsonl' | 'json-array';
}

/**
 * Map one parsed record to a CorpusRecord. `ordinal` (0-based line or element index) is the id
 * when the record has none. Numeric ids become strings.
 */
export function toCorpusRecord(
  raw: unknown,
  loc: RecordLocation,
  ordinal: number,
  quoteTitles = true,
): CorpusRecord {
  const r = expectObject(raw, loc);
  let id: string;
  if (r.id === undefined || r.id === null) id = String(ordinal);
  else if (typeof r.id === 'string') id = r.id;
  else if (typeof r.id === 'number' && Number.isFinite(r.id)) id = String(r.id);
  else throw new DataError({ ...loc, field: 'id' }, `expected a string or number, got ${jsonTypeName(r.id)}`);

  if (r.contents !== undefined) {
    const contents = expectString(r.contents, loc, 'contents');
    const { title, text } = splitContents(contents);
    return { id, title, text, contents };
  }
  if (r.title === undefined && r.text === undefined) {
    throw new DataError(
      { ...loc, field: 'contents' },
      'missing (a corpus record needs "contents", or "title" and "text")',
    );
  }
  const rawTitle = expectString(r.title, loc, 'title');
  const text = expectString(r.text, loc, 'text');
  if (rawTitle.includes('\n')) {
    // contents is split at the first newline: a title with one would come back wrong.
    throw new DataError({ ...loc, field: 'title' }, 'contains a newline');
  }
  const title = quoteTitles ? `"${rawTitle}"` : rawTitle;
  return { id, title, text, contents: joinContents(title, text) };
}

/** Is this file one JSON array? (first non-whitespace byte is `[`). */
async function looksLikeJsonArray(file: string): Promise<boolean> {
  // Gzipped corpora are JSONL in practice (wiki-18.jsonl.gz): decide those by name.
  if (file.endsWith('.gz')) return file.endsWith('.json.gz');
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(256);
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
 * Streams a corpus. `stats` is final once iteration ends.
 * JSON arrays are parsed whole (JSON.parse of the file): they are small in practice (the 2Wiki
 * corpus is 3 MB; wiki-18 is JSONL, streamed line by line). Errors in an array name the element
 * as `row` (0-based).
 */
export class CorpusReader implements AsyncIterable<CorpusRecord> {
  readonly stats: ReadStats = newStats();
  constructor(
    readonly file: string,
    private readonly opts: CorpusOptions = {},
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<CorpusRecord> {
    const { file, opts } = this;
    const quote = opts.quoteTitles ?? true;
    const format = opts.format ?? 'auto';
    const isArray = format === 'json-array' || (format === 'auto' && (await looksLikeJsonArray(file)));
    if (!isArray) {
      const reader = readJsonl<CorpusRecord>(file, {
        ...opts,
        // Missing ids become the 0-based line index: stable whether or not bad lines are skipped.
        map: (v, loc) => toCorpusRecord(v, loc, loc.line - 1, quote),
        stats: this.stats,
      });
      for await (const { value } of reader) yield value;
      return;
    }
    const stats = this.stats;
    let parsed: unknown;
    try {
      const bytes = await readFile(file);
      const textBytes = file.endsWith('.gz') ? gunzipSync(bytes) : bytes;
      parsed = JSON.parse(textBytes.toString('utf8').replace(/^\ufeff/, ''));
    } catch (e) {
      throw new DataError({ file }, `cannot read a JSON array: ${(e as Error).message}`, { cause: e });
    }
    if (!Array.isArray(parsed))
      throw new DataError({ file }, `expected a JSON array, got ${jsonTypeName(parsed)}`);
    for (let row = 0; row < parsed.length; row++) {
      stats.read++;
      let rec: CorpusRecord;
      try {
        rec = toCorpusRecord(parsed[row], { file, row }, row, quote);
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

/** `for await (const doc of readCorpus(path))`; `.stats` after the loop. */
export function readCorpus(file: string, opts: CorpusOptions = {}): CorpusReader {
  return new CorpusReader(file, opts);
}
