// `search-r1 demo` (= `npm start`): the whole Search-R1 story on the bundled world, in minutes on a
// laptop CPU. Build the world and its BM25 index → evaluate the shipped base model and the
// baselines on held-out test questions → train with GRPO (search on) → evaluate the trained
// policy → runs/<name>/report.html, summary.json and the table on stdout.
// `--full` adds R1 (RL without search), PPO, GRPO without the retrieved-token mask, SFT and an
// "instruct" start (the base after a short SFT on well-formed trajectories).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Trainer } from '../core/trainer.ts';
import type { Retriever } from '../core/retriever.ts';
import { createTrainer } from '../policy/backends.ts';
import { Bm25Index, buildIndex } from '../retrieval/bm25/index.ts';
import { loadConfig, mergeLayers } from '../rl/config.ts';
import { latestCheckpoint } from '../rl/checkpoint.ts';
import { readMetrics } from '../rl/metrics.ts';
import { train } from '../rl/trainer.ts';
import { direct } from '../eval/methods/direct.ts';
import { rag } from '../eval/methods/rag.ts';
import { r1, searchR1 } from '../eval/methods/search-r1.ts';
import type { Method, MethodOptions } from '../eval/types.ts';
import { renderReport, type Chart, type Table, type TrajectoryView } from '../eval/report/render.ts';
import { DEFAULT_WORLD_SEED, type World } from '../world/world.ts';
import { prepareWorld } from './world-cache.ts';
import { WORLD_PRESETS } from './presets.ts';
import { emByRelation, emByType, evalMethod, evalSubset, type EmTable, type EvalRow } from './evaluate.ts';
import { instructExamples, sftExamples, supervisedTune } from './sft.ts';

export interface DemoOptions {
  name: string;
  seed: number;
  worldSeed: number;
  /** Base model HF folder. */
  model: string;
  cacheDir: string;
  runsDir: string;
  full: boolean;
  /** RL steps and batch (defaults: the `world` preset's). */
  steps?: number;
  promptsPerStep?: number;
  n?: number;
  /** Held-out test questions evaluated per question type. */
  evalPerType: number;
  /** Questions per evaluation batch (progress granularity). */
  evalChunk: number;
  /** Validation during training: every N steps on `valExamples` test questions (0: off). */
  valEvery?: number;
  valExamples?: number;
  /** Continue the training runs of an interrupted demo of the same name from their checkpoints. */
  resume?: boolean;
  /** Training-config keys laid over the demo's for every RL run (e.g. `{actor: {klLoss: {coef: 0.1}}}`). */
  rlOverrides?: Record<string, unknown>;
  /**
   * Passages per search for the Search-R1 agent (training rollouts and its evaluation). RAG keeps its
   * top-3 (and top-5 in --full) whatever this is.
   */
  searchTopk?: number;
  /** SFT steps of the --full baselines (SFT, instruct). */
  sftSteps?: number;
  log?: (line: string) => void;
}

export const DEFAULT_DEMO: Omit<DemoOptions, 'name'> = {
  seed: 0,
  worldSeed: DEFAULT_WORLD_SEED,
  model: 'models/world-base',
  cacheDir: '.cache/search-r1',
  runsDir: 'runs',
  full: false,
  // 20 steps: the held-out EM of base model D is the same after 12 and after 40 steps (0.58 / 0.57 on 200
  // questions; BENCHMARKS.md "Session 3"), so the default spends the time on 400 evaluation questions instead.
  steps: 20,
  promptsPerStep: 12,
  // 200 + 200 held-out questions: with 100 a method's EM carries ±0.05 of sampling noise.
  evalPerType: 200,
  evalChunk: 100,
  valEvery: 10,
  valExamples: 32,
};

/** Rollout limits sized for the world: three ~50-token passages fit one information block. */
const WORLD_ROLLOUT = { maxTurns: 2, topk: 3, maxTurnTokens: 48, maxObsTokens: 256, maxTotalTokens: 768, maxPromptTokens: 512 };

