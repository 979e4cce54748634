// Every random draw of a training run derives from (run seed, step, purpose) through a hash, so
// the whole random state of a run at step k is its seed and k: a checkpoint that stores those
// resumes bit-for-bit, and no generator state can drift between a killed and a fresh run.

// The hash and generators live in src/core/rng.ts; these are the RL loop's purpose tags.

/** Purpose tags for deriveSeed. */
export const SEED_PURPOSE = { shuffle: 1, rollout: 2, validation: 3, minibatch: 4, dynamic: 5 } as const;

