// The RL trainer loop (issue 5): data → prompts → rollouts → rewards → update → validation →
// metrics → checkpoints, with exact resume. The models sit behind the Trainer seam, so the same
// loop runs on the embedded engine or a remote backend.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sampler } from '../core/sampler.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import type { Trainer } from '../core/trainer.ts';
import type { QaExample } from '../core/qa.ts';
import type { Retriever } from '../core/retriever.ts';
import type { RolloutConfig, Trajectory } from '../rollout/types.ts';
import { normalizeQuestion, searchR1UserPrompt } from '../protocol/prompt.ts';
import { readQaFile } from '../data/qa.ts';
import { extractAnswer, metricScore, type ScoreOptions } from '../protocol/rewards.ts';
import type { Env } from '../core/env.ts';
import { searchR1Env } from '../rollout/search-env.ts';
import { createTrainer as defaultCreateTrainer, type TrainerSpec } from '../policy/backends.ts';
import { emptyRolloutStats, runRollouts, type RolloutStats } from '../rollout/rollout.ts';
import { groupsWithSignal, type GroupId } from './advantages.ts';
import type { TrainConfig } from './config.ts';
import { PromptLoader, stratumKey } from './data-loader.ts';
import { deriveSeed } from '../core/rng.ts';
import { SEED_PURPOSE } from './rng.ts';
import { rlUpdate } from './update.ts';
import { MetricsLog, progressLine, rolloutMetrics } from './metrics.ts';
import { sampleLine, writeRolloutSamples } from './samples.ts';
import {
  CheckpointWriteError,
  loadCheckpoint,
  resumeCheckpoint,
  saveCheckpoint,
  type CheckpointState,
} from './checkpoint.ts';
import {
  resumeCommand,
  RunInterrupted,
  signalExitCode,
  StepAbandoned,
  type RunInterrupt,
} from './interrupt.ts';
import type { LoaderState } from './data-loader.ts';
import type { UpdateModels, UpdateResult } from './update.ts';
import { timed, type Timing } from './timing.ts';

export interface TrainDeps {
  /** Backend factory (default: src/policy/backends.ts). Tests inject fakes here. */
  createTrainer?: (spec: TrainerSpec) => Promise<Trainer>;
  /** Overrides the configured retriever (null: none). Not closed by train(): it is the caller's. */
  retriever?: Retriever | null;
  /** Overrides the configured data files. */
  data?: { train: QaExample[]; val: QaExample[] };
  /** Progress output (default: stderr). */
  log?: (line: string) => void;
  /** Stop requests (SIGINT/SIGTERM, installed by the CLI): see src/rl/interrupt.ts. */
  interrupt?: RunInterrupt;
  /** Called after each step's metrics are written (tests, dashboards). */
  onStep?: (metrics: Record<string, number>) => void;
}

export interface TrainResult {
  runDir: string;
  lastStep: number;
  lastMetrics: Record<string, number> | null;
}

/** Raised when too many consecutive steps had non-finite numbers. */
export class TrainingDivergedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

export interface PromptItem {
  example: QaExample;
  tokens: number[];
}

/** The prompt ids of a question: Search-R1 instruction, through the chat template when there is one. */
export function encodePrompt(tok: Tokenizer, question: string, template?: string): number[] {
  // split/join, not replace: a `$` in a question must not act as a replacement pattern
  const user =
    template === undefined
      ? searchR1UserPrompt(question)
      : template.split('{question}').join(normalizeQuestion(question));
  const chat = tok.applyChatTemplate([{ role: 'user', content: user }], { addGenerationPrompt: true });
  return tok.encode(chat ?? user);
}

