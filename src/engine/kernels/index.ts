// Picks the kernel implementation: WASM SIMD when build/kernels.wasm exists, else plain TS.
// SEARCH_R1_KERNELS=ref forces the reference path. With more than one engine thread (the default
// on a multi-core machine; `--threads N` / SEARCH_R1_THREADS) the WASM kernels run on worker
// threads over one shared memory (./threads.ts).
import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { createRefKernels } from './ref.ts';
import { createWasmKernels, KERNELS_WASM_PATH } from './wasm.ts';
import { createThreadedKernels, preferredSharedKernelsPath } from './threads.ts';
import type { Kernels } from './types.ts';

export type { Kernels, LaneKernels } from './types.ts';
export { createRefKernels } from './ref.ts';
export { createWasmKernels } from './wasm.ts';
export { createThreadedKernels } from './threads.ts';

let shared: Kernels | null = null;
let threadsSetting: number | null = null;

/** Parses a thread count (CLI flag or environment variable), naming the source on bad input. */
export function parseThreads(value: string, source: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1)
    throw new Error(`${source}: expected a whole number of threads ≥ 1, got "${value}"`);
  return n;
}

/** Engine threads: set by `setEngineThreads` (the CLI's --threads), else SEARCH_R1_THREADS, else every core. */
export function engineThreads(): number {
  if (threadsSetting !== null) return threadsSetting;
  const env = process.env.SEARCH_R1_THREADS;
  if (env !== undefined && env !== '') return parseThreads(env, 'SEARCH_R1_THREADS');
  return availableParallelism();
}

/**
 * Sets the engine's thread count for this process. Must come before the first model is created
 * (the process-wide kernels are built once); a different count afterwards is an error.
 */
export function setEngineThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new Error(`--threads: expected a whole number ≥ 1, got ${n}`);
  if (shared && shared.lanes !== n && shared.kind === 'wasm')
    throw new Error(`engine threads are already running with ${shared.lanes}; cannot switch to ${n}`);
  threadsSetting = n;
}

/** The process-wide kernels (one WebAssembly.Memory shared by every model). */
export function defaultKernels(): Kernels {
  if (shared) return shared;
  if (process.env.SEARCH_R1_KERNELS !== 'ref' && existsSync(KERNELS_WASM_PATH)) {
    const n = engineThreads();
    shared =
      n > 1 && existsSync(preferredSharedKernelsPath()) ? createThreadedKernels(n) : createWasmKernels();
  } else {
    if (process.env.SEARCH_R1_KERNELS !== 'ref')
      process.stderr.write(
        `search-r1: ${KERNELS_WASM_PATH} missing, using slow plain-TS kernels (run npm run build:kernels)\n`,
      );
    shared = createRefKernels();
  }
  return shared;
}
