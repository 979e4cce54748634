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
import { extractAnswer, metricScore, scoreDetails, type ScoreOptions } from '../protocol/rewards.ts';
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
    searchEnabled: r.searchEnabled, // runRollouts also needs a retriever to search
  };
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
  retriever: Retriever | null,
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
      retriever,
      batch.map((x) => x.tokens),
      1,
      rcfg,
    );
    trajs.forEach((t) => {
      const ex = batch[t.promptIndex].example;
      const d = scoreDetails(t.responseText, ex.goldenAnswers, scoreOptions(cfg));
      const em = metricScore('em', extractAnswer(t.responseText), ex.goldenAnswers);
      const s =
        perSource.get(ex.dataSource) ??
        perSource.set(ex.dataSource, { score: [], em: [] }).get(ex.dataSource)!;
      s.score.push(d.score);
      s.em.push(em);
      if (outFile) lines.push(JSON.stringify(sampleLine(t, ex, d.score, em, sampler.tokenizer)));
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

export async function train(
  cfg: TrainConfig,
  opts: { resume?: boolean; resumeFrom?: string } & TrainDeps = {},
): Promise<TrainResult> {
  const log = opts.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const make = opts.createTrainer ?? defaultCreateTrainer;
  const runDir = cfg.runDir;
  mkdirSync(runDir, { recursive: true });
  mkdirSync(join(runDir, 'val'), { recursive: true });
  const metricsLog = new MetricsLog(join(runDir, 'metrics.jsonl'));
  const hash = configHash(cfg);

  // --resume-from STEP implies --resume; a damaged newest checkpoint is refused (docs/faults.md)
  const resume = opts.resume === true || opts.resumeFrom !== undefined;
  const ck = resume ? resumeCheckpoint(runDir, opts.resumeFrom, log) : null;
  if (!resume && existsSync(metricsLog.path) && statSync(metricsLog.path).size > 0) {
    throw new Error(
      `${runDir} already holds a run (metrics.jsonl): pass --resume to continue it, or choose another --run-dir`,
    );
  }
  if (ck && ck.state.configHash !== hash) {
    throw new Error(
      `${ck.dir}: the checkpoint was written with a different config (hash ${ck.state.configHash}, now ${hash}); only steps, val and checkpoint settings may change on resume`,
    );
  }
  writeFileSync(join(runDir, 'config.json'), JSON.stringify(cfg, null, 2));

  // ---- models ----
  const usesRef = cfg.actor.klLoss.use || cfg.klInReward.use;
  const policy = await make({
    backend: cfg.backend,
    model: cfg.model,
    seed: cfg.seed,
    options: cfg.backendOptions,
  });
  const ref = usesRef
    ? await make({ backend: cfg.backend, model: cfg.model, seed: cfg.seed, options: cfg.backendOptions })
    : null;
  const critic =
    cfg.algo === 'ppo'
      ? await make({
          backend: cfg.backend,
          model: cfg.criticModel ?? cfg.model,
          valueHead: true,
          seed: cfg.seed,
          options: cfg.backendOptions,
        })
      : null;
  const retriever = opts.retriever !== undefined ? opts.retriever : await openRetriever(cfg);

  // ---- data ----
  const data = opts.data ?? {
    train: await loadExamples(cfg.data.train, cfg.data.maxTrainExamples),
    val: await loadExamples(cfg.data.val, cfg.data.maxValExamples),
  };
  const tok = policy.tokenizer;
  const trainItems = buildPrompts(
    tok,
    data.train,
    cfg.rollout.maxPromptTokens,
    cfg.data.promptTemplate,
    'training data',
    log,
    false,
  );
  const valItems = buildPrompts(
    tok,
    data.val,
    cfg.rollout.maxPromptTokens,
    cfg.data.promptTemplate,
    'validation data',
    log,
    true,
  );
  const strataKeys = cfg.data.stratifyBy
    ? trainItems.map((it) =>
        stratumKey(
          it.example as unknown as Record<string, unknown>,
          cfg.data.stratifyBy!,
          `training example ${it.example.id}`,
        ),
      )
    : undefined;
  const loader = new PromptLoader(trainItems, cfg.seed, cfg.data.shuffle, undefined, strataKeys);

  let startStep = 0;
  let consecutiveBad = 0;
  if (ck) {
    await loadCheckpoint(ck.dir, { policy, critic });
    startStep = ck.state.step;
    loader.state = ck.state.loader;
    consecutiveBad = ck.state.consecutiveBadSteps;
    metricsLog.truncateAfter(startStep, log);
    log(`resumed from ${ck.dir} at step ${startStep}`);
  } else if (resume) {
    metricsLog.truncateAfter(-1, log);
    log(`no checkpoint in ${runDir}: starting from step 0`);
  }

  let lastMetrics: Record<string, number> | null = null;
  if (startStep === 0 && cfg.val.beforeTrain && valItems.length > 0) {
    const t0 = performance.now();
    const vm = await validate(policy, retriever, valItems, cfg, 0, join(runDir, 'val', 'step-000000.jsonl'));
    lastMetrics = { step: 0, ...vm, 'timing_s/testing': (performance.now() - t0) / 1000 };
    metricsLog.append(lastMetrics);
    log(
      `step 0 validation: ${Object.entries(vm)
        .filter(([k]) => k.startsWith('val/test_score/'))
        .map(([k, v]) => `${k}=${v.toFixed(3)}`)
        .join(' ')}`,
    );
  }

  let lastSaveSeconds = 0;
  let savedStep = startStep; // the newest step with a checkpoint on disk
  const checkpointState = (step: number, loaderState: LoaderState): CheckpointState => ({
    format: 'search-r1-rl-checkpoint',
    version: 1,
    step,
    seed: cfg.seed,
    loader: loaderState,
    consecutiveBadSteps: consecutiveBad,
    configHash: hash,
  });
  // A stop request or a fatal error while the models still hold step `completed` (docs/faults.md):
  // checkpoint that step if not on disk yet, and say how to resume.
  const stopRun = async (completed: number, loaderState: LoaderState, cause: unknown): Promise<Error> => {
    const signal = cause instanceof StepAbandoned ? cause.signal : null;
    let where: string;
    if (completed > savedStep) {
      try {
        const dir = await saveCheckpoint(
          runDir,
          { policy, critic },
          checkpointState(completed, loaderState),
          cfg.checkpoint.keepLast,
        );
        savedStep = completed;
        where = `the checkpoint of step ${completed} is ${dir}`;
      } catch (e) {
        where = `no checkpoint of step ${completed}: ${(e as Error).message}`;
      }
    } else
      where =
        savedStep > 0
          ? `the newest checkpoint (step ${savedStep}) is on disk`
          : 'no step completed, nothing to checkpoint';
    const head = signal
      ? `${signal}: stopped after step ${completed} of ${cfg.steps}`
      : `${(cause as Error)?.message ?? String(cause)}\n(stopped after step ${completed} of ${cfg.steps})`;
    const err = new RunInterrupted(
      `${head}; ${where}. Resume with: ${resumeCommand()}`,
      signal ? signalExitCode(signal) : 1,
    );
    if (!signal) err.cause = cause;
    return err;
  };
  const started = performance.now();
  for (let step = startStep + 1; step <= cfg.steps; step++) {
    const loaderAtStart = loader.state;
    if (opts.interrupt?.signal)
      throw await stopRun(step - 1, loaderAtStart, new StepAbandoned(opts.interrupt.signal));
    const tStep = performance.now();
    const stats: RolloutStats = emptyRolloutStats();
    const sOpts = scoreOptions(cfg);

    // ---- rollouts (with DAPO dynamic sampling when on) ----
    const trajs: Trajectory[] = [];
    const scores: number[] = [];
    const ems: number[] = [];
    const groupIds: GroupId[] = [];
    const examples: QaExample[] = [];
    let rewardSeconds = 0;
    let groupsKept = 0;
    let rolloutsDone = 0;
    const maxRollouts = cfg.dynamicSampling.enabled ? cfg.dynamicSampling.maxRollouts : 1;
    let droppedGroups = 0;
    // The rollout phase changes no model: a stop request or an error here abandons the step and
    // leaves the models at the previous one, which stopRun checkpoints.
    try {
      while (rolloutsDone < maxRollouts && groupsKept < cfg.promptsPerStep) {
        const batch = loader.next(cfg.promptsPerStep);
        const rcfg = rolloutConfig(
          cfg,
          deriveSeed(cfg.seed, SEED_PURPOSE.rollout, step, rolloutsDone),
          false,
          cfg.rollout.maxTurns,
        );
        const rollouts = runRollouts(
          policy,
          retriever,
          batch.map((b) => b.tokens),
          cfg.n,
          rcfg,
          stats,
        );
        const out = await (opts.interrupt ? opts.interrupt.abandonable(rollouts) : rollouts);
        const tr = performance.now();
        const sc = out.map(
          (t) => scoreDetails(t.responseText, batch[t.promptIndex].example.goldenAnswers, sOpts).score,
        );
        const em = out.map((t) =>
          metricScore('em', extractAnswer(t.responseText), batch[t.promptIndex].example.goldenAnswers),
        );
        rewardSeconds += (performance.now() - tr) / 1000;
        // Group ids: (rollout round, prompt position) — unique within the step whatever the data sources.
        const gid = out.map((t) => `${rolloutsDone}:${t.promptIndex}`);
        let keep = out.map(() => true);
        if (cfg.dynamicSampling.enabled) {
          const signal = groupsWithSignal(sc, gid);
          keep = gid.map((g) => signal.has(g));
          droppedGroups += batch.length - signal.size;
        }
        const keptGroups = new Set<string>();
        out.forEach((t, i) => {
          if (!keep[i]) return;
          if (!keptGroups.has(gid[i]) && groupsKept + keptGroups.size >= cfg.promptsPerStep) return;
          keptGroups.add(gid[i]);
          trajs.push(t);
          scores.push(sc[i]);
          ems.push(em[i]);
          groupIds.push(gid[i]);
          examples.push(batch[t.promptIndex].example);
        });
        groupsKept += keptGroups.size;
        rolloutsDone++;
      }
    } catch (e) {
      throw await stopRun(step - 1, loaderAtStart, e);
    }

    const metrics: Record<string, number> = { step };
    Object.assign(metrics, rolloutMetrics(trajs));
    metrics['train/em'] = ems.length ? ems.reduce((a, b) => a + b, 0) / ems.length : 0;
    metrics['train/epoch'] = loader.state.epoch;
    if (cfg.dynamicSampling.enabled) {
      metrics['dapo/rollouts'] = rolloutsDone;
      metrics['dapo/dropped_groups'] = droppedGroups;
      metrics['dapo/kept_groups'] = groupsKept;
    }

    // ---- update ----
    let problems: string[] = [];
    let upd: Awaited<ReturnType<typeof rlUpdate>> | null = null;
    if (trajs.length === 0) {
      problems = ['no trajectory left after dynamic sampling (every group had equal rewards)'];
    } else {
      upd = await rlUpdate({ policy, ref, critic }, trajs, scores, groupIds, cfg, step - 1);
      problems = upd.problems;
      Object.assign(metrics, upd.metrics);
    }
    if (problems.length > 0) {
      consecutiveBad++;
      metrics['train/skipped'] = 1;
      log(`step ${step}: update skipped: ${problems.join('; ')}`);
      if (consecutiveBad >= cfg.maxConsecutiveBadSteps) {
        metricsLog.append(metrics);
        throw new TrainingDivergedError(
          `stopping: ${consecutiveBad} consecutive steps had non-finite numbers (last: ${problems.join('; ')}). ` +
            'Likely causes: a learning rate too high for this model (try a lower actor.lr / critic.lr), exploding log-prob ratios ' +
            '(check actor.clipLow/clipHigh, dualClipC), or corrupted weights. Resume from the last checkpoint with a lower learning rate.',
        );
      }
    } else {
      consecutiveBad = 0;
      metrics['train/skipped'] = 0;
    }

    // ---- validation ----
    let testSeconds = 0;
    if (cfg.val.every > 0 && valItems.length > 0 && (step % cfg.val.every === 0 || step === cfg.steps)) {
      const tv = performance.now();
      Object.assign(
        metrics,
        await validate(
          policy,
          retriever,
          valItems,
          cfg,
          step,
          join(runDir, 'val', `step-${String(step).padStart(6, '0')}.jsonl`),
        ),
      );
      testSeconds = (performance.now() - tv) / 1000;
    }

    // ---- timing and throughput ----
    const stepSeconds = (performance.now() - tStep) / 1000;
    const genS = stats.generationMs / 1000;
    metrics['timing_s/gen'] = genS;
    metrics['timing_s/retrieval'] = stats.retrievalMs / 1000;
    metrics['timing_s/reward'] = rewardSeconds;
    if (upd) for (const [k, v] of Object.entries(upd.timing)) metrics[`timing_s/${k}`] = v;
    metrics['timing_s/testing'] = testSeconds;
    metrics['timing_s/save_checkpoint'] = lastSaveSeconds;
    metrics['timing_s/step'] = stepSeconds;
    const totalTokens = trajs.reduce((a, t) => a + t.promptTokens.length + t.responseTokens.length, 0);
    metrics['perf/total_num_tokens'] = totalTokens;
    metrics['perf/tokens_per_s'] = totalTokens / Math.max(1e-9, stepSeconds - testSeconds);
    metrics['perf/gen_tokens_per_s'] = stats.generatedTokens / Math.max(1e-9, genS);
    if (upd) {
      const fwdS = upd.timing.old_log_prob + upd.timing.ref + upd.timing.values;
      const passes = 1 + (ref ? 1 : 0) + (critic ? 1 : 0);
      metrics['perf/forward_tokens_per_s'] = (upd.tokens.forward * passes) / Math.max(1e-9, fwdS);
      metrics['perf/update_tokens_per_s'] =
        (upd.tokens.update * (critic ? 2 : 1)) /
        Math.max(1e-9, upd.timing.update_actor + upd.timing.update_critic);
    }
    writeRolloutSamples(
      runDir,
      step,
      trajs.map((traj, i) => ({ traj, example: examples[i], score: scores[i], em: ems[i] })),
      tok,
    );
    metricsLog.append(metrics);
    lastMetrics = metrics;
    opts.onStep?.(metrics);
    const elapsed = (performance.now() - started) / 1000;
    log(progressLine(metrics, cfg.steps, elapsed / (step - startStep)));

    // ---- checkpoint ----
    if (cfg.checkpoint.every > 0 && (step % cfg.checkpoint.every === 0 || step === cfg.steps)) {
      const ts = performance.now();
      try {
        await saveCheckpoint(
          runDir,
          { policy, critic },
          checkpointState(step, loader.state),
          cfg.checkpoint.keepLast,
        );
        savedStep = step;
      } catch (e) {
        // A failed write (disk full, no permission) left the previous checkpoint intact; the run
        // goes on and tries again at the next checkpoint, except at the end, where it must exist.
        if (!(e instanceof CheckpointWriteError) || step === cfg.steps) throw e;
        log(
          `warning: ${e.message}; training continues, the next checkpoint is due at step ${Math.min(cfg.steps, step + cfg.checkpoint.every)}`,
        );
      }
      lastSaveSeconds = (performance.now() - ts) / 1000;
    }
  }
  // Close only what train() opened itself; an injected retriever belongs to the caller.
  if (opts.retriever === undefined) await retriever?.close?.();
  return { runDir, lastStep: cfg.steps, lastMetrics };
}