function buildPrompts(
  tok: Tokenizer,
  examples: QaExample[],
  maxTokens: number,
  template: string | undefined,
  what: string,
  log: (s: string) => void,
  strict: boolean,
): PromptItem[] {
  const items: PromptItem[] = [];
  const tooLong: string[] = [];
  for (const ex of examples) {
    const tokens = encodePrompt(tok, ex.question, template);
    if (tokens.length > maxTokens) tooLong.push(`${ex.id} (${tokens.length} tokens)`);
    else items.push({ example: ex, tokens });
  }
  if (tooLong.length > 0) {
    const msg = `${what}: ${tooLong.length} prompt(s) longer than rollout.maxPromptTokens=${maxTokens}: ${tooLong.slice(0, 5).join(', ')}${tooLong.length > 5 ? ', …' : ''}`;
    if (strict) throw new Error(msg);
    log(`${msg} — left out of training (as the reference's filter_overlong_prompts)`);
  }
  return items;
}

async function loadExamples(paths: string[], limit: number | undefined): Promise<QaExample[]> {
  const out: QaExample[] = [];
  for (const p of paths) out.push(...(await readQaFile(p)));
  return limit !== undefined ? out.slice(0, limit) : out;
}

async function openRetriever(cfg: TrainConfig): Promise<Retriever | null> {
  switch (cfg.retriever.type) {
    case 'none':
      return null;
    case 'bm25': {
      const { Bm25Index } = await import('../retrieval/bm25/index.ts');
      return Bm25Index.open(cfg.retriever.index!);
    }
    case 'remote': {
      const { RemoteRetriever } = await import('../retrieval/remote.ts');
      return new RemoteRetriever(cfg.retriever.url!);
    }
  }
}

