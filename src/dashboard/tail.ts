// Incremental reads of JSON-lines files that another process is appending to (metrics.jsonl,
// trajectory files): each call reads only the bytes after `offset`, up to the last complete line.
// A partial last line (the writer is mid-append, or was killed) is left for the next call; a
// complete line that is not JSON is reported with file:line, never dropped in silence. A file
// shorter than the offset was rewritten (a resumed run cuts metrics.jsonl back to its checkpoint):
// the caller is told to start over.
import { closeSync, openSync, readSync, statSync } from 'node:fs';

export interface TailCursor {
  /** Byte offset just after the last complete line read. */
  offset: number;
  /** Lines (complete, blank ones included) before `offset`. */
  line: number;
}

export interface TailLine {
  /** 1-based line number in the file. */
  line: number;
  /** Byte offset of the line's first byte, and its length without the newline. */
  offset: number;
  length: number;
  text: string;
}

export interface TailRead {
  lines: TailLine[];
  cursor: TailCursor;
  /** The file is shorter than the cursor: it was rewritten; read again from the start. */
  reset: boolean;
  /** Bytes of a partial last line waiting for its newline. */
  pending: number;
  /** More complete lines remain after this read's byte budget. */
  more: boolean;
}

export const START: TailCursor = { offset: 0, line: 0 };

/** Reads complete lines after `cursor`, at most about `maxBytes` of them. Missing file: nothing. */
export function readTail(path: string, cursor: TailCursor, maxBytes = 8 << 20): TailRead {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return { lines: [], cursor, reset: cursor.offset > 0, pending: 0, more: false };
  }
  if (size < cursor.offset) return { lines: [], cursor: START, reset: true, pending: 0, more: false };
  const want = Math.min(size - cursor.offset, maxBytes);
  if (want === 0) return { lines: [], cursor, reset: false, pending: 0, more: false };
  const buf = Buffer.alloc(want);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, buf, 0, want, cursor.offset);
  } finally {
    closeSync(fd);
  }
  const lines: TailLine[] = [];
  let at = 0;
  let line = cursor.line;
  for (let nl = buf.indexOf(0x0a, at); nl >= 0 && nl < n; nl = buf.indexOf(0x0a, at)) {
    line++;
    lines.push({ line, offset: cursor.offset + at, length: nl - at, text: buf.toString('utf8', at, nl) });
    at = nl + 1;
  }
  if (at === 0 && n === maxBytes && size - cursor.offset > maxBytes) {
    // One line longer than the budget: read it whole rather than stall.
    return readTail(path, cursor, maxBytes * 4);
  }
  const next = { offset: cursor.offset + at, line };
  const more = n < size - cursor.offset;
  return { lines, cursor: next, reset: false, pending: more ? 0 : size - next.offset, more };
}

export interface ParsedLine<T> {
  line: number;
  offset: number;
  length: number;
  value: T;
}

export interface LineError {
  file: string;
  line: number;
  message: string;
}

/** readTail + JSON.parse; bad lines become errors naming file:line. Blank lines are skipped. */
export function readJsonTail<T = unknown>(
  path: string,
  cursor: TailCursor,
  maxBytes?: number,
): TailRead & { records: ParsedLine<T>[]; errors: LineError[] } {
  const r = readTail(path, cursor, maxBytes);
  const records: ParsedLine<T>[] = [];
  const errors: LineError[] = [];
  for (const l of r.lines) {
    if (l.text.trim().length === 0) continue;
    try {
      records.push({ line: l.line, offset: l.offset, length: l.length, value: JSON.parse(l.text) as T });
    } catch (e) {
      errors.push({ file: path, line: l.line, message: `not valid JSON (${(e as Error).message})` });
    }
  }
  return { ...r, records, errors };
}

/** Reads byte ranges (lines indexed earlier) without reading the rest of the file. */
export function readRanges(path: string, ranges: { offset: number; length: number }[]): string[] {
  if (ranges.length === 0) return [];
  const fd = openSync(path, 'r');
  try {
    return ranges.map((r) => {
      const buf = Buffer.alloc(r.length);
      const n = readSync(fd, buf, 0, r.length, r.offset);
      return buf.toString('utf8', 0, n);
    });
  } finally {
    closeSync(fd);
  }
}
