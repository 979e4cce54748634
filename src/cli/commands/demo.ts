// `search-r1 demo` (= `npm start`): the main job on the bundled world; prints the EM table.
import type { Command } from 'commander';
import { join } from 'node:path';
import { DEFAULT_DEMO, formatTable, rerenderReport, runDemo } from '../../demo/demo.ts';
import { readConfigFile } from '../../rl/config.ts';
import { integerOption } from '../options.ts';
import { addThreadsOption } from '../policy-options.ts';

export function register(program: Command): void {
  const d = DEFAULT_DEMO;
  addThreadsOption(program.command('demo'))
    .description(
      'Run the main job on the bundled world: baselines, GRPO training with search, evaluation, HTML report',
    )
    .option('--name <name>', 'run name (writes runs/<name>/)', 'demo')
    .option('--full', 'also R1 (no search), PPO and the no-mask ablation', false)
    .option('--seed <n>', 'seed of training and sampling', integerOption('seed'), d.seed)
    .option(
      '--world-seed <n>',
      'seed of the world (must match the base model)',
      integerOption('world-seed'),
      d.worldSeed,
    )
    .option('--model <dir>', 'base model HF folder', d.model)
    .option('--steps <n>', 'RL steps', integerOption('steps'), d.steps)
    .option(
      '--prompts-per-step <n>',
      'prompts per RL step (× 5 samples for GRPO)',
      integerOption('prompts-per-step'),
      d.promptsPerStep,
    )
    .option(
      '--eval-per-type <n>',
      'test questions per type (single-hop, two-hop)',
      integerOption('eval-per-type'),
      d.evalPerType,
    )
    .option('--search-topk <n>', "passages per search for the agent (RAG keeps top-3)", integerOption('search-topk'))
    .option('--resume', 'continue the interrupted training runs of a demo with this name', false)
    .option('--cache-dir <dir>', 'where the world files and index are built', d.cacheDir)
    .option('--runs-dir <dir>', 'where runs/<name> goes', d.runsDir)
    .option(
      '--rl-config <file>',
      "JSON training-config keys (as in src/rl/config.ts) laid over the demo's for every RL run",
    )
    .option(
      '--report-only',
      "re-render runs/<name>/report.html and summary.json from the run's files (nothing is trained)",
      false,
    )
    .action(async (opts: Record<string, unknown>) => {
      if (opts.reportOnly) {
        const summary = rerenderReport(join(opts.runsDir as string, opts.name as string));
        process.stdout.write(formatTable(summary) + '\n');
        return;
      }
      const summary = await runDemo({
        name: opts.name as string,
        full: opts.full as boolean,
        resume: opts.resume as boolean,
        seed: opts.seed as number,
        worldSeed: opts.worldSeed as number,
        model: opts.model as string,
        evalPerType: opts.evalPerType as number,
        cacheDir: opts.cacheDir as string,
        runsDir: opts.runsDir as string,
        ...(opts.searchTopk !== undefined ? { searchTopk: opts.searchTopk as number } : {}),
        ...(opts.steps !== undefined ? { steps: opts.steps as number } : {}),
        ...(opts.promptsPerStep !== undefined ? { promptsPerStep: opts.promptsPerStep as number } : {}),
        ...(opts.rlConfig !== undefined ? { rlOverrides: readConfigFile(opts.rlConfig as string) } : {}),
      });
      process.stdout.write(formatTable(summary) + '\n');
    });
}