/** Hash of the resolved config minus what a resume may change (steps, logging cadence). */
export function configHash(cfg: TrainConfig): string {
  const { steps: _s, val: _v, checkpoint: _c, runDir: _r, ...rest } = cfg;
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

export function rolloutConfig(
  cfg: TrainConfig,
  seed: number,
  greedy: boolean,
  maxTurns: number,
): RolloutConfig {
  const r = cfg.rollout;
  return {
    maxTurns,
    topk: r.topk,
    maxTurnTokens: r.maxTurnTokens,
    maxObsTokens: r.maxObsTokens,
    maxTotalTokens: r.maxTotalTokens,
    temperature: greedy ? 0 : r.temperature,
    topP: greedy ? 1 : r.topP,
    topK: greedy ? undefined : r.topK || undefined,
    seed,
  };
}

/** A run's environment: Search-R1 over its retriever (none when rollout.searchEnabled is off), its reward. */
export function runEnv(cfg: TrainConfig, retriever: Retriever | null): Env {
  return searchR1Env({ retriever: cfg.rollout.searchEnabled ? retriever : null, score: scoreOptions(cfg) });
}

function scoreOptions(cfg: TrainConfig): ScoreOptions {
  return {
    metric: cfg.reward.metric,
    format: cfg.reward.format ? { retrievalBonus: cfg.reward.retrievalBonus } : undefined,
  };
}

/** Greedy validation over EVERY validation question (the last partial batch included). */
export async function validate(
  sampler: Sampler,
  env: Env,
  items: PromptItem[],
  cfg: TrainConfig,
  step: number,
  outFile?: string,
): Promise<Record<string, number>> {
  const perSource = new Map<string, { score: number[]; em: number[] }>();
  const all: Trajectory[] = [];
  const lines: string[] = [];
  for (let start = 0, b = 0; start < items.length; start += cfg.val.batchSize, b++) {
    const batch = items.slice(start, start + cfg.val.batchSize);
    const rcfg = rolloutConfig(
      cfg,
      deriveSeed(cfg.seed, SEED_PURPOSE.validation, step, b),
      true,
      cfg.val.maxTurns,
    );
    const trajs = await runRollouts(
      sampler,
      env,
      batch.map((x) => x.tokens),
      1,
      rcfg,
    );
    trajs.forEach((t) => {
      const ex = batch[t.promptIndex].example;
      const score = env.reward(t.responseText, ex.goldenAnswers);
      const em = metricScore('em', extractAnswer(t.responseText), ex.goldenAnswers);
      const s =
        perSource.get(ex.dataSource) ??
        perSource.set(ex.dataSource, { score: [], em: [] }).get(ex.dataSource)!;
      s.score.push(score);
      s.em.push(em);
      if (outFile) lines.push(JSON.stringify(sampleLine(t, ex, score, em, sampler.tokenizer)));
    });
    all.push(...trajs);
  }
  if (outFile) writeFileSync(outFile, lines.map((l) => l + '\n').join(''));
  const m: Record<string, number> = {};
  let n = 0;
  let emSum = 0;
  for (const [src, s] of perSource) {
    m[`val/test_score/${src}`] = s.score.reduce((a, b) => a + b, 0) / s.score.length;
    m[`val/em/${src}`] = s.em.reduce((a, b) => a + b, 0) / s.em.length;
    n += s.em.length;
    emSum += s.em.reduce((a, b) => a + b, 0);
  }
  m['val/em/all'] = n > 0 ? emSum / n : 0;
  m['val/num_questions'] = n;
  const rm = rolloutMetrics(all);
  m['val/response_length/mean'] = rm['response_length/mean'];
  m['val/number_of_valid_search'] = rm['env/number_of_valid_search'];
  return m;
}

/** A training run's long-lived state: what every phase of every step reads. */
interface Run {
  cfg: TrainConfig;
  log: (line: string) => void;
  runDir: string;
  configHash: string;
  /** The checkpoint a resumed run continues from (null: a fresh run, or nothing to resume). */
  checkpoint: ResumePoint | null;
  models: UpdateModels;
  retriever: Retriever | null;
  /** The task's environment (Search-R1 over `retriever`) that rollouts drive. */
  env: Env;
  /** The retriever is train()'s own (opened from the config), so train() closes it. */
  ownsRetriever: boolean;
  loader: PromptLoader<PromptItem>;
  valItems: PromptItem[];
  metricsLog: MetricsLog;
  consecutiveBadSteps: number;
  /** Seconds the previous checkpoint took (logged with the next step, as the reference). */
  lastSaveSeconds: number;
  /** The newest step with a checkpoint on disk. */
  savedStep: number;
  interrupt?: RunInterrupt;
  onStep?: (metrics: Record<string, number>) => void;
}

/**
 * Everything one RL step produces, filled phase by phase (as veRL's fit() carries one DataProto):
 * rollouts → rewards → update → validation → metrics.
 */
export interface StepBatch {
  step: number;
  trajectories: Trajectory[];
  /** Reward of each trajectory, its exact match, and its GRPO/RLOO group. */
  scores: number[];
  ems: number[];
  groupIds: GroupId[];
  /** The question each trajectory answers. */
  examples: QaExample[];
  rolloutStats: RolloutStats;
  update: UpdateResult | null;
  /** Why the update was skipped (non-finite numbers, nothing left after dynamic sampling). */
  problems: string[];
  metrics: Record<string, number>;
  /** Seconds per phase (`timing_s/*`). */
  timing: Timing;
}

export async function train(
  cfg: TrainConfig,
  opts: { resume?: boolean; resumeFrom?: string } & TrainDeps = {},
): Promise<TrainResult> {
  // --resume-from STEP implies --resume; a damaged newest checkpoint is refused (docs/faults.md)
  const resume = opts.resume === true || opts.resumeFrom !== undefined;
  const run = await openRun(cfg, { ...opts, resume });
  const startStep = await restoreRun(run, resume);
  let lastMetrics = startStep === 0 ? await initialValidation(run) : null;
  const started = performance.now();
  for (let step = startStep + 1; step <= cfg.steps; step++) {
    const loaderAtStart = run.loader.state;
    if (run.interrupt?.signal)
      throw await stopRun(run, step - 1, loaderAtStart, new StepAbandoned(run.interrupt.signal));
    const batch = newStepBatch(step);
    await timed(batch.timing, 'step', async () => {
      // The rollout phase changes no model: a stop request or an error here abandons the step and
      // leaves the models at the previous one, which stopRun checkpoints.
      try {
        await rolloutPhase(run, batch);
      } catch (e) {
        throw await stopRun(run, step - 1, loaderAtStart, e);
      }
      await updatePhase(run, batch);
      await validationPhase(run, batch);
    });
    stepMetrics(run, batch);
    writeRolloutSamples(
      run.runDir,
      step,
      batch.trajectories.map((traj, i) => ({ traj, example: batch.examples[i], score: batch.scores[i], em: batch.ems[i] })),
      run.models.policy.tokenizer,
    );
    run.metricsLog.append(batch.metrics);
    lastMetrics = batch.metrics;
    run.onStep?.(batch.metrics);
    const elapsed = (performance.now() - started) / 1000;
    run.log(progressLine(batch.metrics, cfg.steps, elapsed / (step - startStep)));
    await checkpointPhase(run, step);
  }
  if (run.ownsRetriever) await run.retriever?.close?.();
  return { runDir: run.runDir, lastStep: cfg.steps, lastMetrics };
}

/** Run folder, models, retriever and data; refuses to overwrite a run unless resuming. */
type ResumePoint = NonNullable<ReturnType<typeof resumeCheckpoint>>;

async function openRun(
  cfg: TrainConfig,
  opts: { resume?: boolean; resumeFrom?: string } & TrainDeps,
): Promise<Run> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const make = opts.createTrainer ?? defaultCreateTrainer;
  const runDir = cfg.runDir;
  mkdirSync(runDir, { recursive: true });
  mkdirSync(join(runDir, 'val'), { recursive: true });
  const metricsLog = new MetricsLog(join(runDir, 'metrics.jsonl'));
  const checkpoint = opts.resume ? resumeCheckpoint(runDir, opts.resumeFrom, log) : null;
  if (!opts.resume && existsSync(metricsLog.path) && statSync(metricsLog.path).size > 0) {
    throw new Error(
      `${runDir} already holds a run (metrics.jsonl): pass --resume to continue it, or choose another --run-dir`,
    );
  }
  const hash = configHash(cfg);
  if (checkpoint && checkpoint.state.configHash !== hash) {
    throw new Error(
      `${checkpoint.dir}: the checkpoint was written with a different config (hash ${checkpoint.state.configHash}, now ${hash}); only steps, val and checkpoint settings may change on resume`,
    );
  }
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(cfg, null, 2));

  const models = await openModels(cfg, make);
  const ownsRetriever = opts.retriever === undefined;
  const retriever = ownsRetriever ? await openRetriever(cfg) : opts.retriever!;

  const data = opts.data ?? {
    train: await loadExamples(cfg.data.train, cfg.data.maxTrainExamples),
    val: await loadExamples(cfg.data.val, cfg.data.maxValExamples),
  };
  const tok = models.policy.tokenizer;
  const { maxPromptTokens } = cfg.rollout;
  const template = cfg.data.promptTemplate;
  const trainItems = buildPrompts(tok, data.train, maxPromptTokens, template, 'training data', log, false);
  const valItems = buildPrompts(tok, data.val, maxPromptTokens, template, 'validation data', log, true);
  return {
    cfg,
    log,
    runDir,
    configHash: hash,
    checkpoint,
    models,
    retriever,
    env: runEnv(cfg, retriever),
    ownsRetriever,
    loader: new PromptLoader(trainItems, cfg.seed, cfg.data.shuffle, undefined, strataKeys(cfg, trainItems)),
    valItems,
    metricsLog,
    consecutiveBadSteps: 0,
    lastSaveSeconds: 0,
    savedStep: 0,
    interrupt: opts.interrupt,
    onStep: opts.onStep,
  };
}

