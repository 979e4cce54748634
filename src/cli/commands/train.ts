// `search-r1 train`: GRPO / PPO training of a search agent. Thin wrapper over src/rl/trainer.ts.
// Config layers: reference defaults ← --preset ← --config FILE ← flags.
import type { Command } from 'commander';
import { loadConfig } from '../../rl/config.ts';
import { RunInterrupt } from '../../rl/interrupt.ts';
import { ALL_PRESETS } from '../../demo/presets.ts';
import { WORLD_DIR } from '../../demo/world-cache.ts';
import { train } from '../../rl/trainer.ts';
import { integerOption, numberOption } from '../options.ts';
import { dashboardCommand } from './dashboard.ts';
import { addThreadsOption } from '../policy-options.ts';

const list = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

export interface TrainFlags {
  config?: string;
  preset?: string;
  algo?: string;
  steps?: number;
  runDir?: string;
  name?: string;
  resume?: boolean;
  resumeFrom?: string;
  backend?: string;
  baseUrl?: string;
  baseModel?: string;
  model?: string;
  criticModel?: string;
  seed?: number;
  train?: string[];
  val?: string[];
  index?: string;
  retrieverUrl?: string;
  noRetriever?: boolean;
  n?: number;
  promptsPerStep?: number;
  miniBatchPrompts?: number;
  lr?: number;
  criticLr?: number;
  maxTurns?: number;
  stateMasking?: boolean;
  dynamicSampling?: boolean;
  valEvery?: number;
  checkpointEvery?: number;
  keepLast?: number;
  printConfig?: boolean;
  loraRank?: number;
  loraAlpha?: number;
  loraTargets?: string;
}

/** Flags → a config layer (only the flags that were given). */
export function flagsToOverrides(f: TrainFlags): Record<string, unknown> {
  const o: Record<string, Record<string, unknown> | unknown> = {};
  const sub = (k: string) => (o[k] ??= {}) as Record<string, unknown>;
  if (f.algo !== undefined) o.algo = f.algo;
  if (f.steps !== undefined) o.steps = f.steps;
  if (f.runDir !== undefined) o.runDir = f.runDir;
  if (f.name !== undefined) o.name = f.name;
  if (f.backend !== undefined) o.backend = f.backend;
  if (f.baseUrl !== undefined) sub('backendOptions').baseUrl = f.baseUrl;
  if (f.baseModel !== undefined) sub('backendOptions').baseModel = f.baseModel;
  if (f.model !== undefined) o.model = f.model;
  // LoRA (docs/lora.md): backendOptions.lora = {rank, alpha?, targets?}, read by src/policy/backends.ts.
  if (f.loraRank !== undefined)
    sub('backendOptions').lora = {
      rank: f.loraRank,
      ...(f.loraAlpha !== undefined ? { alpha: f.loraAlpha } : {}),
      ...(f.loraTargets !== undefined ? { targets: f.loraTargets } : {}),
    };
  else if (f.loraAlpha !== undefined || f.loraTargets !== undefined)
    throw new Error('--lora-alpha / --lora-targets need --lora-rank');
  if (f.criticModel !== undefined) o.criticModel = f.criticModel;
  if (f.seed !== undefined) o.seed = f.seed;
  if (f.train !== undefined) sub('data').train = f.train;
  if (f.val !== undefined) sub('data').val = f.val;
  if (f.index !== undefined) Object.assign(sub('retriever'), { type: 'bm25', index: f.index });
  if (f.retrieverUrl !== undefined) Object.assign(sub('retriever'), { type: 'remote', url: f.retrieverUrl });
  if (f.noRetriever) sub('retriever').type = 'none';
  if (f.n !== undefined) o.n = f.n;
  if (f.promptsPerStep !== undefined) o.promptsPerStep = f.promptsPerStep;
  if (f.miniBatchPrompts !== undefined) o.miniBatchPrompts = f.miniBatchPrompts;
  if (f.lr !== undefined) sub('actor').lr = f.lr;
  if (f.criticLr !== undefined) sub('critic').lr = f.criticLr;
  if (f.maxTurns !== undefined) sub('rollout').maxTurns = f.maxTurns;
  if (f.stateMasking === false) sub('actor').stateMasking = false;
  if (f.dynamicSampling) sub('dynamicSampling').enabled = true;
  if (f.valEvery !== undefined) sub('val').every = f.valEvery;
  if (f.checkpointEvery !== undefined) sub('checkpoint').every = f.checkpointEvery;
  if (f.keepLast !== undefined) sub('checkpoint').keepLast = f.keepLast;
  return o;
}

