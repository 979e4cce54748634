// The resumable result store of one eval run directory:
//   run.json           what was run (model, retriever, method options); a rerun must match it
//   results.jsonl      one scored question per line, appended as questions finish
//   trajectories.jsonl the same with the prompt and transcript
// A rerun loads results.jsonl and skips every (method, dataset, id) already there. A crash can
// leave a partial last line: it is dropped (and cut off the file) since that question was not
// recorded; a malformed line anywhere else is an error naming the file and line.
import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
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

/** Reads a JSONL file we append to; drops (and truncates away) a partial last line. */
export function readAppendLog<T>(path: string, check: (v: unknown) => v is T): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const out: T[] = [];
  const lines = text.split('\n');
  const complete = lines.length - 1; // the last piece is empty or a partial line
  for (let i = 0; i < complete; i++) {
    const line = lines[i];
    if (line.trim().length === 0) continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new Error(
        `${path}:${i + 1}: not valid JSON (${(e as Error).message}); fix or delete the line to resume`,
      );
    }
    if (!check(v)) throw new Error(`${path}:${i + 1}: not a result record; fix or delete the line to resume`);
    out.push(v);
  }
  if (!text.endsWith('\n') && lines[lines.length - 1].length > 0) {
    // A partial write from a crash: that question will be redone.
    truncateSync(path, Buffer.byteLength(text) - Buffer.byteLength(lines[lines.length - 1]));
  }
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
    for (const r of readAppendLog(this.files.results, isResultRecord)) this.done.set(r.key, r);
    // Keep the trajectory log consistent (drop its partial last line too).
    readAppendLog(this.files.trajectories, isTrajectoryRecord);
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

  /** Every recorded transcript whose result is recorded (last one wins for a redone key). */
  trajectories(): TrajectoryRecord[] {
    const byKey = new Map<string, TrajectoryRecord>();
    for (const t of readAppendLog(this.files.trajectories, isTrajectoryRecord))
      if (this.done.has(t.key)) byKey.set(t.key, t);
    return [...byKey.values()];
  }
}

function diffKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
}