/** Stratum of each training prompt when batches are stratified (data.stratifyBy). */
function strataKeys(cfg: TrainConfig, items: PromptItem[]): string[] | undefined {
  const by = cfg.data.stratifyBy;
  if (!by) return undefined;
  return items.map((it) =>
    stratumKey(it.example as unknown as Record<string, unknown>, by, `training example ${it.example.id}`),
  );
}

/** The policy, the frozen reference (when a KL term is on) and the critic (PPO). */
async function openModels(
  cfg: TrainConfig,
  make: (spec: TrainerSpec) => Promise<Trainer>,
): Promise<UpdateModels> {
  const spec = { backend: cfg.backend, model: cfg.model, seed: cfg.seed, options: cfg.backendOptions };
  const policy = await make(spec);
  const ref = cfg.actor.klLoss.use || cfg.klInReward.use ? await make(spec) : null;
  const critic =
    cfg.algo === 'ppo'
      ? await make({ ...spec, model: cfg.criticModel ?? cfg.model, valueHead: true })
      : null;
  return { policy, ref, critic };
}

/** On resume: weights, optimiser, data position and counters of the newest checkpoint. Returns its step. */
async function restoreRun(run: Run, resume: boolean): Promise<number> {
  if (!resume) return 0;
  const ck = run.checkpoint;
  if (!ck) {
    run.metricsLog.truncateAfter(-1, run.log);
    run.log(`no checkpoint in ${run.runDir}: starting from step 0`);
    return 0;
  }
  await loadCheckpoint(ck.dir, { policy: run.models.policy, critic: run.models.critic });
  run.loader.state = ck.state.loader;
  run.consecutiveBadSteps = ck.state.consecutiveBadSteps;
  run.metricsLog.truncateAfter(ck.state.step, run.log);
  run.savedStep = ck.state.step;
  run.log(`resumed from ${ck.dir} at step ${ck.state.step}`);
  return ck.state.step;
}

