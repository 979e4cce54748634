// Corpus records for indexing: `{id, contents}` from wiki-18 JSONL (`contents`, or `title`+`text`),
// JSONL.gz, or one JSON array. Stop-gap reader until `src/data/corpus.ts` (readCorpus) lands; it
// keeps the same error contract: bad records fail with file and line, or are skipped and counted.
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { joinContents } from '../protocol/passages.ts';

export interface CorpusDoc {
  id: string;
  /** The exact string served on the wire (`"Title"\nText` for wiki-18). */
  contents: string;
}

export interface CorpusReadOptions {
  skipBadLines?: boolean;
  /** Called once per skipped record with its location and reason. */
  onSkip?: (where: string, reason: string) => void;
}

export class CorpusError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'CorpusError';
  }
}

/** One parsed JSON value → a CorpusDoc, or a reason string when the record is unusable. */
export function toCorpusDoc(rec: unknown, fallbackId: string): CorpusDoc | string {
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return 'record is not a JSON object';
  const r = rec as Record<string, unknown>;
  let id: string;
  if (r.id === undefined || r.id === null) id = fallbackId;
  else if (typeof r.id === 'string' || typeof r.id === 'number') id = String(r.id);
  else return `field "id" must be a string or number, got ${typeof r.id}`;
  if (r.contents !== undefined) {
    if (typeof r.contents !== 'string') return `field "contents" must be a string, got ${typeof r.contents}`;
    return { id, contents: r.contents };
  }
  if (r.title === undefined && r.text === undefined) return 'missing field "contents" (or "title" and "text")';
  if (typeof r.title !== 'string') return `field "title" must be a string, got ${typeof r.title}`;
  if (typeof r.text !== 'string') return `field "text" must be a string, got ${typeof r.text}`;
  // wiki-18 style: the title line is quoted, so splitContents gives back `"Title"` like wiki-18.
  return { id, contents: joinContents(JSON.stringify(r.title), r.text) };
}

/** Stream the corpus at `path` as CorpusDocs (JSON arrays are read whole: they are small files). */
export async function* readCorpusDocs(path: string, opts: CorpusReadOptions = {}): AsyncGenerator<CorpusDoc> {
  const bad = (line: number, reason: string): void => {
    if (!opts.skipBadLines) throw new CorpusError(path, line, reason);
    opts.onSkip?.(`${path}:${line}`, reason);
  };
  if (/\.json$/i.test(path)) {
    const text = await readFile(path, 'utf8');
    let arr: unknown;
    try {
      arr = JSON.parse(text);
    } catch (e) {
      throw new CorpusError(path, 1, `invalid JSON: ${(e as Error).message}`);
    }
    if (!Array.isArray(arr)) throw new CorpusError(path, 1, 'expected a JSON array of passages');
    for (let i = 0; i < arr.length; i++) {
      const doc = toCorpusDoc(arr[i], String(i));
      // A JSON array has no useful line numbers: report the element index (1-based, as a "line").
      if (typeof doc === 'string') bad(i + 1, `element ${i}: ${doc}`);
      else yield doc;
    }
    return;
  }
  let input: NodeJS.ReadableStream = createReadStream(path);
  if (/\.gz$/i.test(path)) input = input.pipe(createGunzip());
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let record = 0;
  for await (const line of rl) {
    lineNo++;
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      bad(lineNo, `invalid JSON: ${(e as Error).message}`);
      continue;
    }
    const doc = toCorpusDoc(rec, String(record));
    record++;
    if (typeof doc === 'string') bad(lineNo, doc);
    else yield doc;
  }
}
