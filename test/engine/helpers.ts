// Shared helpers for the engine tests: tiny configs, the float64 reference model, a byte tokenizer.
import type { ModelConfig, Arch } from '../../src/engine/config.ts';
import { Model } from '../../src/engine/model.ts';
import { createRefKernels } from '../../src/engine/kernels/index.ts';
import { JsArena } from '../../src/engine/memory.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';

export function microConfig(arch: Arch, extra: Partial<ModelConfig> = {}): ModelConfig {
  return {
    arch,
    vocabSize: 37,
    hiddenSize: 16,
    intermediateSize: 24,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 4,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: arch === 'qwen2',
    attentionBias: arch === 'qwen2',
    maxPositionEmbeddings: 512,
    ...extra,
  };
}

/** A model on the float64 plain-TS path (finite differences are exact enough to test against). */
export function f64Model(config: ModelConfig, seed: number, initStd = 0.3): Model {
  return new Model(config, { seed, kernels: createRefKernels(new JsArena(64)), initStd });
}

export function randomizeNonMatrices(m: Model, seed: number): void {
  // Norm weights 1 and biases 0 would hide bugs; make them generic.
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (const p of m.params)
    if (p.shape.length === 1) {
      const d = p.w.data;
      for (let i = 0; i < d.length; i++) d[i] = p.name.endsWith('bias') ? 0.3 * r() : 1 + 0.3 * r();
    }
}

export function copyWeights(from: Model, to: Model): void {
  for (const p of from.params) to.param(p.name).w.data.set(p.w.data);
}

/** Byte-level tokenizer: ids 0..255 are bytes, 256 = EOS. */
export function byteTokenizer(vocabSize = 259): Tokenizer {
  const dec = new TextDecoder();
  return {
    eosTokenIds: [256],
    vocabSize,
    encode: (t: string) => Array.from(new TextEncoder().encode(t)),
    decode: (ids: readonly number[]) => dec.decode(new Uint8Array(ids.filter((i) => i < 256))),
    applyChatTemplate: () => null,
  };
}

export function randomTokens(n: number, V: number, seed: number): number[] {
  let s = seed >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s % V);
  }
  return out;
}