/** Step-0 validation (val.beforeTrain), logged as the run's first metrics line. */
async function initialValidation(run: Run): Promise<Record<string, number> | null> {
  const { cfg } = run;
  if (!cfg.val.beforeTrain || run.valItems.length === 0) return null;
  const timing: Timing = {};
  const vm = await timed(timing, 'testing', () =>
    validate(run.models.policy, run.env, run.valItems, cfg, 0, valFile(run, 0)),
  );
  const metrics = { step: 0, ...vm, 'timing_s/testing': timing.testing };
  run.metricsLog.append(metrics);
  run.log(
    `step 0 validation: ${Object.entries(vm)
      .filter(([k]) => k.startsWith('val/test_score/'))
      .map(([k, v]) => `${k}=${v.toFixed(3)}`)
      .join(' ')}`,
  );
  return metrics;
}

function newStepBatch(step: number): StepBatch {
  return {
    step,
    trajectories: [],
    scores: [],
    ems: [],
    groupIds: [],
    examples: [],
    rolloutStats: emptyRolloutStats(),
    update: null,
    problems: [],
    metrics: { step },
    timing: { reward: 0 },
  };
}

/**
 * Rollouts and rewards, with DAPO dynamic sampling when on: more rollout rounds until
 * promptsPerStep groups with reward signal are kept (or maxRollouts rounds were made).
 */
async function rolloutPhase(run: Run, batch: StepBatch): Promise<void> {
  const { cfg, loader } = run;
  const maxRounds = cfg.dynamicSampling.enabled ? cfg.dynamicSampling.maxRollouts : 1;
  let groupsKept = 0;
  let rounds = 0;
  let droppedGroups = 0;
  while (rounds < maxRounds && groupsKept < cfg.promptsPerStep) {
    const prompts = loader.next(cfg.promptsPerStep);
    const rcfg = rolloutConfig(
      cfg,
      deriveSeed(cfg.seed, SEED_PURPOSE.rollout, batch.step, rounds),
      false,
      cfg.rollout.maxTurns,
    );
    const rollouts = runRollouts(
      run.models.policy,
      run.env,
      prompts.map((b) => b.tokens),
      cfg.n,
      rcfg,
      batch.rolloutStats,
    );
    const out = await (run.interrupt ? run.interrupt.abandonable(rollouts) : rollouts);
    const { sc, em } = await timed(batch.timing, 'reward', () => {
      const gold = (t: Trajectory) => prompts[t.promptIndex].example.goldenAnswers;
      return {
        sc: out.map((t) => run.env.reward(t.responseText, gold(t))),
        em: out.map((t) => metricScore('em', extractAnswer(t.responseText), gold(t))),
      };
    });
    // Group ids: (rollout round, prompt position) — unique within the step whatever the data sources.
    const gid = out.map((t) => `${rounds}:${t.promptIndex}`);
    let keep = out.map(() => true);
    if (cfg.dynamicSampling.enabled) {
      const signal = groupsWithSignal(sc, gid);
      keep = gid.map((g) => signal.has(g));
      droppedGroups += prompts.length - signal.size;
    }
    const keptGroups = new Set<string>();
    out.forEach((t, i) => {
      if (!keep[i]) return;
      if (!keptGroups.has(gid[i]) && groupsKept + keptGroups.size >= cfg.promptsPerStep) return;
      keptGroups.add(gid[i]);
      batch.trajectories.push(t);
      batch.scores.push(sc[i]);
      batch.ems.push(em[i]);
      batch.groupIds.push(gid[i]);
      batch.examples.push(prompts[t.promptIndex].example);
    });
    groupsKept += keptGroups.size;
    rounds++;
  }
  const m = batch.metrics;
  Object.assign(m, rolloutMetrics(batch.trajectories));
  m['train/em'] = batch.ems.length ? batch.ems.reduce((a, b) => a + b, 0) / batch.ems.length : 0;
  m['train/epoch'] = loader.state.epoch;
  if (cfg.dynamicSampling.enabled) {
    m['dapo/rollouts'] = rounds;
    m['dapo/dropped_groups'] = droppedGroups;
    m['dapo/kept_groups'] = groupsKept;
  }
}

