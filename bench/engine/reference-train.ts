// The reference-config training step the engine benchmarks time: vocab 512, width 256, 4 layers
// (~3.3M parameters), a batch of 4 sequences × 128 tokens, forward + backward + AdamW. One
// definition, so bench/engine.ts, profile-train.ts and train-ab.ts measure the same work.
import { presetConfig } from '../../src/engine/config.ts';
import type { Kernels } from '../../src/engine/kernels/index.ts';
import { Model } from '../../src/engine/model.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { AdamWParams, Datum, Metrics } from '../../src/core/trainer.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';

/** A tokenizer for benchmarks that feed token ids directly. */
export const nullTokenizer = (V: number): Tokenizer => ({
  eosTokenIds: [],
  vocabSize: V,
  encode: () => [],
  decode: (ids) => ids.join(' '),
  applyChatTemplate: () => null,
});

/** `batch` deterministic pseudo-random sequences of `seq` next-token pairs. */
function trainBatch(V: number, seq: number, batch: number): Datum[] {
  return Array.from({ length: batch }, (_, i) => {
    const t = Array.from({ length: seq + 1 }, (_, k) => (k * 7919 + i * 104729) % V);
    return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) };
  });
}

export const BENCH_ADAMW: AdamWParams = {
  learningRate: 1e-3,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.01,
  gradClipNorm: 1,
};

/** Tokens in one reference step (4 × 128). */
export const REFERENCE_STEP_TOKENS = 512;

/** A seeded reference-config trainer, its batch, and one training step (returns the step's metrics). */
export function referenceTraining(kernels?: Kernels): {
  trainer: EmbeddedTrainer;
  data: Datum[];
  step: () => Promise<Metrics>;
} {
  const cfg = presetConfig('reference');
  const trainer = EmbeddedTrainer.fromModel(
    new Model(cfg, { seed: 1, ...(kernels ? { kernels } : {}) }),
    nullTokenizer(cfg.vocabSize),
  );
  const data = trainBatch(cfg.vocabSize, 128, 4);
  const step = async (): Promise<Metrics> => {
    const m = await trainer.forwardBackward(data, { type: 'cross_entropy' });
    await trainer.optimStep(BENCH_ADAMW);
    return m;
  };
  return { trainer, data, step };
}
