// Phase timing of an RL step: every phase runs through `timed`, which adds its wall seconds to
// the step's timing record (logged as `timing_s/<phase>`, the reference's names).

export type Timing = Record<string, number>;

/** Runs `fn`, adding its wall-clock seconds to `timing[key]`. */
export async function timed<T>(timing: Timing, key: string, fn: () => Promise<T> | T): Promise<T> {
  const t0 = performance.now();
  try {
    return await fn();
  } finally {
    timing[key] = (timing[key] ?? 0) + (performance.now() - t0) / 1000;
  }
}
