// The resumable result store of one eval run directory:
//   run.json           what was run (model, retriever, method options); a rerun must match it
//   results.jsonl      one scored question per line, appended as questions finish
//   trajectories.jsonl the same with the prompt and transcript
// A rerun loads results.jsonl and skips every (method, dataset, id) already there. A crash can
// leave a partial last line: it is dropped (and cut off the file) since that question was not
// recorded; a malformed line anywhere else is an error naming the file and line.
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ResultRecord, TrajectoryRecord } from './types.ts';

export const resultKey = (method: string, dataset: string, id: string) =>
  `${method}\u241f${dataset}\u241f${id}`;

export interface StoreFiles {
  dir: string;
  runJson: string;
  results: string;
  trajectories: string;
}

export function storeFiles(dir: string): StoreFiles {
  return {
    dir,
    runJson: join(dir, 'run.json'),
    results: join(dir, 'results.jsonl'),
    trajectories: join(dir, 'trajectories.jsonl'),
  };
}

/**
 * Cuts a partial last line (a write interrupted by a crash) off a file we append to, reading only
 * its tail. Returns the number of bytes removed.
 */
export function dropPartialTail(path: string): number {
  if (!existsSync(path)) return 0;
  const size = statSync(path).size;
  if (size === 0) return 0;
  const fd = openSync(path, 'r');
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, n).lastIndexOf(0x0a);
      if (nl >= 0) {
        const keep = start + nl + 1;
        if (keep < size) truncateSync(path, keep);
        return size - keep;
      }
      end = start;
    }
  } finally {
    closeSync(fd);
  }
  truncateSync(path, 0); // no newline at all: one partial line
  return size;
}

/** Calls fn(line, lineNumber) for each complete line, reading in 4 MiB chunks (files can be GBs). */
export function forEachLine(path: string, fn: (line: string, lineNo: number) => void): void {
  if (!existsSync(path)) return;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4 * 1024 * 1024);
    let carry: Buffer = Buffer.alloc(0);
    let lineNo = 0;
    let pos = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      pos += n;
      let data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, n)]) : buf.subarray(0, n);
      let at = 0;
      for (let nl = data.indexOf(0x0a, at); nl >= 0; nl = data.indexOf(0x0a, at)) {
        fn(data.toString('utf8', at, nl), ++lineNo);
        at = nl + 1;
      }
      carry = Buffer.from(data.subarray(at)); // copy: buf is reused
      data = Buffer.alloc(0);
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a JSONL file we append to (after dropPartialTail): a malformed line names file:line. */
export function readAppendLog<T>(
  path: string,
  check: (v: unknown) => v is T,
  onRecord?: (v: T) => void,
): T[] {
  const out: T[] = [];
  forEachLine(path, (line, lineNo) => {
    if (line.trim().length === 0) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(
        `${path}:${lineNo}: not valid JSON (${(e as Error).message}); fix or delete the line to resume`,
      );
    }
    if (!check(v))
      throw new Error(`${path}:${lineNo}: not a result record; fix or delete the line to resume`);
    if (onRecord) onRecord(v);
    else out.push(v);
  });
  return out;
}

export function isResultRecord(v: unknown): v is ResultRecord {
  const r = v as ResultRecord;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.key === 'string' &&
    typeof r.method === 'string' &&
    typeof r.dataset === 'string' &&
    typeof r.id === 'string' &&
    typeof r.em === 'number' &&
    typeof r.subem === 'number' &&
    typeof r.f1 === 'number'
  );
}

export function isTrajectoryRecord(v: unknown): v is TrajectoryRecord {
  return isResultRecord(v) && Array.isArray((v as TrajectoryRecord).segments);
}

export class ResultStore {
  readonly files: StoreFiles;
  readonly done = new Map<string, ResultRecord>();

  /**
   * Opens (creating) a run directory. `config` describes the run; when run.json exists with a
   * different config, resuming would mix results of different runs: refused unless `fresh`
   * (which starts the files over).
   */
  constructor(dir: string, config: Record<string, unknown>, opts: { fresh?: boolean } = {}) {
    this.files = storeFiles(dir);
    mkdirSync(dir, { recursive: true });
    if (opts.fresh) {
      writeFileSync(this.files.results, '');
      writeFileSync(this.files.trajectories, '');
    } else if (existsSync(this.files.runJson)) {
      const prev = JSON.parse(readFileSync(this.files.runJson, 'utf8')) as Record<string, unknown>;
      const a = JSON.stringify(prev);
      const b = JSON.stringify(config);
      if (a !== b) {
        throw new Error(
          `${this.files.runJson}: this directory holds results of a different run (${diffKeys(prev, config).join(', ')} differ); ` +
            'use another --out directory or --fresh to start over',
        );
      }
    }
    writeFileSync(this.files.runJson, JSON.stringify(config, null, 2) + '\n');
    // A crash mid-append leaves a partial last line: cut it (that question is redone).
    dropPartialTail(this.files.results);
    dropPartialTail(this.files.trajectories);
    readAppendLog(this.files.results, isResultRecord, (r) => this.done.set(r.key, r));
  }

  has(key: string): boolean {
    return this.done.has(key);
  }

  /** Appends finished questions: transcripts first, then the results line that marks them done. */
  append(records: TrajectoryRecord[]): void {
    if (records.length === 0) return;
    appendFileSync(this.files.trajectories, records.map((r) => JSON.stringify(r) + '\n').join(''));
    const results = records.map((r) => {
      const { prompt: _p, segments: _s, ...res } = r;
      return res as ResultRecord;
    });
    appendFileSync(this.files.results, results.map((r) => JSON.stringify(r) + '\n').join(''));
    for (const r of results) this.done.set(r.key, r);
  }

  /**
   * Recorded transcripts (of recorded results; the last copy of a redone key wins) for which
   * `keep` holds, at most `max` in all, spread evenly over the (method, dataset) groups: the
   * file can hold hundreds of thousands of transcripts, it is streamed, not loaded.
   */
  trajectories(keep: (r: ResultRecord) => boolean = () => true, max = Infinity): TrajectoryRecord[] {
    const groups = new Set<string>();
    for (const r of this.done.values()) if (keep(r)) groups.add(`${r.method}\u241f${r.dataset}`);
    const quota = groups.size === 0 ? 0 : Math.ceil(max / groups.size);
    const perGroup = new Map<string, number>();
    const byKey = new Map<string, TrajectoryRecord>();
    readAppendLog(this.files.trajectories, isTrajectoryRecord, (t) => {
      const r = this.done.get(t.key);
      if (!r || !keep(r)) return;
      if (byKey.has(t.key)) {
        byKey.set(t.key, t);
        return;
      }
      const g = `${t.method}\u241f${t.dataset}`;
      const n = perGroup.get(g) ?? 0;
      if (n >= quota) return;
      perGroup.set(g, n + 1);
      byKey.set(t.key, t);
    });
    return [...byKey.values()];
  }
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
