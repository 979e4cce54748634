// What the dashboard shows of a run, read from its files (docs/dashboard.md): metrics rows by
// byte offset, trajectories through a per-file index of line offsets (extended as files grow, so a
// page reads only its own lines), score tables, the resolved config and the checkpoints.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listCheckpoints } from '../rl/checkpoint.ts';
import { buildScoreTable } from '../eval/metrics.ts';
import { scoreTables } from '../eval/viewer.ts';
import { METHOD_NAMES, type ResultRecord } from '../eval/types.ts';
import { PAPER_DATASETS } from '../eval/datasets.ts';
import { renderTrajectoryHtml, type Table, type TrajectorySegment } from '../eval/report/render.ts';
import { readJsonTail, readRanges, START, type LineError, type TailCursor } from './tail.ts';
import { fileInRun, type RunInfo } from './runs.ts';

// ---------------------------------------------------------------- metrics

export interface MetricsChunk {
  rows: Record<string, number>[];
  cursor: TailCursor;
  /** metrics.jsonl was rewritten (resume): drop what was read and start from `cursor`. */
  reset: boolean;
  /** Bytes of a partial last line (a step being written). */
  pending: number;
  more: boolean;
  errors: LineError[];
}

/**
 * A run's own file, or a path that does not exist when the name resolves outside the run folder
 * (a symlink pointing elsewhere): such a file reads as missing, its content is never served.
 */
function own(run: RunInfo, rel: string): string {
  return fileInRun(run, rel) ?? join(run.dir, rel, '\0outside');
}

export function metricsFile(run: RunInfo): string {
  return own(run, 'metrics.jsonl');
}

/** Metrics rows after `cursor`; a run without metrics.jsonl has none. */
export function readMetricsChunk(run: RunInfo, cursor: TailCursor): MetricsChunk {
  const r = readJsonTail<Record<string, number>>(metricsFile(run), cursor);
  const errors = [...r.errors];
  const rows: Record<string, number>[] = [];
  for (const rec of r.records) {
    const v = rec.value;
    if (typeof v !== 'object' || v === null || typeof v.step !== 'number')
      errors.push({
        file: metricsFile(run),
        line: rec.line,
        message: 'not a metrics record (no numeric "step")',
      });
    else rows.push(v);
  }
  return { rows, cursor: r.cursor, reset: r.reset, pending: r.pending, more: r.more, errors };
}

// ---------------------------------------------------------------- trajectories

export type TrajKind = 'rollout' | 'val' | 'eval';

export interface TrajFile {
  kind: TrajKind;
  step: number | null;
  /** Relative to the run folder. */
  rel: string;
  format: 'sample' | 'eval-store' | 'demo';
}

const STEP_FILE = /^step-(\d+)\.jsonl$/;

function stepFiles(run: RunInfo, sub: string, kind: TrajKind): TrajFile[] {
  let names: string[];
  try {
    names = readdirSync(join(run.dir, sub));
  } catch {
    return [];
  }
  return names
    .map((n) => ({ n, m: STEP_FILE.exec(n) }))
    .filter((x) => x.m && fileInRun(run, `${sub}/${x.n}`) !== null)
    .map((x) => ({ kind, step: Number(x.m![1]), rel: `${sub}/${x.n}`, format: 'sample' as const }));
}

/** The run's trajectory files, newest step first. */
export function trajectoryFiles(run: RunInfo): TrajFile[] {
  if (run.kind === 'train')
    return [...stepFiles(run, 'samples', 'rollout'), ...stepFiles(run, 'val', 'val')].sort(
      (a, b) => b.step! - a.step! || (a.kind === 'val' ? -1 : 1),
    );
  if (run.kind === 'eval')
    return [{ kind: 'eval', step: null, rel: 'trajectories.jsonl', format: 'eval-store' }];
  return [{ kind: 'eval', step: null, rel: 'eval.jsonl', format: 'demo' }];
}

/** The fields the browser filters on, kept per line; the line itself stays on disk. */
interface IndexEntry {
  offset: number;
  length: number;
  line: number;
  em: number;
  searches: number;
  group: string;
  /** demo rows: relation and question type, for the EM tables. */
  relation?: string;
  type?: string;
}

interface FileIndex {
  cursor: TailCursor;
  entries: IndexEntry[];
  errors: LineError[];
}

export interface TrajItem {
  kind: TrajKind;
  step: number | null;
  /** file:line in the run folder. */
  source: string;
  group: string;
  id: string;
  question: string;
  golds: string[];
  prediction: string;
  em: number;
  score?: number;
  searches: number;
  finish: string;
  prompt?: string;
  /** The response coloured as the report colours it (renderTrajectoryHtml), injected spans marked. */
  html: string;
}

