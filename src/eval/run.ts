// `search-r1 eval` as a library function: every method on every dataset, batch by batch, each
// finished batch appended to the run directory (resumable), then the markdown table, the
// trajectories and the HTML report written from everything recorded.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sampler } from '../core/sampler.ts';
import type { QaExample } from '../core/qa.ts';
import type { Retriever } from '../core/retriever.ts';
import { buildScoreTable, markdownTables, scorePrediction, type ScoreTable } from './metrics.ts';
import { ResultStore, resultKey } from './store.ts';
import type { Method, MethodOptions, TrajectoryRecord } from './types.ts';
import { renderEvalReport } from './viewer.ts';

export interface EvalDataset {
  name: string;
  examples: QaExample[];
}

export interface RunEvalOptions {
  datasets: EvalDataset[];
  methods: Method[];
  sampler: Sampler;
  retriever: Retriever | null;
  opts: MethodOptions;
  outDir: string;
  /** Questions per method call (batched generation). Default 16. */
  batchSize?: number;
  /** Describes the run in run.json (model, retriever, ...); a resumed run must match it. */
  runInfo?: Record<string, unknown>;
  /** Start the run directory over instead of resuming. */
  fresh?: boolean;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  title?: string;
  /** Trajectories embedded in report.html (default 5000, spread over method × dataset). */
  maxReportTrajectories?: number;
}

export interface RunEvalResult {
  table: ScoreTable;
  markdown: string;
  /** Questions answered in this call (the rest came from an earlier run). */
  newlyScored: number;
  files: { results: string; trajectories: string; table: string; scores: string; report: string };
}

