// Picks the kernel implementation: WASM SIMD when build/kernels.wasm exists, else plain TS.
// SEARCH_R1_KERNELS=ref forces the reference path.
import { createRefKernels } from './ref.ts';
import { createWasmKernels, KERNELS_WASM_PATH } from './wasm.ts';
import type { Kernels } from './types.ts';
import { existsSync } from 'node:fs';

export type { Kernels } from './types.ts';
export { createRefKernels } from './ref.ts';
export { createWasmKernels } from './wasm.ts';

let shared: Kernels | null = null;

/** The process-wide kernels (one WebAssembly.Memory shared by every model). */
export function defaultKernels(): Kernels {
  if (shared) return shared;
  if (process.env.SEARCH_R1_KERNELS !== 'ref' && existsSync(KERNELS_WASM_PATH)) shared = createWasmKernels();
  else {
    if (process.env.SEARCH_R1_KERNELS !== 'ref')
      process.stderr.write(
        `search-r1: ${KERNELS_WASM_PATH} missing, using slow plain-TS kernels (run npm run build:kernels)\n`,
      );
    shared = createRefKernels();
  }
  return shared;
}
