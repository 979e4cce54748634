// `search-r1 infer "question"`: one question through the agent (or any eval method) with any
// policy backend and retriever; the trajectory printed readably, or as JSON.
import type { Command } from 'commander';
import { loadPolicy, loadRetriever, type PolicyOptions, type RetrieverOptions } from '../../eval/backends.ts';
import { addPolicyOptions, addRetrieverOptions } from '../policy-options.ts';
import { integerOption, numberOption } from '../options.ts';
import { formatInferResult, inferOne, type InferResult } from '../../eval/infer.ts';
import { METHOD_NAMES, DEFAULT_METHOD_OPTIONS, type MethodName } from '../../eval/types.ts';

export interface InferCliOptions extends PolicyOptions, RetrieverOptions {
  method: string;
  json?: boolean;
  showPrompt?: boolean;
  topk: number;
  maxTurns: number;
  maxTurnTokens: number;
  maxTotalTokens?: number;
  temperature: number;
  topP: number;
  seed?: number;
}

/** The library function behind the command. */
export async function infer(question: string, o: InferCliOptions): Promise<InferResult> {
  if (!(METHOD_NAMES as readonly string[]).includes(o.method))
    throw new Error(`--method: unknown method "${o.method}" (known: ${METHOD_NAMES.join(', ')})`);
  const policy = await loadPolicy(o);
  const { retriever } = await loadRetriever(o);
  try {
    return await inferOne(question, o.method as MethodName, {
      sampler: policy.sampler,
      retriever,
      opts: {
        ...DEFAULT_METHOD_OPTIONS,
        topk: o.topk,
        maxTurns: o.maxTurns,
        maxTurnTokens: o.maxTurnTokens,
        maxTotalTokens: o.maxTotalTokens ?? policy.maxContext ?? DEFAULT_METHOD_OPTIONS.maxTotalTokens,
        temperature: o.temperature,
        topP: o.topP,
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
      },
    });
  } finally {
    await retriever?.close?.();
    await policy.close();
  }
}

export function register(program: Command): void {
  const cmd = program
    .command('infer')
    .description('Answer one question with the search agent and print its trajectory')
    .argument('<question>', 'the question')
    .option('--method <name>', `inference method: ${METHOD_NAMES.join(', ')}`, 'search-r1')
    .option('--json', 'print the result as JSON')
    .option('--show-prompt', 'print the prompt too')
    .option('--topk <n>', 'passages per search', integerOption('topk', 1), 3)
    .option('--max-turns <n>', 'search turns', integerOption('max-turns', 1), 4)
    .option('--max-turn-tokens <n>', 'tokens per generation turn', integerOption('max-turn-tokens', 1), 500)
    .option(
      '--max-total-tokens <n>',
      'prompt + response budget (default: the model context, else 4096)',
      integerOption('max-total-tokens', 2),
    )
    .option('--temperature <t>', 'sampling temperature (0 = greedy)', numberOption('temperature'), 0)
    .option('--top-p <p>', 'nucleus sampling', numberOption('top-p'), 1)
    .option('--seed <n>', 'sampling seed', integerOption('seed', 0));
  addPolicyOptions(cmd);
  addRetrieverOptions(cmd);
  cmd.action(async (question: string, o: InferCliOptions) => {
    const r = await infer(question, o);
    if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else
      process.stdout.write(
        formatInferResult(r, {
          colour: process.stdout.isTTY === true && !process.env.NO_COLOR,
          showPrompt: o.showPrompt,
        }) + '\n',
      );
  });
}