export async function runEval(o: RunEvalOptions): Promise<RunEvalResult> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const batchSize = Math.max(1, o.batchSize ?? 16);
  for (const m of o.methods) {
    if (m.retrieves && !o.retriever)
      throw new Error(`method ${m.name} needs a retriever (--retriever INDEX_DIR or --retriever-url URL)`);
  }
  for (const d of o.datasets) {
    const seen = new Set<string>();
    for (const ex of d.examples) {
      if (seen.has(ex.id))
        throw new Error(`dataset ${d.name}: duplicate question id "${ex.id}" (ids must be unique to resume)`);
      seen.add(ex.id);
    }
  }
  const store = new ResultStore(o.outDir, { ...o.runInfo, options: o.opts }, { fresh: o.fresh });
  const total = o.methods.length * o.datasets.reduce((s, d) => s + d.examples.length, 0);
  let done = 0; // of this call's questions, already scored
  for (const m of o.methods)
    for (const d of o.datasets)
      for (const ex of d.examples) if (store.has(resultKey(m.name, d.name, ex.id))) done++;
  let newly = 0;
  const started = Date.now();
  // A prompt at or over the context gets an empty completion: count those, they are not model errors.
  const overflowed = (out: { finish: string; prompt: string }) =>
    out.finish === 'prompt_too_long' ||
    o.sampler.tokenizer.encode(out.prompt).length >= o.opts.maxTotalTokens;
  for (const method of o.methods) {
    for (const ds of o.datasets) {
      const todo = ds.examples.filter((ex) => !store.has(resultKey(method.name, ds.name, ex.id)));
      if (todo.length === 0) continue;
      if (todo.length < ds.examples.length)
        log(
          `eval: ${method.name} on ${ds.name}: resuming, ${ds.examples.length - todo.length} already scored`,
        );
      for (let at = 0; at < todo.length; at += batchSize) {
        const batch = todo.slice(at, at + batchSize);
        const outs = await method.run(batch, { sampler: o.sampler, retriever: o.retriever, opts: o.opts });
        if (outs.length !== batch.length)
          throw new Error(
            `method ${method.name} returned ${outs.length} outputs for ${batch.length} questions`,
          );
        const records: TrajectoryRecord[] = batch.map((ex, i) => {
          const out = outs[i];
          return {
            key: resultKey(method.name, ds.name, ex.id),
            method: method.name,
            dataset: ds.name,
            id: ex.id,
            question: ex.question,
            golds: ex.goldenAnswers,
            prediction: out.prediction,
            ...scorePrediction(out.prediction, ex.goldenAnswers),
            numSearches: out.numSearches,
            numGenerations: out.numGenerations,
            finish: out.finish,
            ...(overflowed(out) ? { contextOverflow: true } : {}),
            prompt: out.prompt,
            segments: out.segments,
          };
        });
        store.append(records);
        done += records.length;
        newly += records.length;
        const secs = (Date.now() - started) / 1000;
        const qps = newly / Math.max(secs, 1e-9);
        const eta = (total - done) / Math.max(qps, 1e-9);
        log(
          `eval: ${method.name} on ${ds.name}: ${Math.min(at + batch.length, todo.length)}/${todo.length} · total ${done}/${total} · ${qps.toFixed(2)} q/s · eta ${formatSeconds(eta)}`,
        );
      }
    }
  }
  // Tables and report over exactly this call's questions (the directory may also hold other
  // methods, datasets or questions from earlier calls, e.g. a larger --limit).
  const wanted = new Set<string>();
  for (const m of o.methods)
    for (const d of o.datasets) for (const ex of d.examples) wanted.add(resultKey(m.name, d.name, ex.id));
  const isWanted = (r: { key: string }) => wanted.has(r.key);
  const records = [...store.done.values()].filter(isWanted);
  const table = buildScoreTable(
    records,
    o.methods.map((m) => m.name),
    o.datasets.map((d) => d.name),
  );
  const title = o.title ?? 'Search-R1 evaluation';
  const info = o.runInfo
    ? Object.entries(o.runInfo).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    : [];
  const header = [
    `# ${title}`,
    '',
    ...info.map((l) => `- ${l}`),
    `- decoding: temperature ${o.opts.temperature}, top-p ${o.opts.topP}; top-k passages ${o.opts.topk}; max turns ${o.opts.maxTurns}`,
    '',
  ].join('\n');
  const overflow = overflowCounts(records);
  const overflowNote =
    overflow.total === 0
      ? ''
      : `\n**${overflow.total} prompt${overflow.total === 1 ? '' : 's'} did not fit the model's context (${o.opts.maxTotalTokens} tokens)** and scored 0 without an answer: ${overflow.lines.join('; ')}.\n`;
  if (overflow.total > 0)
    log(
      `eval: ${overflow.total} prompts did not fit the context of ${o.opts.maxTotalTokens} tokens (${overflow.lines.join('; ')})`,
    );
  const markdown = `${header}${overflowNote}\n${markdownTables(table)}`;
  const files = {
    results: store.files.results,
    trajectories: store.files.trajectories,
    table: join(o.outDir, 'table.md'),
    scores: join(o.outDir, 'scores.json'),
    report: join(o.outDir, 'report.html'),
  };
  writeFileSync(files.table, markdown);
  // The same numbers for programs (CI regression checks, the lead's BENCHMARKS merge).
  writeFileSync(
    files.scores,
    JSON.stringify({ ...o.runInfo, options: o.opts, ...table, contextOverflow: overflow.byCell }, null, 2) +
      '\n',
  );
  const maxShown = o.maxReportTrajectories ?? 5000;
  const trajectories = store.trajectories(isWanted, maxShown);
  writeFileSync(
    files.report,
    renderEvalReport({
      title,
      notes: info,
      table,
      trajectories,
      maxTrajectories: maxShown,
      totalTrajectories: records.length,
    }),
  );
  return { table, markdown, newlyScored: newly, files };
}

/** Questions whose prompt did not fit the context, per `method / dataset`. */
function overflowCounts(records: { method: string; dataset: string; contextOverflow?: boolean }[]): {
  total: number;
  byCell: Record<string, number>;
  lines: string[];
} {
  const byCell: Record<string, number> = {};
  for (const r of records)
    if (r.contextOverflow)
      byCell[`${r.method} / ${r.dataset}`] = (byCell[`${r.method} / ${r.dataset}`] ?? 0) + 1;
  const lines = Object.entries(byCell).map(([k, n]) => `${k}: ${n}`);
  return { total: Object.values(byCell).reduce((a, b) => a + b, 0), byCell, lines };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
