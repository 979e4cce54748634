// Choosing the next token from logits: temperature, top-k, top-p (nucleus), greedy at T = 0.
// The returned log-prob is that of the distribution actually sampled from (after temperature and
// truncation, renormalised); with temperature 1, top-p 1, no top-k it is the model's
// log-softmax, i.e. what the training forward computes. Greedy returns the model's log-prob.
import type { Rng } from '../core/rng.ts';

export interface SamplingParams {
  temperature: number;
  topP: number;
  topK?: number;
}

export function sampleToken(
  logits: Float32Array,
  off: number,
  V: number,
  p: SamplingParams,
  rng: Rng,
  scratch: Float64Array,
): { token: number; logprob: number } {
  let max = -Infinity,
    arg = 0;
  for (let j = 0; j < V; j++) {
    const z = logits[off + j];
    if (z > max) {
      max = z;
      arg = j;
    }
  }
  if (!Number.isFinite(max))
    throw new Error(`sampling: non-finite logits (max ${max}); the model weights may contain NaN/Inf`);
  if (!(p.temperature > 0)) {
    let s = 0;
    for (let j = 0; j < V; j++) s += Math.exp(logits[off + j] - max);
    return { token: arg, logprob: -Math.log(s) };
  }
  const invT = 1 / p.temperature;
  // probs (unnormalised) in scratch
  let sum = 0;
  for (let j = 0; j < V; j++) {
    const e = Math.exp((logits[off + j] - max) * invT);
    scratch[j] = e;
    sum += e;
  }
  const topK = p.topK && p.topK > 0 && p.topK < V ? Math.floor(p.topK) : 0;
  const topP = p.topP > 0 && p.topP < 1 ? p.topP : 1;
  if (topK === 0 && topP === 1) {
    let u = rng.uniform() * sum;
    let tok = V - 1;
    for (let j = 0; j < V; j++) {
      u -= scratch[j];
      if (u < 0) {
        tok = j;
        break;
      }
    }
    // log softmax(z/T)[tok] computed directly (exact for T = 1)
    return { token: tok, logprob: (logits[off + tok] - max) * invT - Math.log(sum) };
  }
  // Truncation: candidates sorted by probability (descending), keep the top-k, then the
  // smallest prefix with mass ≥ topP.
  let idx = Array.from({ length: V }, (_, j) => j);
  if (topK > 0) {
    idx.sort((a, b) => scratch[b] - scratch[a] || a - b);
    idx = idx.slice(0, topK);
  } else {
    // Sort only tokens with p ≥ pmax·1e-12 so the sort stays small on large vocabularies; the
    // dropped tail holds < V·1e-12 of the mass, far below what could move the top-p cut.
    const thr = scratch[arg] * 1e-12;
    idx = idx.filter((j) => scratch[j] >= thr);
    idx.sort((a, b) => scratch[b] - scratch[a] || a - b);
  }
  let kept = 0,
    mass = 0;
  let total = 0;
  for (const j of idx) total += scratch[j];
  if (topP < 1) {
    for (const j of idx) {
      mass += scratch[j];
      kept++;
      if (mass >= topP * (topK > 0 ? total : sum)) break;
    }
  } else {
    kept = idx.length;
    mass = total;
  }
  let u = rng.uniform() * mass;
  let tok = idx[kept - 1];
  for (let i = 0; i < kept; i++) {
    u -= scratch[idx[i]];
    if (u < 0) {
      tok = idx[i];
      break;
    }
  }
  return { token: tok, logprob: Math.log(scratch[tok] / mass) };
}
