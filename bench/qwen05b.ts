// The Qwen2.5-0.5B(-Instruct) shape, for the benchmarks that load or run a 0.5B-sized model.
import type { ModelConfig } from '../src/engine/config.ts';

export const QWEN25_05B: ModelConfig = {
  arch: 'qwen2',
  vocabSize: 151936,
  hiddenSize: 896,
  intermediateSize: 4864,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  ropeTheta: 1000000,
  rmsNormEps: 1e-6,
  tieWordEmbeddings: true,
  attentionBias: true,
  maxPositionEmbeddings: 32768,
};
