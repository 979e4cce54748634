// The WASM SIMD kernels (build/kernels.wasm, built from ./assembly/index.ts by scripts/build-kernels.mjs).
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { WasmArena } from '../memory.ts';
import type { Kernels } from './types.ts';

export const KERNELS_WASM_PATH = fileURLToPath(new URL('../../../build/kernels.wasm', import.meta.url));
/** The relaxed-SIMD build (fused multiply-add in the GEMM micro-kernel). */
export const KERNELS_RELAXED_WASM_PATH = fileURLToPath(
  new URL('../../../build/kernels-relaxed.wasm', import.meta.url),
);

let relaxedChecked: boolean | null = null;
/** Whether this runtime runs relaxed SIMD (Node 20 needs V8's experimental flag, set here). */
export function relaxedSimdAvailable(): boolean {
  if (relaxedChecked !== null) return relaxedChecked;
  relaxedChecked = false;
  if (process.env.SEARCH_R1_RELAXED_SIMD === '0' || !existsSync(KERNELS_RELAXED_WASM_PATH)) return false;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    relaxedChecked = WebAssembly.validate(readFileSync(KERNELS_RELAXED_WASM_PATH));
  } catch {
    relaxedChecked = false;
  }
  return relaxedChecked;
}

/** The best kernel build this runtime accepts. */
export function preferredKernelsPath(): string {
  return relaxedSimdAvailable() ? KERNELS_RELAXED_WASM_PATH : KERNELS_WASM_PATH;
}

/** The kernel module's exports (kernels-shared*.wasm imports its memory instead of exporting one). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  alloc(bytes: number): number;
  free(ptr: number): void;
  setWorker(): void;
  setScratch(...a: number[]): void;
  gemmTri(...a: number[]): void;
  rmsnorm(...a: number[]): void;
  rmsnormBackward(...a: number[]): void;
  swiglu(...a: number[]): void;
  swigluBackward(...a: number[]): void;
  causalSoftmax(...a: number[]): void;
  softmaxBackward(...a: number[]): void;
  logsoftmaxStats(...a: number[]): void;
  logsoftmaxBackward(...a: number[]): void;
  sumSquares(ptr: number, n: number): number;
  rope(...a: number[]): void;
  attnDecode(...a: number[]): void;
  adamw(...a: number[]): void;
}

/** The module's `abort` import (AssemblyScript calls it on a failed check). */
export function kernelImports(memory?: WebAssembly.Memory): WebAssembly.Imports {
  return {
    env: {
      ...(memory ? { memory } : {}),
      abort(_msg: number, _file: number, line: number, col: number) {
        throw new Error(`kernels.wasm aborted at ${line}:${col}`);
      },
    },
  };
}

/** Instantiates a fresh kernel module (its own memory). Throws if the .wasm is not built. */
export function createWasmKernels(path = preferredKernelsPath()): Kernels {
  if (!existsSync(path)) throw new Error(`${path} not found: run \`npm run build:kernels\``);
  const mod = new WebAssembly.Module(readFileSync(path));
  const inst = new WebAssembly.Instance(mod, kernelImports());
  const x = inst.exports as unknown as KernelExports;
  return bindKernels(x, x.memory, path === KERNELS_RELAXED_WASM_PATH ? 'relaxed-simd' : 'simd');
}

/** The exports a kernel call can name; worker threads receive calls as (index in this list, arguments). */
export const RAW_OPS = [
  'gemmTri',
  'rmsnorm',
  'rmsnormBackward',
  'swiglu',
  'swigluBackward',
  'causalSoftmax',
  'softmaxBackward',
  'logsoftmaxStats',
  'logsoftmaxBackward',
  'rope',
  'attnDecode',
  'adamw',
  'setScratch',
] as const;
export type RawOp = (typeof RAW_OPS)[number];
/** One export call with its raw arguments (pointers in bytes, booleans as 0/1). */
export type RawCall = (op: RawOp, args: number[]) => void;
/** The Kernels calls that return nothing, i.e. everything a raw call can carry. */
export type CallKernels = Omit<
  Kernels,
  'kind' | 'variant' | 'arena' | 'lanes' | 'lane' | 'sync' | 'close' | 'sumSquares'
>;

