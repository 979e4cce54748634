// `search-r1 eval`: the paper's evaluation table. Methods × datasets, EM / SubEM / F1 per dataset
// and averaged, greedy, every question scored, resumable; writes table.md, results.jsonl,
// trajectories.jsonl and report.html (trajectory viewer) into --out.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { loadPolicy, loadRetriever, type PolicyOptions, type RetrieverOptions } from '../../eval/backends.ts';
import { addPolicyOptions, addRetrieverOptions } from '../policy-options.ts';
import { integerOption, numberOption } from '../options.ts';
import { dashboardCommand } from './dashboard.ts';
import { loadDatasets } from '../../eval/datasets.ts';
import { parseMethods } from '../../eval/methods/index.ts';
import { runEval, type RunEvalResult } from '../../eval/run.ts';
import { DEFAULT_METHOD_OPTIONS, METHOD_NAMES, type MethodOptions } from '../../eval/types.ts';

export interface EvalCliOptions extends PolicyOptions, RetrieverOptions {
  dataset: string;
  method: string;
  out: string;
  dataDir: string;
  limit?: number;
  sample?: number;
  sampleSeed?: number;
  batchSize: number;
  fresh?: boolean;
  splitBySource: boolean;
  topk: number;
  maxTurns: number;
  maxTurnTokens: number;
  maxAnswerTokens: number;
  maxObsTokens: number;
  maxTotalTokens?: number;
  ircotSteps: number;
  searchO1Searches: number;
  temperature: number;
  topP: number;
  seed?: number;
  quiet?: boolean;
  /** `--dataset world`: the bundled world of this seed, built under cacheDir. */
  worldSeed?: number;
  cacheDir?: string;
}

/**
 * `--dataset world` (not a file under --data-dir): the bundled world's test set, generated and
 * indexed under the cache dir as `search-r1 demo` does; its BM25 index and models/world-base
 * become the defaults for --retriever and --model.
 */
async function resolveWorld(o: EvalCliOptions): Promise<EvalCliOptions> {
  const specs = o.dataset.split(',').map((s) => s.trim());
  if (!specs.includes('world') || existsSync(join(o.dataDir, 'world'))) return o;
  const defaultModel = !o.model && !o.openaiUrl && !o.gguf ? 'models/world-base' : undefined;
  if (defaultModel && !existsSync(join(defaultModel, 'config.json')))
    throw new Error(
      `${defaultModel}: no world base model here; make it with \`search-r1 pretrain\` or pass --model DIR`,
    );
  const { prepareWorld } = await import('../../demo/world-cache.ts');
  const { DEFAULT_WORLD_SEED } = await import('../../world/world.ts');
  const log = o.quiet ? () => {} : (l: string) => process.stderr.write(`${l}\n`);
  const { files, indexDir } = await prepareWorld(
    o.worldSeed ?? DEFAULT_WORLD_SEED,
    o.cacheDir ?? '.cache/search-r1',
    log,
  );
  const out: EvalCliOptions = {
    ...o,
    dataset: specs.map((s) => (s === 'world' ? files.testJsonl : s)).join(','),
  };
  if (!o.retriever && !o.retrieverUrl) out.retriever = indexDir;
  if (defaultModel) out.model = defaultModel;
  return out;
}