/** The demo's training runs: folder under runs/<name>/train/ → label in charts and logs. */
const RUN_LABEL = {
  grpo: 'GRPO',
  instruct: 'GRPO from instruct',
  r1: 'R1 (no search)',
  ppo: 'PPO',
  nomask: 'GRPO, no mask',
} as const;
type RunKey = keyof typeof RUN_LABEL;

export interface RunCurves {
  name: string;
  metrics: Record<string, number>[];
}

export interface DemoSummary {
  em: Record<string, EmTable>;
  /** EM per relation: {method: {relation: em}} (the table that shows an answer-type collapse). */
  em_by_relation: Record<string, Record<string, number>>;
  searches_per_question: Record<string, number>;
  wall_seconds: number;
  seconds: Record<string, number>;
  seed: number;
  world_seed: number;
  eval_questions: { single_hop: number; two_hop: number };
  /** Evaluated questions per relation. */
  eval_questions_by_relation: Record<string, number>;
  train_runs: string[];
  report: string;
}

const METHOD_LABEL: Record<string, string> = {
  direct: 'Direct (base)',
  rag: 'RAG top-3 (base)',
  'rag-top5': 'RAG top-5 (base)',
  'rag-instruct': 'RAG top-3 (instruct variant)',
  'search-r1-base': 'Search-R1 prompt, base model',
  r1: 'R1 (RL, no search)',
  sft: 'SFT (question → answer)',
  'search-r1': 'Search-R1 (GRPO)',
  'search-r1-ppo': 'Search-R1 (PPO)',
  'search-r1-nomask': 'Search-R1 (GRPO, no retrieved-token mask)',
  'instruct-base': 'Instruct variant, before RL',
  'search-r1-instruct': 'Search-R1 (GRPO from instruct)',
};

/** The policy at the end of a training run: its newest checkpoint. */
async function trainedPolicy(runDir: string, seed: number): Promise<Trainer> {
  const ck = latestCheckpoint(runDir);
  if (!ck) throw new Error(`${runDir}: training left no checkpoint`);
  return createTrainer({ backend: 'embedded', model: join(ck.dir, 'policy'), seed });
}