export function register(program: Command): void {
  addThreadsOption(program.command('train'))
    .description(
      'Train a search agent with GRPO or PPO (retrieved-token masking, checkpoints, exact --resume)',
    )
    .option('--config <file>', 'JSON config file (keys as in src/rl/config.ts)')
    .option('--preset <name>', `preset under the file and flags (${Object.keys(ALL_PRESETS).join(', ')})`)
    .option('--algo <name>', 'grpo | ppo | rloo | reinforce_plus_plus')
    .option('--steps <n>', 'training steps', integerOption('steps'))
    .option('--run-dir <dir>', 'run folder (default runs/<name>)')
    .option('--name <name>', 'run name')
    .option('--resume', 'continue from the newest checkpoint in the run folder (verified: docs/faults.md)')
    .option(
      '--resume-from <step>',
      'continue from this checkpoint (step-NNNNNN or N), e.g. when the newest is damaged',
    )
    .option('--backend <name>', 'embedded | tinker')
    .option('--base-url <url>', 'tinker backend: the server (default $TINKER_BASE_URL or the hosted service)')
    .option('--base-model <name>', 'tinker backend: the base model the server trains')
    .option('--model <dir>', 'initial policy (HF folder for the embedded backend)')
    .option(
      '--lora-rank <r>',
      'train LoRA adapters of rank r instead of all weights',
      integerOption('lora-rank'),
    )
    .option(
      '--lora-alpha <a>',
      'LoRA scale numerator: s = alpha / rank (default 32)',
      numberOption('lora-alpha'),
    )
    .option(
      '--lora-targets <list>',
      'LoRA modules: attn, mlp, unembed or q_proj,…,down_proj,lm_head (default attn,mlp,unembed)',
    )
    .option('--critic-model <dir>', 'initial critic (default: the policy model + a fresh value head)')
    .option('--seed <n>', 'run seed (sampling, shuffling)', integerOption('seed'))
    .option('--train <file>', 'training QA file (repeatable)', list)
    .option('--val <file>', 'validation QA file (repeatable)', list)
    .option('--index <dir>', 'BM25 index folder (embedded retriever)')
    .option('--retriever-url <url>', 'remote /retrieve endpoint')
    .option('--no-retriever', 'train without search (the R1 baseline)')
    .option('--n <n>', 'responses per prompt', integerOption('n'))
    .option('--prompts-per-step <n>', 'prompts per training step', integerOption('prompts-per-step'))
    .option('--mini-batch-prompts <n>', 'prompts per mini-batch update', integerOption('mini-batch-prompts'))
    .option('--lr <x>', 'actor learning rate', numberOption('lr'))
    .option('--critic-lr <x>', 'critic learning rate (PPO)', numberOption('critic-lr'))
    .option('--max-turns <n>', 'search turns per rollout', integerOption('max-turns'))
    .option('--no-state-masking', 'ablation: train on injected (retrieved) tokens too')
    .option('--dynamic-sampling', 'DAPO: drop groups whose rewards are all equal')
    .option('--val-every <n>', 'validate every N steps (0 = never)', integerOption('val-every'))
    .option(
      '--checkpoint-every <n>',
      'checkpoint every N steps (0 = only never)',
      integerOption('checkpoint-every'),
    )
    .option('--keep-last <n>', 'checkpoints to keep', integerOption('keep-last'))
    .option('--print-config', 'print the resolved config and exit')
    .action(async (flags: TrainFlags & { retriever?: boolean }) => {
      // commander turns --no-retriever into retriever=false and --no-state-masking into stateMasking=false
      const f: TrainFlags = { ...flags, noRetriever: flags.retriever === false };
      const cfg = loadConfig({ preset: f.preset, presets: ALL_PRESETS, file: f.config, overrides: flagsToOverrides(f) });
      if (f.printConfig) {
        process.stdout.write(JSON.stringify(cfg, null, 2) + '\n');
        return;
      }
      // The world presets read the bundled world's files: written once, the index rebuilt when stale.
      const usesWorld = [...cfg.data.train, ...cfg.data.val, cfg.retriever.index ?? ''].some((p) =>
        p.startsWith(WORLD_DIR),
      );
      if (usesWorld) {
        const { prepareWorld } = await import('../../demo/world-cache.ts');
        const { DEFAULT_WORLD_SEED } = await import('../../world/world.ts');
        await prepareWorld(DEFAULT_WORLD_SEED, '.cache/search-r1', (l) => process.stderr.write(l + '\n'));
      }
      process.stderr.write(`train: watch it with \`${dashboardCommand(cfg.runDir)}\`\n`);
      // SIGINT/SIGTERM: checkpoint the last completed step and exit with the resume command (docs/faults.md)
      const interrupt = new RunInterrupt().install();
      const res = await train(cfg, { resume: f.resume, resumeFrom: f.resumeFrom, interrupt }).finally(() =>
        interrupt.dispose(),
      );
      process.stdout.write(
        `${JSON.stringify({ runDir: res.runDir, step: res.lastStep, metrics: res.lastMetrics })}\n`,
      );
    });
}
