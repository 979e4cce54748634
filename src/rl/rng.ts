// Every random draw of a training run derives from (run seed, step, purpose) through a hash, so
// the whole random state of a run at step k is its seed and k: a checkpoint that stores those
// resumes bit-for-bit, and no generator state can drift between a killed and a fresh run.

/** 32-bit mix (murmur3 finaliser). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit seed from a run seed and any sequence of integers (step, epoch, purpose tag, …). */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x2545f491);
  for (const p of parts) h = fmix32(h ^ Math.imul((p >>> 0) + 0x9e3779b9, 0x27d4eb2d));
  return h;
}

/** Purpose tags for deriveSeed. */
export const SEED_PURPOSE = { shuffle: 1, rollout: 2, validation: 3, minibatch: 4, dynamic: 5 } as const;

/** mulberry32 generator over [0, 1). */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates permutation of 0..n-1 from a seed. */
export function permutation(n: number, seed: number): number[] {
  const r = mulberry32(seed);
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}