/** The RL update; a step whose numbers are not finite is skipped, and too many in a row stop the run. */
async function updatePhase(run: Run, batch: StepBatch): Promise<void> {
  const { cfg } = run;
  if (batch.trajectories.length === 0) {
    batch.problems = ['no trajectory left after dynamic sampling (every group had equal rewards)'];
  } else {
    batch.update = await rlUpdate(run.models, batch.trajectories, batch.scores, batch.groupIds, cfg, batch.step - 1);
    batch.problems = batch.update.problems;
    Object.assign(batch.metrics, batch.update.metrics);
  }
  if (batch.problems.length === 0) {
    run.consecutiveBadSteps = 0;
    batch.metrics['train/skipped'] = 0;
    return;
  }
  run.consecutiveBadSteps++;
  batch.metrics['train/skipped'] = 1;
  run.log(`step ${batch.step}: update skipped: ${batch.problems.join('; ')}`);
  if (run.consecutiveBadSteps >= cfg.maxConsecutiveBadSteps) {
    run.metricsLog.append(batch.metrics);
    throw new TrainingDivergedError(
      `stopping: ${run.consecutiveBadSteps} consecutive steps had non-finite numbers (last: ${batch.problems.join('; ')}). ` +
        'Likely causes: a learning rate too high for this model (try a lower actor.lr / critic.lr), exploding log-prob ratios ' +
        '(check actor.clipEpsLow/clipEpsHigh, dualClipC), or corrupted weights. Resume from the last checkpoint with a lower learning rate.',
    );
  }
}

/** Greedy validation every val.every steps and at the last step. */
async function validationPhase(run: Run, batch: StepBatch): Promise<void> {
  const { cfg } = run;
  batch.timing.testing = 0;
  const due = cfg.val.every > 0 && (batch.step % cfg.val.every === 0 || batch.step === cfg.steps);
  if (!due || run.valItems.length === 0) return;
  const vm = await timed(batch.timing, 'testing', () =>
    validate(run.models.policy, run.env, run.valItems, cfg, batch.step, valFile(run, batch.step)),
  );
  Object.assign(batch.metrics, vm);
}

