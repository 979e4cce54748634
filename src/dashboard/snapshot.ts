// `search-r1 report RUN`: the dashboard's view of a run (and the runs nested in it, e.g. a demo's
// training runs) as one static HTML file. The page is the dashboard app with this snapshot of the
// data embedded in place of the server: every metrics row, the tables, config, checkpoints and a
// bounded sample of trajectories (newest steps first), filtered and paged in the page.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { discoverRuns } from './runs.ts';
import {
  readMetricsChunk,
  RunData,
  runCheckpoints,
  runConfig,
  type CheckpointInfo,
  type TrajItem,
} from './data.ts';
import type { LineError } from './tail.ts';
import type { Table } from '../eval/report/render.ts';
import type { PublicRun } from './server.ts';
import { dashboardHtml } from './page.ts';

export interface Snapshot {
  generated: string;
  runs: PublicRun[];
  metrics: Record<string, Record<string, number>[]>;
  errors: Record<string, LineError[]>;
  tables: Record<string, Table[]>;
  config: Record<string, { file: string; config: unknown } | null>;
  checkpoints: Record<string, CheckpointInfo[]>;
  trajectories: Record<string, TrajItem[]>;
  /** Trajectories each run has in all (the snapshot may hold fewer). */
  trajectoryTotals: Record<string, number>;
}

/** Most trajectories embedded per run (the page stays light; the run's files have them all). */
export const MAX_SNAPSHOT_TRAJECTORIES = 400;

export function buildSnapshot(runDir: string, maxTrajectories = MAX_SNAPSHOT_TRAJECTORIES): Snapshot {
  const runs = discoverRuns([runDir]);
  if (runs.length === 0)
    throw new Error(
      `${runDir}: not a run folder (no metrics.jsonl, config.json with val/ or checkpoints/, run.json, results.jsonl, summary.json or eval.jsonl in it or below it)`,
    );
  const data = new RunData();
  const s: Snapshot = {
    generated: new Date().toISOString(),
    runs: runs.map((r) => ({ id: r.id, name: r.name, kind: r.kind, parent: r.parent ?? null })),
    metrics: {},
    errors: {},
    tables: {},
    config: {},
    checkpoints: {},
    trajectories: {},
    trajectoryTotals: {},
  };
  for (const run of runs) {
    const rows: Record<string, number>[] = [];
    const errors: LineError[] = [];
    let cursor = { offset: 0, line: 0 };
    for (;;) {
      const c = readMetricsChunk(run, cursor);
      rows.push(...c.rows);
      errors.push(...c.errors);
      cursor = c.cursor;
      if (!c.more) {
        if (c.pending > 0)
          errors.push({
            file: `${run.dir}/metrics.jsonl`,
            line: cursor.line + 1,
            message: `a partial last line (${c.pending} bytes, no newline yet): not shown`,
          });
        break;
      }
    }
    s.metrics[run.id] = rows;
    const t = data.tables(run);
    s.tables[run.id] = t.tables;
    errors.push(...t.errors);
    s.config[run.id] = runConfig(run);
    s.checkpoints[run.id] = runCheckpoints(run);
    const page = data.trajectories(run, { page: 0, pageSize: 100 });
    const items = [...page.items];
    for (let p = 1; items.length < Math.min(maxTrajectories, page.total); p++)
      items.push(...data.trajectories(run, { page: p, pageSize: 100 }).items);
    s.trajectories[run.id] = items.slice(0, maxTrajectories);
    s.trajectoryTotals[run.id] = page.total;
    errors.push(...page.errors);
    s.errors[run.id] = errors;
  }
  return s;
}

/** Writes RUN/dashboard.html (or `out`); returns its path. */
export function writeStaticReport(runDir: string, out?: string): string {
  const snap = buildSnapshot(runDir);
  const path = resolve(out ?? `${runDir}/dashboard.html`);
  writeFileSync(path, dashboardHtml(snap, `Search-R1 report — ${snap.runs[0].name}`));
  return path;
}