/** The library function behind the command. */
export async function evaluate(options: EvalCliOptions): Promise<RunEvalResult> {
  const o = await resolveWorld(options);
  const methods = parseMethods(o.method);
  const datasets = await loadDatasets(o.dataset, {
    dataDir: o.dataDir,
    limit: o.limit,
    sample: o.sample,
    sampleSeed: o.sampleSeed,
    splitBySource: o.splitBySource,
  });
  const { retriever, describe: retrieverDesc } = await loadRetriever(o);
  const needs = methods.filter((m) => m.retrieves).map((m) => m.name);
  if (needs.length > 0 && !retriever)
    throw new Error(
      `methods ${needs.join(', ')} need a retriever: pass --retriever INDEX_DIR or --retriever-url URL`,
    );
  const policy = await loadPolicy(o);
  try {
    const opts: MethodOptions = {
      ...DEFAULT_METHOD_OPTIONS,
      topk: o.topk,
      maxTurns: o.maxTurns,
      maxTurnTokens: o.maxTurnTokens,
      maxAnswerTokens: o.maxAnswerTokens,
      maxObsTokens: o.maxObsTokens,
      maxTotalTokens: o.maxTotalTokens ?? policy.maxContext ?? DEFAULT_METHOD_OPTIONS.maxTotalTokens,
      ircotMaxSteps: o.ircotSteps,
      searchO1MaxSearches: o.searchO1Searches,
      temperature: o.temperature,
      topP: o.topP,
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    };
    return await runEval({
      datasets,
      methods,
      sampler: policy.sampler,
      retriever,
      opts,
      outDir: o.out,
      batchSize: o.batchSize,
      fresh: o.fresh,
      runInfo: { model: policy.describe, retriever: retrieverDesc ?? 'none' },
      ...(o.quiet ? { log: () => {} } : {}),
    });
  } finally {
    await retriever?.close?.();
    await policy.close();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('eval')
    .description(
      'Evaluate inference methods (direct, cot, rag, ircot, search-o1, search-r1, r1) on QA datasets: EM/SubEM/F1 table, trajectories, HTML report',
    )
    .requiredOption(
      '--dataset <names>',
      'comma-separated dataset names (nq, triviaqa, popqa, hotpotqa, 2wikimultihopqa, musique, bamboogle — looked up in --data-dir; world = the bundled world) or file paths (FlashRAG jsonl, Search-R1 parquet)',
    )
    .option(
      '--method <names>',
      `comma-separated methods: ${METHOD_NAMES.join(', ')}`,
      'direct,cot,rag,ircot,search-o1,search-r1',
    )
    .option('--out <dir>', 'run directory (rerunning with the same one resumes)', 'runs/eval')
    .option(
      '--data-dir <dir>',
      'where dataset names are looked up ($SEARCH_R1_DATA)',
      process.env.SEARCH_R1_DATA ?? 'data',
    )
    .option('--limit <n>', 'first N questions of each dataset', integerOption('limit', 1))
    .option(
      '--sample <n>',
      'a seeded random N questions of each dataset (same subset every run)',
      integerOption('sample', 1),
    )
    .option('--sample-seed <n>', 'seed of --sample', integerOption('sample-seed', 0), 0)
    .option('--batch-size <n>', 'questions per batched method call', integerOption('batch-size', 1), 16)
    .option('--fresh', 'start the run directory over instead of resuming')
    .option('--no-split-by-source', 'keep a file mixing data sources as one dataset')
    .option('--topk <n>', 'passages per retrieval', integerOption('topk', 1), DEFAULT_METHOD_OPTIONS.topk)
    .option(
      '--max-turns <n>',
      'Search-R1 search turns',
      integerOption('max-turns', 1),
      DEFAULT_METHOD_OPTIONS.maxTurns,
    )
    .option(
      '--max-turn-tokens <n>',
      'tokens per generation turn / chain of thought',
      integerOption('max-turn-tokens', 1),
      DEFAULT_METHOD_OPTIONS.maxTurnTokens,
    )
    .option(
      '--max-answer-tokens <n>',
      'tokens of a short answer (direct, rag)',
      integerOption('max-answer-tokens', 1),
      DEFAULT_METHOD_OPTIONS.maxAnswerTokens,
    )
    .option(
      '--max-obs-tokens <n>',
      'tokens per information block',
      integerOption('max-obs-tokens', 1),
      DEFAULT_METHOD_OPTIONS.maxObsTokens,
    )
    .option(
      '--max-total-tokens <n>',
      'prompt + response budget (default: the model context, else 4096)',
      integerOption('max-total-tokens', 2),
    )
    .option(
      '--ircot-steps <n>',
      'IRCoT reasoning steps',
      integerOption('ircot-steps', 1),
      DEFAULT_METHOD_OPTIONS.ircotMaxSteps,
    )
    .option(
      '--search-o1-searches <n>',
      'Search-o1 search limit',
      integerOption('search-o1-searches', 1),
      DEFAULT_METHOD_OPTIONS.searchO1MaxSearches,
    )
    .option(
      '--temperature <t>',
      "sampling temperature (0 = greedy, the paper's setting)",
      numberOption('temperature'),
      0,
    )
    .option('--top-p <p>', 'nucleus sampling', numberOption('top-p'), 1)
    .option('--seed <n>', 'sampling seed', integerOption('seed', 0))
    .option('--quiet', 'no progress lines')
    .option('--world-seed <n>', '--dataset world: seed of the bundled world', integerOption('world-seed', 0))
    .option(
      '--cache-dir <dir>',
      '--dataset world: where the world and its index are built',
      '.cache/search-r1',
    );
  addPolicyOptions(cmd);
  addRetrieverOptions(cmd);
  cmd.action(async (o: EvalCliOptions) => {
    if (!o.quiet) process.stderr.write(`eval: watch it with \`${dashboardCommand(o.out)}\`\n`);
    const r = await evaluate(o);
    process.stdout.write(`${r.markdown}\n`);
    process.stderr.write(
      `eval: ${r.newlyScored} questions scored now; results in ${r.files.results}, report ${r.files.report} (or \`${dashboardCommand(o.out)}\`)\n`,
    );
  });
}