/** Timings (`timing_s/*`) and throughput (`perf/*`) of a finished step. */
function stepMetrics(run: Run, batch: StepBatch): void {
  const m = batch.metrics;
  const { rolloutStats: stats, timing, update: upd } = batch;
  const genS = stats.generationMs / 1000;
  m['timing_s/gen'] = genS;
  m['timing_s/retrieval'] = stats.retrievalMs / 1000;
  m['timing_s/reward'] = timing.reward;
  if (upd) for (const [k, v] of Object.entries(upd.timing)) m[`timing_s/${k}`] = v;
  m['timing_s/testing'] = timing.testing;
  m['timing_s/save_checkpoint'] = run.lastSaveSeconds;
  m['timing_s/step'] = timing.step;
  const totalTokens = batch.trajectories.reduce((a, t) => a + t.promptTokens.length + t.responseTokens.length, 0);
  m['perf/total_num_tokens'] = totalTokens;
  m['perf/tokens_per_s'] = totalTokens / Math.max(1e-9, timing.step - timing.testing);
  m['perf/gen_tokens_per_s'] = stats.generatedTokens / Math.max(1e-9, genS);
  if (upd) {
    const { ref, critic } = run.models;
    const fwdS = upd.timing.old_log_prob + upd.timing.ref + upd.timing.values;
    const passes = 1 + (ref ? 1 : 0) + (critic ? 1 : 0);
    m['perf/forward_tokens_per_s'] = (upd.tokens.forward * passes) / Math.max(1e-9, fwdS);
    m['perf/update_tokens_per_s'] =
      (upd.tokens.update * (critic ? 2 : 1)) / Math.max(1e-9, upd.timing.update_actor + upd.timing.update_critic);
  }
}

function checkpointState(run: Run, step: number, loader: LoaderState): CheckpointState {
  return {
    format: 'search-r1-rl-checkpoint',
    version: 1,
    step,
    seed: run.cfg.seed,
    loader,
    consecutiveBadSteps: run.consecutiveBadSteps,
    configHash: run.configHash,
  };
}

/** A checkpoint every checkpoint.every steps and at the last step (atomic, keep-last-K). */
async function checkpointPhase(run: Run, step: number): Promise<void> {
  const { cfg } = run;
  if (!(cfg.checkpoint.every > 0 && (step % cfg.checkpoint.every === 0 || step === cfg.steps))) return;
  const timing: Timing = {};
  const models = { policy: run.models.policy, critic: run.models.critic };
  try {
    await timed(timing, 'save', () =>
      saveCheckpoint(run.runDir, models, checkpointState(run, step, run.loader.state), cfg.checkpoint.keepLast),
    );
    run.savedStep = step;
  } catch (e) {
    // A failed write (disk full, no permission) left the previous checkpoint intact; the run
    // goes on and tries again at the next checkpoint, except at the end, where it must exist.
    if (!(e instanceof CheckpointWriteError) || step === cfg.steps) throw e;
    run.log(
      `warning: ${e.message}; training continues, the next checkpoint is due at step ${Math.min(cfg.steps, step + cfg.checkpoint.every)}`,
    );
  }
  run.lastSaveSeconds = timing.save;
}

/**
 * A stop request or a fatal error while the models still hold step `completed` (docs/faults.md):
 * checkpoint that step if it is not on disk yet, and say how to resume.
 */
async function stopRun(run: Run, completed: number, loader: LoaderState, cause: unknown): Promise<Error> {
  const { cfg } = run;
  const signal = cause instanceof StepAbandoned ? cause.signal : null;
  let where: string;
  if (completed > run.savedStep) {
    try {
      const dir = await saveCheckpoint(
        run.runDir,
        { policy: run.models.policy, critic: run.models.critic },
        checkpointState(run, completed, loader),
        cfg.checkpoint.keepLast,
      );
      run.savedStep = completed;
      where = `the checkpoint of step ${completed} is ${dir}`;
    } catch (e) {
      where = `no checkpoint of step ${completed}: ${(e as Error).message}`;
    }
  } else
    where =
      run.savedStep > 0
        ? `the newest checkpoint (step ${run.savedStep}) is on disk`
        : 'no step completed, nothing to checkpoint';
  const head = signal
    ? `${signal}: stopped after step ${completed} of ${cfg.steps}`
    : `${(cause as Error)?.message ?? String(cause)}\n(stopped after step ${completed} of ${cfg.steps})`;
  const err = new RunInterrupted(`${head}; ${where}. Resume with: ${resumeCommand()}`, signal ? signalExitCode(signal) : 1);
  if (!signal) err.cause = cause;
  return err;
}

function valFile(run: Run, step: number): string {
  return join(run.runDir, 'val', `step-${String(step).padStart(6, '0')}.jsonl`);
}
