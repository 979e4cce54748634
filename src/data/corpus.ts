// Passage corpora: wiki-18 JSONL (`{"id", "contents": "\"Title\"\nText"}`), `{"id","title","text"}`
// records, KILT-style pages (`{"_id"|"wikipedia_id", "wikipedia_title", "text": [paragraphs]}`),
// gzipped JSONL, or one JSON array of such objects (e.g. the 2WikiMultihopQA corpus).
// JSONL streams line by line; a JSON array is parsed whole (see records.ts for why).
import { joinContents, splitContents } from '../protocol/passages.ts';
import { pyStrip } from '../protocol/text.ts';
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
  // wiki-18 / FlashRAG: id; KILT knowledge source: _id or wikipedia_id.
  const idField =
    r.id !== undefined && r.id !== null
      ? 'id'
      : r._id !== undefined && r._id !== null
        ? '_id'
        : 'wikipedia_id';
  const rawId = r[idField];
  let id: string;
  if (rawId === undefined || rawId === null) id = String(ordinal);
  else if (typeof rawId === 'string') id = rawId;
  else if (typeof rawId === 'number' && Number.isFinite(rawId)) id = String(rawId);
  else
    throw new DataError(
      { ...loc, field: idField },
      `expected a string or number, got ${jsonTypeName(rawId)}`,
    );
  if (r.contents === undefined && (r.wikipedia_title !== undefined || Array.isArray(r.text))) {
    // KILT-style page: {wikipedia_title, text: [paragraphs]}; the paragraphs become one text.
    const rawTitle = expectString(
      r.wikipedia_title ?? r.title,
      loc,
      r.wikipedia_title !== undefined ? 'wikipedia_title' : 'title',
    );
    const paragraphs = Array.isArray(r.text) ? r.text : [expectString(r.text, loc, 'text')];
    const parts = paragraphs
      .map((p, i) => pyStrip(expectString(p, loc, `text[${i}]`)))
      .filter((p) => p !== '');
    if (rawTitle.includes('\n'))
      throw new DataError({ ...loc, field: 'wikipedia_title' }, 'contains a newline');
    const title = quoteTitles ? `"${rawTitle}"` : rawTitle;
    // KILT repeats the title as the first paragraph: drop it so it is not indexed twice.
    if (parts[0] === rawTitle) parts.shift();
    const text = parts.join(' ');
    return { id, title, text, contents: joinContents(title, text) };
  }

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