export interface TrajQuery {
  kind?: TrajKind;
  step?: number;
  correct?: 0 | 1;
  searches?: number;
  group?: string;
  page?: number;
  pageSize?: number;
}

export interface TrajPage {
  items: TrajItem[];
  total: number;
  page: number;
  pageSize: number;
  steps: number[];
  groups: string[];
  searchCounts: number[];
  errors: LineError[];
}

type AnyLine = Record<string, unknown>;
const num = (x: unknown, d = 0) => (typeof x === 'number' && Number.isFinite(x) ? x : d);
const str = (x: unknown) => (typeof x === 'string' ? x : x === null || x === undefined ? '' : String(x));
const strs = (x: unknown) => (Array.isArray(x) ? x.map(str) : []);

function groupOf(format: TrajFile['format'], v: AnyLine): string {
  if (format === 'sample') return str(v.dataSource);
  if (format === 'eval-store') return `${str(v.method)} · ${str(v.dataset)}`;
  return str(v.method);
}

/** Validation lines written before segments existed: the information blocks are the injected text. */
export function segmentsFromText(text: string): TrajectorySegment[] {
  const out: TrajectorySegment[] = [];
  const re = /<information>[\s\S]*?(?:<\/information>|$)/g;
  let at = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > at) out.push({ text: text.slice(at, m.index), injected: false });
    out.push({ text: m[0], injected: true });
    at = m.index + m[0].length;
    if (m[0].length === 0) re.lastIndex++;
  }
  if (at < text.length) out.push({ text: text.slice(at), injected: false });
  return out;
}

function toItem(f: TrajFile, e: IndexEntry, v: AnyLine): TrajItem {
  const segs = Array.isArray(v.segments)
    ? (v.segments as TrajectorySegment[])
    : segmentsFromText(str(v.response));
  const base = {
    kind: f.kind,
    step: f.step,
    source: `${f.rel}:${e.line}`,
    group: e.group,
    em: e.em,
    searches: e.searches,
    html: renderTrajectoryHtml(segs),
  };
  if (f.format === 'sample')
    return {
      ...base,
      id: str(v.id),
      question: str(v.question),
      golds: strs(v.golden),
      prediction: str(v.answer),
      score: num(v.score),
      finish: str(v.finish),
    };
  return {
    ...base,
    id: str(v.id),
    question: str(v.question),
    golds: strs(v.golds),
    prediction: str(v.prediction),
    finish: str(v.finish ?? (v.relation ? `${str(v.type)} · ${str(v.relation)}` : '')),
    prompt: str(v.prompt),
  };
}

/** Per-run state of the server: trajectory indexes and eval results, extended as files grow. */
export class RunData {
  private indexes = new Map<string, FileIndex>();
  private results = new Map<
    string,
    { cursor: TailCursor; byKey: Map<string, ResultRecord>; errors: LineError[] }
  >();

  /** Brings the index of one trajectory file up to date (reads only bytes added since). */
  index(run: RunInfo, f: TrajFile): FileIndex {
    const path = own(run, f.rel);
    let idx = this.indexes.get(path);
    if (!idx) this.indexes.set(path, (idx = { cursor: START, entries: [], errors: [] }));
    for (;;) {
      const r = readJsonTail<AnyLine>(path, idx.cursor);
      if (r.reset) {
        idx.cursor = START;
        idx.entries = [];
        idx.errors = [];
        continue;
      }
      for (const rec of r.records) {
        const v = rec.value;
        if (typeof v !== 'object' || v === null) {
          idx.errors.push({ file: path, line: rec.line, message: 'not a trajectory record' });
          continue;
        }
        idx.entries.push({
          offset: rec.offset,
          length: rec.length,
          line: rec.line,
          em: num(v.em),
          searches: num(v.numSearches ?? v.searches),
          group: groupOf(f.format, v),
          ...(f.format === 'demo' ? { relation: str(v.relation), type: str(v.type) } : {}),
        });
      }
      idx.errors.push(...r.errors);
      idx.cursor = r.cursor;
      if (!r.more) return idx;
    }
  }

