// Training presets of the bundled world: `world` trains the tiny base model at a scale a laptop
// finishes in minutes; `smoke` is a few steps of it. Their data are the world's files in WORLD_DIR
// (`train` writes them when missing). `search-r1 train --preset` offers these beside rl's built-ins.
import { PRESETS, type ConfigLayer } from '../rl/config.ts';
import { WORLD_DIR } from './world-cache.ts';

export const WORLD_PRESETS: Record<string, ConfigLayer> = {
  world: {
    name: 'world',
    model: 'models/world-base',
    data: { train: [`${WORLD_DIR}/train.jsonl`], val: [`${WORLD_DIR}/test.jsonl`], maxValExamples: 64 },
    retriever: { type: 'bm25', index: `${WORLD_DIR}/bm25` },
    rollout: { maxTurns: 2, maxTurnTokens: 48, maxObsTokens: 160, maxTotalTokens: 640, maxPromptTokens: 256 },
    steps: 60,
    promptsPerStep: 16,
    miniBatchPrompts: 8,
    actor: { lr: 2e-4, warmupRatio: 0.05 },
    critic: { lr: 1e-3 },
    val: { every: 10, batchSize: 64, maxTurns: 2 },
    checkpoint: { every: 10, keepLast: 2 },
  },
  smoke: {
    name: 'smoke',
    model: 'models/world-base',
    data: { train: [`${WORLD_DIR}/train.jsonl`], val: [`${WORLD_DIR}/test.jsonl`], maxValExamples: 8 },
    retriever: { type: 'bm25', index: `${WORLD_DIR}/bm25` },
    rollout: { maxTurns: 2, maxTurnTokens: 32, maxObsTokens: 128, maxTotalTokens: 512, maxPromptTokens: 256 },
    steps: 3,
    promptsPerStep: 4,
    n: 2,
    miniBatchPrompts: 2,
    actor: { lr: 1e-4, warmupRatio: 0 },
    critic: { lr: 1e-3 },
    val: { every: 3, beforeTrain: false, batchSize: 8, maxTurns: 2 },
    checkpoint: { every: 3, keepLast: 1 },
  },
};

/** Every preset `search-r1 train --preset` knows: rl's built-ins and the world's. */
export const ALL_PRESETS: Record<string, ConfigLayer> = { ...PRESETS, ...WORLD_PRESETS };
