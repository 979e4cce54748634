// `search-r1 <command>`: each command lives in its own module under ./commands and is also a
// library function there; this file only wires them into one program.
import { Command } from 'commander';
import { setEngineThreads } from '../engine/kernels/index.ts';
import { parseRetryBudget, RETRY_BUDGET_ENV, setRetryBudgetSeconds } from '../core/retry.ts';
import { register as registerDemo } from './commands/demo.ts';
import { register as registerData } from './commands/data.ts';
import { register as registerIndex } from './commands/index-cmd.ts';
import { register as registerServe } from './commands/serve.ts';
import { register as registerModel } from './commands/model.ts';
import { register as registerGenerate } from './commands/generate.ts';
import { register as registerTrain } from './commands/train.ts';
import { register as registerPretrain } from './commands/pretrain.ts';
import { register as registerServeModel } from './commands/serve-model.ts';
import { register as registerInfer } from './commands/infer.ts';
import { register as registerEval } from './commands/eval.ts';
import { register as registerServeTrainer } from './commands/serve-trainer.ts';
import { register as registerEmbed } from './commands/embed.ts';
import { addHubResolution, engineThreadsFlag } from './policy-options.ts';
import { register as registerDashboard } from './commands/dashboard.ts';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('search-r1')
    .description('Train, serve and evaluate search agents with reinforcement learning (Search-R1).')
    .showHelpAfterError()
    .enablePositionalOptions()
    // --threads (addThreadsOption) must reach the engine before the command builds a model.
    .hook('preAction', (_program, cmd) => {
      const threads = engineThreadsFlag(cmd);
      if (threads !== undefined) setEngineThreads(threads);
    });
  for (const register of [
    registerDemo,
    registerData,
    registerIndex,
    registerServe,
    registerModel,
    registerGenerate,
    registerTrain,
    registerPretrain,
    registerServeModel,
    registerInfer,
    registerEval,
    registerServeTrainer,
    registerEmbed,
    registerDashboard,
  ]) {
    register(program);
  }
  // Every command that talks to a remote service shares one retry budget (docs/faults.md).
  for (const cmd of program.commands)
    cmd.option(
      '--retry-budget <seconds>',
      `how long to ride out an unreachable retriever / model server before failing (default: $${RETRY_BUDGET_ENV} or 600)`,
      (v: string) => parseRetryBudget(v, '--retry-budget'),
    );
  program.hook('preAction', (_root, action) => {
    const v = action.optsWithGlobals().retryBudget as number | undefined;
    setRetryBudgetSeconds(v);
  });
  addHubResolution(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    // One clear line for users; the stack only when asked for.
    const e = err as Error;
    console.error(`search-r1: ${e.message}`);
    if (process.env.SEARCH_R1_DEBUG) console.error(e.stack);
    // A run stopped by a signal or a fatal error (RunInterrupted) exits now with its code: work
    // it abandoned (a rollout waiting on a dead server) must not keep the process alive.
    const code = (err as { exitCode?: unknown }).exitCode;
    if (typeof code === 'number') process.exit(code);
    process.exitCode = 1;
  }
}