/** The Kernels interface over one instance's exports, every call on the calling thread. */
export function bindKernels(
  x: KernelExports,
  memory: WebAssembly.Memory,
  variant: 'simd' | 'relaxed-simd',
): Kernels {
  const k: Kernels = {
    kind: 'wasm',
    variant,
    arena: new WasmArena(memory, x.alloc, x.free),
    lanes: 1,
    lane: () => k,
    sync() {},
    close() {},
    sumSquares: (b, n) => x.sumSquares(b.ptr, n),
    ...rawBinding((op, a) => x[op](...a)),
  };
  return k;
}

/** Kernels calls (buffers + element offsets) → raw export calls (byte pointers), made through `call`. */
export function rawBinding(call: RawCall): CallKernels {
  const gemmTri: Kernels['gemmTri'] = (
    tri,
    off,
    tA,
    tB,
    M,
    N,
    K,
    alpha,
    A,
    aOff,
    lda,
    B,
    bOff,
    ldb,
    beta,
    C,
    cOff,
    ldc,
  ) =>
    call('gemmTri', [
      tri,
      off,
      tA ? 1 : 0,
      tB ? 1 : 0,
      M,
      N,
      K,
      alpha,
      A.ptr + aOff * 4,
      lda,
      B.ptr + bOff * 4,
      ldb,
      beta,
      C.ptr + cOff * 4,
      ldc,
    ]);
  return {
    // The plain gemm is gemmTri's mode 0 (the module's own `gemm` export is the same call).
    gemm(tA, tB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc) {
      gemmTri(0, 0, tA, tB, M, N, K, alpha, A, aOff, lda, B, bOff, ldb, beta, C, cOff, ldc);
    },
    gemmTri,
    rmsnorm(xb, w, y, inv, rows, D, eps) {
      call('rmsnorm', [xb.ptr, w.ptr, y.ptr, inv.ptr, rows, D, eps]);
    },
    rmsnormBackward(xb, w, inv, dy, dx, dw, rows, D, acc) {
      call('rmsnormBackward', [xb.ptr, w.ptr, inv.ptr, dy.ptr, dx.ptr, dw.ptr, rows, D, acc ? 1 : 0]);
    },
    swiglu(g, u, a, n) {
      call('swiglu', [g.ptr, u.ptr, a.ptr, n]);
    },
    swigluBackward(g, u, da, dg, du, n) {
      call('swigluBackward', [g.ptr, u.ptr, da.ptr, dg.ptr, du.ptr, n]);
    },
    causalSoftmax(S, sOff, rows, cols, ld, offset) {
      call('causalSoftmax', [S.ptr + sOff * 4, rows, cols, ld, offset]);
    },
    softmaxBackward(P, pOff, dP, dOff, rows, cols, ld, scale) {
      call('softmaxBackward', [P.ptr + pOff * 4, dP.ptr + dOff * 4, rows, cols, ld, scale]);
    },
    logsoftmaxStats(Z, rows, V, t, tOff, lse, lp, ent) {
      call('logsoftmaxStats', [Z.ptr, rows, V, t.ptr + tOff * 4, lse.ptr, lp.ptr, ent.ptr]);
    },
    logsoftmaxBackward(Z, rows, V, t, tOff, lse, ent, gLp, gEnt) {
      call('logsoftmaxBackward', [Z.ptr, rows, V, t.ptr + tOff * 4, lse.ptr, ent.ptr, gLp.ptr, gEnt.ptr]);
    },
    rope(xb, xOff, rows, ld, heads, hd, pos, posOff, cos, sin, inverse) {
      call('rope', [
        xb.ptr + xOff * 4,
        rows,
        ld,
        heads,
        hd,
        pos.ptr + posOff * 4,
        cos.ptr,
        sin.ptr,
        inverse ? 1 : 0,
      ]);
    },
    attnDecode(q, qOff, rep, hd, k, kOff, v, vOff, ld, ctx, scale, out, outOff, s) {
      call('attnDecode', [
        q.ptr + qOff * 4,
        rep,
        hd,
        k.ptr + kOff * 4,
        v.ptr + vOff * 4,
        ld,
        ctx,
        scale,
        out.ptr + outOff * 4,
        s.ptr,
      ]);
    },
    adamw(w, g, m, v, n, b1, b2, eps, stepSize, invSqrtBc2, decay, clip) {
      call('adamw', [w.ptr, g.ptr, m.ptr, v.ptr, n, b1, b2, eps, stepSize, invSqrtBc2, decay, clip]);
    },
  };
}
