// `search-r1 pretrain`: reproduce the bundled world's tiny base model (models/world-base).
import type { Command } from 'commander';
import { DEFAULT_PRETRAIN, parseMix, pretrain } from '../../demo/pretrain.ts';
import { integerOption, numberOption } from '../options.ts';
import { addThreadsOption } from '../policy-options.ts';

export function register(program: Command): void {
  const d = DEFAULT_PRETRAIN;
  addThreadsOption(program.command('pretrain'))
    .description('Pretrain the tiny base model of the bundled world from scratch (writes an HF folder)')
    .option('--out <dir>', 'output HF model folder', 'models/world-base')
    .option(
      '--world-seed <n>',
      'seed of the world (must match the demo)',
      integerOption('world-seed'),
      d.worldSeed,
    )
    .option('--seed <n>', 'seed of data mix, init and batch order', integerOption('seed'), d.seed)
    .option('--vocab-size <n>', 'BPE vocabulary size', integerOption('vocab-size'), d.vocabSize)
    .option('--hidden <n>', 'hidden size', integerOption('hidden'), d.model.hiddenSize)
    .option('--intermediate <n>', 'MLP size', integerOption('intermediate'), d.model.intermediateSize)
    .option('--layers <n>', 'transformer layers', integerOption('layers'), d.model.numLayers)
    .option('--heads <n>', 'attention heads', integerOption('heads'), d.model.numHeads)
    .option('--kv-heads <n>', 'key/value heads', integerOption('kv-heads'), d.model.numKvHeads)
    .option('--epochs <n>', 'passes over the pretraining examples', integerOption('epochs'), d.epochs)
    .option('--batch-size <n>', 'sequences per step', integerOption('batch-size'), d.batchSize)
    .option('--lr <x>', 'peak learning rate (AdamW)', numberOption('lr', { positive: true }), d.learningRate)
    .option(
      '--shadow-worlds <n>',
      'shadow worlds (fresh names: copying practice)',
      integerOption('shadow-worlds'),
      d.shadowWorlds,
    )
    .option(
      '--reading-steps <n>',
      'phase-2 reading-comprehension steps (0: off)',
      integerOption('reading-steps'),
      d.readingSteps,
    )
    .option(
      '--max-seq-len <n>',
      'truncate examples to this many tokens',
      integerOption('max-seq-len'),
      d.maxSeqLen,
    )
    .option('--max-steps <n>', 'stop early after this many steps (smoke runs)', integerOption('max-steps'))
    .option('--work-dir <dir>', 'scratch dir for the world, index and resumable checkpoints')
    .option('--init <dir>', 'continue from this model folder (its tokenizer and weights) instead of a fresh model')
    .option('--shadow-first <i>', 'index of the first shadow world (a second stage takes fresh ones)', integerOption('shadow-first'))
    .option('--mix <modes>', 'trajectory mix, e.g. guess=0.6,search_copy=0.4 (modes: guess, search_copy, wrong_query, wrong_span)')
    .action(async (opts: Record<string, unknown>) => {
      await pretrain({
        out: opts.out as string,
        worldSeed: opts.worldSeed as number,
        seed: opts.seed as number,
        vocabSize: opts.vocabSize as number,
        model: {
          hiddenSize: opts.hidden as number,
          intermediateSize: opts.intermediate as number,
          numLayers: opts.layers as number,
          numHeads: opts.heads as number,
          numKvHeads: opts.kvHeads as number,
        },
        epochs: opts.epochs as number,
        batchSize: opts.batchSize as number,
        learningRate: opts.lr as number,
        maxSeqLen: opts.maxSeqLen as number,
        shadowWorlds: opts.shadowWorlds as number,
        readingSteps: opts.readingSteps as number,
        ...(opts.maxSteps !== undefined ? { maxSteps: opts.maxSteps as number } : {}),
        ...(opts.workDir !== undefined ? { workDir: opts.workDir as string } : {}),
        ...(opts.init !== undefined ? { init: opts.init as string } : {}),
        ...(opts.shadowFirst !== undefined ? { shadowFirst: opts.shadowFirst as number } : {}),
        ...(opts.mix !== undefined ? { mix: parseMix(opts.mix as string) } : {}),
      });
    });
}
