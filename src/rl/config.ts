// The training configuration: one zod schema (defaults = the reference's, docs/rl.md), presets,
// and the merge order defaults ← preset ← config file ← command-line flags.
// Unknown or mistyped keys are errors that name the key path.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const int = (min: number) => z.number().int().min(min);
const prob = z.number().min(0).max(1);
const aggregation = z.enum(['token-mean', 'seq-mean-token-mean', 'seq-mean-token-sum']);
const klEstimator = z.enum(['k1', 'k2', 'k3', 'low_var_kl']);

const RolloutSchema = z.strictObject({
  /** Turns whose search is executed (reference max_turns; one final turn follows). */
  maxTurns: int(1).default(2),
  topk: int(1).default(3),
  maxTurnTokens: int(1).default(500),
  maxObsTokens: int(8).default(500),
  maxTotalTokens: int(2).default(4096),
  maxPromptTokens: int(1).default(4096),
  temperature: z.number().min(0).default(1),
  topP: z.number().gt(0).max(1).default(1),
  topK: int(0).default(0),
  searchEnabled: z.boolean().default(true),
});

export const TrainConfigSchema = z.strictObject({
  name: z.string().min(1).default('run'),
  /** Defaults to runs/<name>. */
  runDir: z.string().optional(),
  seed: int(0).default(0),
  algo: z.enum(['grpo', 'ppo', 'rloo', 'reinforce_plus_plus']).default('grpo'),
  backend: z.enum(['embedded', 'tinker']).default('embedded'),
  /** Policy (and initial reference) weights: an HF folder for the embedded backend. */
  model: z.string().min(1).default('models/world-base'),
  /** Critic initial weights (PPO); default: the policy's model with a fresh value head. */
  criticModel: z.string().optional(),
  /** Passed through to the backend factory (e.g. a Tinker base URL). */
  backendOptions: z.record(z.string(), z.unknown()).default({}),
  data: z.strictObject({
    train: z.array(z.string().min(1)).min(1),
    val: z.array(z.string().min(1)).default([]),
    maxTrainExamples: int(1).optional(),
    maxValExamples: int(1).optional(),
    shuffle: z.boolean().default(true),
    /**
     * A dotted field path of the training examples (e.g. `metadata.relation`): batches then draw the
     * values of that field round-robin, in equal shares (data-loader.ts). Unset: plain shuffled epochs.
     */
    stratifyBy: z.string().min(1).optional(),
    /** The user-message template with `{question}`; default the Search-R1 instruction (docs/protocol.md §1). */
    promptTemplate: z.string().includes('{question}', { message: 'must contain {question}' }).optional(),
  }),
  retriever: z
    .strictObject({
      type: z.enum(['bm25', 'remote', 'none']).default('bm25'),
      /** BM25 index directory (type bm25). */
      index: z.string().optional(),
      /** `/retrieve` endpoint (type remote). */
      url: z.string().optional(),
    })
    .prefault({}),
  rollout: RolloutSchema.prefault({}),
  steps: int(1).default(1005),
  /** Prompts per step (reference train_batch_size 512). */
  promptsPerStep: int(1).default(512),
  /** Responses per prompt: default 5 for grpo/rloo (reference n_agent), 1 for ppo/reinforce++. */
  n: int(1).optional(),
  /** Prompts per mini-batch (reference ppo_mini_batch_size 256; times n sequences). */
  miniBatchPrompts: int(1).default(256),
  epochs: int(1).default(1),
  actor: z
    .strictObject({
      lr: z.number().min(0).default(1e-6),
      warmupRatio: prob.default(0.285),
      /** PPO clip ε below and above 1: the ratio is clipped to [1 − ε_low, 1 + ε_high] (clip-higher: ε_high > ε_low). */
      clipEpsLow: z.number().min(0).default(0.2),
      clipEpsHigh: z.number().min(0).default(0.2),
      /** Dual-clip c (> 1), 0 = off. */
      dualClipC: z.number().min(0).default(0),
      entropyCoef: z.number().min(0).default(0.001),
      gradClip: z.number().min(0).default(1.0),
      weightDecay: z.number().min(0).default(0.01),
      beta1: prob.default(0.9),
      beta2: prob.default(0.999),
      eps: z.number().gt(0).default(1e-8),
      aggregation: aggregation.default('token-mean'),
      /** The loss mask over injected tokens; false = the paper's ablation. */
      stateMasking: z.boolean().default(true),
      /**
       * Where the PPO ratio's old log-probs come from: `recompute` (veRL: a forward pass of the policy
       * after the rollout) or `rollout` (the sampler's own log-probs, as Tinker's cookbook does: the
       * same numbers without the extra pass when the sampler is the policy at temperature 1, top-p 1,
       * no top-k — the engine's sampling log-probs equal its training forward's, tested).
       */
      oldLogprobs: z.enum(['recompute', 'rollout']).default('recompute'),
      /** KL to the reference as a loss term: default on for grpo (k3/low_var_kl), off for ppo. */
      klLoss: z
        .strictObject({
          use: z.boolean().optional(),
          coef: z.number().min(0).default(0.001),
          estimator: klEstimator.default('low_var_kl'),
        })
        .prefault({}),
    })
    .prefault({}),
  /** KL penalty folded into the token rewards: default on exactly when the KL loss is off (as veRL). */
  klInReward: z
    .strictObject({
      use: z.boolean().optional(),
      coef: z.number().min(0).default(0.001),
      estimator: klEstimator.default('k1'),
    })
    .prefault({}),
  critic: z
    .strictObject({
      lr: z.number().min(0).default(1e-5),
      warmupRatio: prob.default(0.015),
      valueClip: z.number().min(0).default(0.5),
      gradClip: z.number().min(0).default(1.0),
      weightDecay: z.number().min(0).default(0.01),
      /** The critic's own AdamW moments (the reference's defaults, as the actor's). */
      beta1: prob.default(0.9),
      beta2: prob.default(0.999),
      eps: z.number().gt(0).default(1e-8),
    })
    .prefault({}),
  gae: z.strictObject({ gamma: prob.default(1), lambda: prob.default(1) }).prefault({}),
  grpo: z
    .strictObject({ normByStd: z.boolean().default(true), eps: z.number().min(0).default(1e-6) })
    .prefault({}),
  reward: z
    .strictObject({
      metric: z.enum(['em', 'subem', 'f1']).default('em'),
      /** The v0.3 format-aware reward (docs/protocol.md §2); false = plain EM. */
      format: z.boolean().default(false),
      retrievalBonus: z.number().default(0),
    })
    .prefault({}),
  /** DAPO dynamic sampling: drop groups whose rewards are all equal, re-roll up to maxRollouts. */
  dynamicSampling: z
    .strictObject({ enabled: z.boolean().default(false), maxRollouts: int(1).default(3) })
    .prefault({}),
  val: z
    .strictObject({
      /** Validate every N steps (reference test_freq 50); 0 = never. */
      every: int(0).default(50),
      beforeTrain: z.boolean().default(true),
      batchSize: int(1).default(256),
      /** Turns at validation (reference: 4 for evaluation). */
      maxTurns: int(1).default(4),
    })
    .prefault({}),
  checkpoint: z.strictObject({ every: int(0).default(100), keepLast: int(1).default(3) }).prefault({}),
  /** Consecutive skipped (non-finite) steps before the run stops. */
  maxConsecutiveBadSteps: int(1).default(3),
});