export async function runDemo(options: Partial<DemoOptions> & { name: string }): Promise<DemoSummary> {
  const o: DemoOptions = { ...DEFAULT_DEMO, ...options };
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = Date.now();
  const seconds: Record<string, number> = {};
  const lap = (k: string, since: number) => (seconds[k] = (Date.now() - since) / 1000);
  const runDir = resolve(o.runsDir, o.name);
  // A new demo under an existing name replaces it; --resume continues its training runs instead.
  if (!o.resume) rmSync(join(runDir, 'train'), { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  if (!existsSync(join(o.model, 'config.json'))) {
    throw new Error(`${o.model}: no base model here (config.json missing); run \`search-r1 pretrain --out ${o.model}\` to make it`);
  }

  let t = Date.now();
  log(`[demo] 1/5 world (seed ${o.worldSeed})`);
  const { world, files, indexDir } = await prepareWorld(o.worldSeed, o.cacheDir, log);
  const retriever: Retriever = await Bm25Index.open(indexDir);
  const evalQs = evalSubset(world.test, o.evalPerType);
  const nSingle = evalQs.filter((q) => q.metadata.type === 'single_hop').length;
  log(`[demo]   ${world.passages.length} passages, ${world.train.length} RL-train and ${world.test.length} test questions; evaluating on ${evalQs.length} (${nSingle} single-hop, ${evalQs.length - nSingle} two-hop)`);
  lap('world', t);

  const methodOpts: Partial<MethodOptions> = {
    topk: 3,
    maxTurns: 4,
    maxTurnTokens: WORLD_ROLLOUT.maxTurnTokens,
    maxObsTokens: WORLD_ROLLOUT.maxObsTokens,
    maxTotalTokens: 1024,
    maxAnswerTokens: 16,
    temperature: 0,
    topP: 1,
    seed: o.seed,
  };
  const rows: Record<string, EvalRow[]> = {};
  const agentTopk = o.searchTopk ?? WORLD_ROLLOUT.topk;
  const evaluate = async (key: string, method: Method, sampler: Trainer, extra: Partial<MethodOptions> = {}) => {
    if (method === searchR1) extra = { topk: agentTopk, ...extra };
    const t1 = Date.now();
    rows[key] = await evalMethod(method, sampler, retriever, evalQs, {
      ...methodOpts,
      ...extra,
      chunk: o.evalChunk,
      onProgress: (d, n) => log(`[demo]   ${METHOD_LABEL[key] ?? key}: ${d}/${n}`),
    });
    const em = emByType(rows[key]);
    log(`[demo]   ${METHOD_LABEL[key] ?? key}: EM ${em.overall.toFixed(3)} (single ${em.single_hop.toFixed(3)}, two-hop ${em.two_hop.toFixed(3)}) in ${((Date.now() - t1) / 1000).toFixed(0)} s`);
  };

  t = Date.now();
  log(`[demo] 2/5 baselines with the base model ${o.model}`);
  const base = await createTrainer({ backend: 'embedded', model: o.model, seed: o.seed });
  await evaluate('direct', direct, base);
  await evaluate('rag', rag, base);
  await evaluate('search-r1-base', searchR1, base);
  lap('baselines', t);

  const curves: RunCurves[] = [];
  const trainOne = async (key: RunKey, layer: Record<string, unknown>, model = o.model): Promise<Trainer> => {
    const t1 = Date.now();
    const label = RUN_LABEL[key];
    const dir = join(runDir, 'train', key);
    const cfg = loadConfig({
      preset: 'world',
      presets: WORLD_PRESETS,
      overrides: mergeLayers(
        {
          name: `${o.name}-${key}`,
          runDir: dir,
          seed: o.seed,
          model,
          // Relation-balanced prompt batches: every relation gets an equal share of each step, so the
          // rare person-answer relations are not drowned by the frequent city ones (BENCHMARKS.md, issue 12).
          data: { train: [files.trainJsonl], val: [files.testJsonl], stratifyBy: 'metadata.relation', ...(o.valExamples ? { maxValExamples: o.valExamples } : {}) },
          retriever: { type: 'bm25', index: indexDir },
          rollout: { ...WORLD_ROLLOUT, topk: agentTopk },
          // Each turn re-sends its whole context; the prefix cache prefills only the new tokens.
          backendOptions: { prefixCache: true },
          // No entropy bonus: Adam rescales even a 0.001-weighted gradient to full learning-rate
          // steps, and when a batch has no reward signal (all advantages 0) that bonus alone drove
          // the tiny policy to collapse (entropy 1.5 → 6, KL 0 → 3 in 30 steps; BENCHMARKS.md).
          // Old log-probs from the sampler (the same numbers, tested): saves a forward pass per step.
          // KL 0.05 (the paper: 0.001): the tiny policy's best held-out EM comes early, and later steps
          // drift its restated question towards the most rewarded answer type; a firmer pull to the
          // reference slows that drift (BENCHMARKS.md, "Session 3").
          actor: { entropyCoef: 0, oldLogprobs: 'rollout', klLoss: { coef: 0.05 } },
          ...(o.steps ? { steps: o.steps } : {}),
          ...(o.promptsPerStep ? { promptsPerStep: o.promptsPerStep, miniBatchPrompts: Math.min(o.promptsPerStep, 8) } : {}),
          ...(o.n ? { n: o.n } : {}),
          ...(o.valEvery !== undefined ? { val: { every: o.valEvery, beforeTrain: o.valEvery > 0 } } : {}),
        },
        o.rlOverrides ?? {},
        layer,
      ),
    });
    log(`[demo]   training ${label}: ${cfg.steps} steps × ${cfg.promptsPerStep} prompts × ${cfg.n} samples (${cfg.algo})`);
    // A view without close(): train() closes the retriever it is given, and the demo still needs it.
    const shared: Retriever = { search: (q, k) => retriever.search(q, k) };
    await train(cfg, { log, retriever: key === 'r1' ? null : shared, resume: o.resume === true && existsSync(join(dir, 'metrics.jsonl')) });
    const mpath = join(dir, 'metrics.jsonl');
    curves.push({ name: label, metrics: existsSync(mpath) ? readMetrics(mpath) : [] });
    lap(`train_${key}`, t1);
    return trainedPolicy(dir, o.seed);
  };

  t = Date.now();
  log('[demo] 3/5 RL: GRPO with search');
  const grpo = await trainOne('grpo', {});
  log('[demo] 4/5 evaluating the trained policy');
  await evaluate('search-r1', searchR1, grpo);
  lap('rl', t);

  if (o.full) {
    t = Date.now();
    log('[demo] --full: SFT baseline (Direct prompt → answer on the RL-train questions)');
    await evaluate('rag-top5', rag, base, { topk: 5 });
    const sft = await createTrainer({ backend: 'embedded', model: o.model, seed: o.seed });
    await supervisedTune(sft, sftExamples(world), { steps: o.sftSteps ?? 100, batchSize: 16, learningRate: 1e-3, seed: o.seed, log });
    await evaluate('sft', direct, sft);
    lap('sft', t);
    t = Date.now();
    log('[demo] --full: instruct variant (short SFT on well-formed trajectories of pretrain questions), then GRPO');
    const inst = await createTrainer({ backend: 'embedded', model: o.model, seed: o.seed });
    await supervisedTune(inst, await instructExamples(world, retriever, o.seed), { steps: o.sftSteps ?? 100, batchSize: 8, learningRate: 1e-3, seed: o.seed, log });
    const instDir = join(runDir, 'instruct-model');
    await inst.saveWeights(instDir);
    await evaluate('instruct-base', searchR1, inst);
    // RL from an instruct start is compared with RAG on that start too (the stronger RAG is the bar).
    await evaluate('rag-instruct', rag, inst);
    const instRl = await trainOne('instruct', {}, instDir);
    await evaluate('search-r1-instruct', searchR1, instRl);
    lap('instruct', t);
    log('[demo] --full: R1 (no search), PPO, no mask');
    const r1Policy = await trainOne('r1', { rollout: { searchEnabled: false }, retriever: { type: 'none' } });
    await evaluate('r1', r1, r1Policy);
    // Equal rollout budgets: GRPO samples n responses for each of P prompts; PPO one response for
    // each of n·P prompts (the same number of trajectories and generated tokens per step).
    const grpoCfgN = o.n ?? 5;
    const ppoPrompts = (o.promptsPerStep ?? 12) * grpoCfgN;
    const ppo = await trainOne('ppo', { algo: 'ppo', n: 1, promptsPerStep: ppoPrompts, miniBatchPrompts: Math.min(ppoPrompts, 8 * grpoCfgN) });
    await evaluate('search-r1-ppo', searchR1, ppo);
    const nomask = await trainOne('nomask', { actor: { stateMasking: false, oldLogprobs: 'recompute' } });
    await evaluate('search-r1-nomask', searchR1, nomask);
  }

  log('[demo] 5/5 report');
  const summary = writeOutputs(o, runDir, rows, curves, seconds, (Date.now() - t0) / 1000);
  await retriever.close?.();
  return summary;
}

const CURVES: { title: string; key: string | ((m: Record<string, number>) => number | undefined) }[] = [
  { title: 'Reward (train batch mean)', key: 'critic/score/mean' },
  { title: 'EM (train batch)', key: 'train/em' },
  { title: 'Response length (tokens)', key: 'response_length/mean' },
  { title: 'Searches per question', key: 'env/number_of_valid_search' },
  // GRPO logs its KL loss as actor/kl_loss; PPO folds the KL into the reward and logs it as critic/kl
  // (its actor/kl_loss is a constant 0, and actor/ppo_kl is the KL to the rollout policy, not the reference).
  { title: 'KL to reference', key: (m) => m['critic/kl'] ?? m['actor/kl_loss'] },
  { title: 'Entropy', key: 'actor/entropy_loss' },
  { title: 'Validation EM (test questions)', key: (m) => { const k = Object.keys(m).find((x) => x.startsWith('val/test_score/')); return k ? m[k] : undefined; } },
];

export function curveCharts(curves: RunCurves[]): Chart[] {
  return CURVES.map(({ title, key }) => ({
    title,
    series: curves.map((c) => {
      const pts = c.metrics
        .map((m) => ({ x: m.step, y: typeof key === 'string' ? m[key] : key(m) }))
        .filter((p): p is { x: number; y: number } => typeof p.x === 'number' && typeof p.y === 'number' && Number.isFinite(p.y));
      return { name: c.name, x: pts.map((p) => p.x), y: pts.map((p) => p.y) };
    }),
  })).filter((ch) => ch.series.some((s) => s.x.length > 0));
}

function pickTrajectories(rows: Record<string, EvalRow[]>): TrajectoryView[] {
  const out: TrajectoryView[] = [];
  const add = (key: string, r: EvalRow | undefined, note: string) => {
    if (!r) return;
    out.push({
      title: `${METHOD_LABEL[key] ?? key} — ${note}: ${r.question}`,
      prompt: r.prompt,
      segments: r.segments,
      meta: { type: r.type, relation: r.relation, gold: r.golds.join(' | '), prediction: r.prediction || '(none)', EM: r.em, searches: r.numSearches },
    });
  };
  const trained = rows['search-r1'] ?? [];
  add('search-r1', trained.find((r) => r.em === 1 && r.type === 'single_hop'), 'correct, single-hop');
  add('search-r1', trained.find((r) => r.em === 1 && r.type === 'two_hop'), 'correct, two-hop');
  add('search-r1', trained.find((r) => r.em === 0), 'wrong');
  const base = rows['search-r1-base'] ?? [];
  add('search-r1-base', base[0], 'before RL');
  add('search-r1-base', base.find((r) => r.numSearches > 0), 'before RL, a search');
  add('r1', (rows.r1 ?? [])[0], 'no search');
  return out;
}

function writeOutputs(
  o: DemoOptions,
  runDir: string,
  rows: Record<string, EvalRow[]>,
  curves: RunCurves[],
  seconds: Record<string, number>,
  wallSeconds: number,
): DemoSummary {
  // Every method is evaluated on the same questions, in the same order.
  const evalQs = Object.values(rows)[0] ?? [];
  const em: Record<string, EmTable> = {};
  const emRel: Record<string, Record<string, number>> = {};
  const searches: Record<string, number> = {};
  for (const [k, rs] of Object.entries(rows)) {
    em[k] = emByType(rs);
    emRel[k] = emByRelation(rs);
    searches[k] = rs.reduce((a, r) => a + r.numSearches, 0) / Math.max(1, rs.length);
  }
  const byRelation: Record<string, number> = {};
  for (const q of evalQs) byRelation[q.relation] = (byRelation[q.relation] ?? 0) + 1;
  const nSingle = evalQs.filter((q) => q.type === 'single_hop').length;
  const reportPath = join(runDir, 'report.html');
  const summary: DemoSummary = {
    em,
    em_by_relation: emRel,
    searches_per_question: searches,
    wall_seconds: wallSeconds,
    seconds,
    seed: o.seed,
    world_seed: o.worldSeed,
    eval_questions: { single_hop: nSingle, two_hop: evalQs.length - nSingle },
    eval_questions_by_relation: byRelation,
    train_runs: curves.map((c) => c.name),
    report: reportPath,
  };
  const table: Table = {
    title: 'Exact match on held-out test questions (greedy)',
    columns: ['method', 'single-hop', 'two-hop', 'overall', 'searches / question'],
    rows: Object.keys(em).map((k) => [METHOD_LABEL[k] ?? k, ...[em[k].single_hop, em[k].two_hop, em[k].overall, searches[k]].map((x) => x.toFixed(3))]),
    caption: `${evalQs.length} test questions about entities never seen in pretraining or RL (${nSingle} single-hop). World seed ${o.worldSeed}, seed ${o.seed}.`,
  };
  const perRelation: Table = {
    title: 'EM by relation',
    columns: ['relation', ...Object.keys(rows).map((k) => METHOD_LABEL[k] ?? k)],
    rows: Object.keys(byRelation).map((rel) => [`${rel} (${byRelation[rel]})`, ...Object.keys(rows).map((k) => (rel in emRel[k] ? emRel[k][rel].toFixed(3) : null))]),
  };
  const timing: Table = { title: 'Wall time (s)', columns: ['phase', 'seconds'], rows: [...Object.entries(seconds), ['total', summary.wall_seconds]].map(([k, v]) => [k as string, (v as number).toFixed(1)]) };
  const html = renderReport({
    title: `Search-R1 on the bundled world — ${o.name}`,
    subtitle: `A tiny policy learns by RL to call a search engine and copy answers from what it finds.`,
    notes: [
      'Test questions are about fictional entities whose passages the base model never read: answers can only come from search. ' +
        'Direct answers from memory; RAG puts the top-3 passages for the question in the prompt; "Search-R1 prompt, base model" is the ' +
        'pretrained model before RL; Search-R1 (GRPO) is after RL with the outcome reward (EM) alone.',
    ],
    tables: [table, perRelation, timing],
    charts: curveCharts(curves),
    trajectories: pickTrajectories(rows),
  });
  writeFileSync(reportPath, html);
  writeFileSync(join(runDir, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(runDir, 'eval.jsonl'), Object.entries(rows).flatMap(([k, rs]) => rs.map((r) => JSON.stringify({ method: k, ...r }))).join('\n') + '\n');
  return summary;
}

/**
 * Re-renders runs/<name>/report.html and summary.json from a finished demo's files (eval.jsonl,
 * train/<run>/metrics.jsonl, summary.json), e.g. after an upgrade of the report; nothing is re-run.
 */
export function rerenderReport(runDir: string): DemoSummary {
  const need = (f: string): string => {
    const p = join(runDir, f);
    if (!existsSync(p)) throw new Error(`${p}: missing; --report-only needs a finished demo run`);
    return readFileSync(p, 'utf8');
  };
  const prev = JSON.parse(need('summary.json')) as DemoSummary;
  const rows: Record<string, EvalRow[]> = {};
  need('eval.jsonl')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      let rec: EvalRow & { method: string };
      try {
        rec = JSON.parse(line) as EvalRow & { method: string };
      } catch (e) {
        throw new Error(`${join(runDir, 'eval.jsonl')}:${i + 1}: ${(e as Error).message}`);
      }
      const { method, ...row } = rec;
      (rows[method] ??= []).push(row);
    });
  const curves: RunCurves[] = (Object.keys(RUN_LABEL) as RunKey[])
    .filter((k) => existsSync(join(runDir, 'train', k, 'metrics.jsonl')))
    .map((k) => ({ name: RUN_LABEL[k], metrics: readMetrics(join(runDir, 'train', k, 'metrics.jsonl')) }));
  const o = { ...DEFAULT_DEMO, name: basename(runDir), seed: prev.seed, worldSeed: prev.world_seed };
  return writeOutputs(o, runDir, rows, curves, prev.seconds, prev.wall_seconds);
}

export function formatTable(s: DemoSummary): string {
  const lines = [`${'method'.padEnd(44)} ${'single-hop'.padStart(10)} ${'two-hop'.padStart(8)} ${'overall'.padStart(8)} ${'searches'.padStart(9)}`];
  for (const [k, v] of Object.entries(s.em)) {
    lines.push(
      `${(METHOD_LABEL[k] ?? k).padEnd(44)} ${v.single_hop.toFixed(3).padStart(10)} ${v.two_hop.toFixed(3).padStart(8)} ${v.overall.toFixed(3).padStart(8)} ${s.searches_per_question[k].toFixed(2).padStart(9)}`,
    );
  }
  lines.push(`wall time ${s.wall_seconds.toFixed(0)} s; report: ${s.report}`);
  return lines.join('\n');
}