  trajectories(run: RunInfo, q: TrajQuery): TrajPage {
    const pageSize = Math.min(100, Math.max(1, q.pageSize ?? 20));
    const page = Math.max(0, q.page ?? 0);
    const files = trajectoryFiles(run);
    const steps = [...new Set(files.map((f) => f.step).filter((s): s is number => s !== null))].sort(
      (a, b) => a - b,
    );
    const chosen = files.filter(
      (f) => (q.kind === undefined || f.kind === q.kind) && (q.step === undefined || f.step === q.step),
    );
    const hits: { f: TrajFile; e: IndexEntry }[] = [];
    const groups = new Set<string>();
    const searchCounts = new Set<number>();
    const errors: LineError[] = [];
    for (const f of chosen) {
      const idx = this.index(run, f);
      errors.push(...idx.errors);
      for (const e of idx.entries) {
        groups.add(e.group);
        searchCounts.add(e.searches);
        if (q.correct !== undefined && (e.em > 0 ? 1 : 0) !== q.correct) continue;
        if (q.searches !== undefined && e.searches !== q.searches) continue;
        if (q.group !== undefined && e.group !== q.group) continue;
        hits.push({ f, e });
      }
    }
    const slice = hits.slice(page * pageSize, (page + 1) * pageSize);
    const items: TrajItem[] = [];
    for (const f of new Set(slice.map((h) => h.f))) {
      const mine = slice.filter((h) => h.f === f);
      const texts = readRanges(
        own(run, f.rel),
        mine.map((h) => h.e),
      );
      mine.forEach((h, i) => items.push(toItem(f, h.e, JSON.parse(texts[i]) as AnyLine)));
    }
    const order = new Map(slice.map((h, i) => [`${h.f.rel}:${h.e.line}`, i]));
    items.sort((a, b) => order.get(a.source)! - order.get(b.source)!);
    return {
      items,
      total: hits.length,
      page,
      pageSize,
      steps,
      groups: [...groups].sort(),
      searchCounts: [...searchCounts].sort((a, b) => a - b),
      errors,
    };
  }

  /** Score tables: eval runs per method × dataset (results.jsonl), demo runs per method × type / relation. */
  tables(run: RunInfo): { tables: Table[]; errors: LineError[] } {
    if (run.kind === 'eval') {
      const path = own(run, 'results.jsonl');
      let st = this.results.get(path);
      if (!st) this.results.set(path, (st = { cursor: START, byKey: new Map(), errors: [] }));
      for (;;) {
        const r = readJsonTail<ResultRecord>(path, st.cursor);
        if (r.reset) {
          st.cursor = START;
          st.byKey.clear();
          st.errors = [];
          continue;
        }
        for (const rec of r.records) st.byKey.set(rec.value.key, rec.value);
        st.errors.push(...r.errors);
        st.cursor = r.cursor;
        if (!r.more) break;
      }
      const t = buildScoreTable(st.byKey.values(), METHOD_NAMES, PAPER_DATASETS);
      return { tables: t.methods.length ? scoreTables(t) : [], errors: st.errors };
    }
    if (run.kind === 'demo') {
      const f = trajectoryFiles(run)[0];
      const idx = this.index(run, f);
      const methods = [...new Set(idx.entries.map((e) => e.group))];
      const mean = (es: IndexEntry[]) => (es.length ? es.reduce((a, e) => a + e.em, 0) / es.length : null);
      const by = (key: 'type' | 'relation', title: string): Table => {
        const values = [...new Set(idx.entries.map((e) => e[key] ?? ''))];
        return {
          title,
          columns: ['method', ...values, 'overall', 'searches / question'],
          rows: methods.map((m) => {
            const es = idx.entries.filter((e) => e.group === m);
            return [
              m,
              ...values.map((v) => mean(es.filter((e) => e[key] === v))),
              mean(es),
              es.reduce((a, e) => a + e.searches, 0) / Math.max(1, es.length),
            ];
          }),
        };
      };
      return {
        tables: idx.entries.length
          ? [by('type', 'EM by question type'), by('relation', 'EM by relation')]
          : [],
        errors: idx.errors,
      };
    }
    return { tables: [], errors: [] };
  }
}

// ---------------------------------------------------------------- config, checkpoints

export function runConfig(run: RunInfo): { file: string; config: unknown } | null {
  const name = run.kind === 'train' ? 'config.json' : run.kind === 'eval' ? 'run.json' : 'summary.json';
  const path = fileInRun(run, name);
  if (!path) return null;
  try {
    return { file: name, config: JSON.parse(readFileSync(path, 'utf8')) as unknown };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') return null;
    return { file: name, config: { error: `${join(run.dir, name)}: ${err.message}` } };
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    n += e.isDirectory() ? dirBytes(join(dir, e.name)) : e.isFile() ? statSync(join(dir, e.name)).size : 0;
  return n;
}

export interface CheckpointInfo {
  step: number;
  /** Relative to the run folder. */
  path: string;
  bytes: number;
  written: string;
  models: string[];
}

export function runCheckpoints(run: RunInfo): CheckpointInfo[] {
  if (run.kind !== 'train') return [];
  return listCheckpoints(run.dir).map((c) => {
    const models = readdirSync(c.dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    return {
      step: c.step,
      path: c.dir.slice(run.dir.length + 1),
      bytes: dirBytes(c.dir),
      written: statSync(join(c.dir, 'state.json')).mtime.toISOString(),
      models,
    };
  });
}