export type TrainConfigInput = z.input<typeof TrainConfigSchema>;
export type ParsedTrainConfig = z.output<typeof TrainConfigSchema>;

/** The config with every algorithm-dependent default resolved. */
export type TrainConfig = ParsedTrainConfig & {
  runDir: string;
  n: number;
  actor: ParsedTrainConfig['actor'] & { klLoss: { use: boolean } };
  klInReward: { use: boolean };
};

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type ConfigLayer = DeepPartial<TrainConfigInput> & Record<string, unknown>;

/**
 * Built-in presets. `reference` is the schema defaults (docs/rl.md). Applications add their own
 * (the bundled world's `world` and `smoke` live in src/demo/presets.ts) through loadConfig's
 * `presets` argument.
 */
export const PRESETS: Record<string, ConfigLayer> = {
  reference: {},
};

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Deep merge: objects merge key by key, everything else (arrays included) is replaced. */
export function mergeLayers(...layers: Record<string, unknown>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) continue;
      out[k] =
        isPlainObject(v) && isPlainObject(out[k]) ? mergeLayers(out[k] as Record<string, unknown>, v) : v;
    }
  }
  return out;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    readonly source: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validates a merged config object; the error names each bad key path (and the file). */
export function parseConfig(raw: unknown, source = 'config'): TrainConfig {
  const r = TrainConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((iss) => {
      const path = iss.path.join('.');
      if (iss.code === 'unrecognized_keys') {
        const keys = iss.keys.map((k) => (path ? `${path}.${k}` : k));
        return `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}`;
      }
      return `"${path || '(root)'}": ${iss.message}`;
    });
    throw new ConfigError(`${source}: invalid training config:\n  ${lines.join('\n  ')}`, source);
  }
  return resolveDefaults(r.data);
}

