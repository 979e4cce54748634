// Random HF-style initialisation of a config's parameters, as transformers' `_init_weights`:
// weights ~ N(0, std²) (std = initializer_range, 0.02), RMSNorm weights = 1, biases = 0.
// Deterministic for a seed (engine's xoshiro Rng), so `model init --seed N` is reproducible.
import { parameterShapes } from '../config.ts';
import type { ModelConfig } from '../config.ts';
import { Rng } from '../../core/rng.ts';
import type { TensorMap } from './safetensors.ts';

export function randomTensors(config: ModelConfig, seed: number, opts: { std?: number } = {}): TensorMap {
  const std = opts.std ?? 0.02;
  const rng = new Rng(seed);
  const out: TensorMap = new Map();
  for (const p of parameterShapes(config)) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (p.name.endsWith('norm.weight')) data.fill(1);
    else if (!p.name.endsWith('.bias')) for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    out.set(p.name, { shape: [...p.shape], data });
  }
  return out;
}
