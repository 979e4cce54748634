// Passage corpora: wiki-18 JSONL (`{"id", "contents": "\"Title\"\nText"}`), `{"id","title","text"}`
// records, gzipped JSONL, or one JSON array of such objects (e.g. the 2WikiMultihopQA corpus).
// JSONL streams line by line; a JSON array is parsed whole (see records.ts for why).
import { joinContents, splitContents } from '../protocol/passages.ts';
import { DataError, expectObject, expectString, jsonTypeName, type RecordLocation } from './errors.ts';
import type { SkipOptions } from './jsonl.ts';
import { readRecords, type RecordFormat, type RecordReader } from './records.ts';

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
  format?: RecordFormat;
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

/** `for await (const doc of readCorpus(path))`; `.stats` (read/records/skipped) after the loop. */
export function readCorpus(file: string, opts: CorpusOptions = {}): RecordReader<CorpusRecord> {
  const quote = opts.quoteTitles ?? true;
  return readRecords(file, { ...opts, map: (v, loc, index) => toCorpusRecord(v, loc, index, quote) });
}