/** Fills the defaults that depend on the algorithm (docs/rl.md). */
export function resolveDefaults(c: ParsedTrainConfig): TrainConfig {
  const grouped = c.algo === 'grpo' || c.algo === 'rloo';
  const klLossUse = c.actor.klLoss.use ?? c.algo === 'grpo';
  const n = c.n ?? (grouped ? 5 : 1);
  if (grouped && n < 2)
    throw new ConfigError(`"n": ${c.algo} needs at least 2 responses per prompt, got ${n}`, 'config');
  if (c.miniBatchPrompts > c.promptsPerStep) {
    throw new ConfigError(
      `"miniBatchPrompts" (${c.miniBatchPrompts}) exceeds "promptsPerStep" (${c.promptsPerStep})`,
      'config',
    );
  }
  if (c.actor.oldLogprobs === 'rollout') {
    // Sampling log-probs are those of the truncated/tempered distribution, and injected tokens have
    // none: either would put the wrong numbers into the ratio.
    const r = c.rollout;
    if (r.temperature !== 1 || r.topP !== 1 || r.topK !== 0)
      throw new ConfigError(
        `"actor.oldLogprobs": "rollout" needs rollout temperature 1, topP 1, topK 0 (got ${r.temperature}, ${r.topP}, ${r.topK})`,
        'config',
      );
    if (!c.actor.stateMasking)
      throw new ConfigError(
        '"actor.oldLogprobs": "rollout" needs actor.stateMasking (injected tokens have no sampling log-probs)',
        'config',
      );
  }
  if (c.retriever.type === 'bm25' && !c.retriever.index)
    throw new ConfigError('"retriever.index": required for a bm25 retriever', 'config');
  if (c.retriever.type === 'remote' && !c.retriever.url)
    throw new ConfigError('"retriever.url": required for a remote retriever', 'config');
  return {
    ...c,
    runDir: c.runDir ?? `runs/${c.name}`,
    n,
    actor: { ...c.actor, klLoss: { ...c.actor.klLoss, use: klLossUse } },
    klInReward: { ...c.klInReward, use: c.klInReward.use ?? !klLossUse },
  };
}

/** Reads a JSON config file (clear error naming the file on bad JSON). */
export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`${path}: cannot read config file (${(e as Error).message})`, path);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${path}: not valid JSON (${(e as Error).message})`, path);
  }
  if (!isPlainObject(raw)) throw new ConfigError(`${path}: a config file must hold one JSON object`, path);
  return raw;
}

/** defaults ← preset ← file ← overrides, validated. */
export function loadConfig(opts: {
  preset?: string;
  /** The presets `preset` names (default: the built-in ones). */
  presets?: Record<string, ConfigLayer>;
  file?: string;
  overrides?: Record<string, unknown>;
}): TrainConfig {
  const layers: Record<string, unknown>[] = [];
  const presets = opts.presets ?? PRESETS;
  let source = 'flags';
  if (opts.preset !== undefined) {
    const p = presets[opts.preset];
    if (!p)
      throw new ConfigError(
        `unknown preset "${opts.preset}" (known: ${Object.keys(presets).join(', ')})`,
        'preset',
      );
    layers.push(p);
    source = `preset ${opts.preset}`;
  }
  if (opts.file !== undefined) {
    layers.push(readConfigFile(opts.file));
    source = opts.file;
  }
  if (opts.overrides) layers.push(opts.overrides);
  return parseConfig(mergeLayers(...layers), source);
}

/** Learning rate at a step: linear warmup over ⌊ratio·total⌋ steps, then constant (veRL's schedule). */
export function lrAt(step: number, base: number, warmupRatio: number, totalSteps: number): number {
  const warm = Math.floor(warmupRatio * totalSteps);
  if (warm <= 0 || step >= warm) return base;
  return (base * (step + 1)) / warm;
}
