// The kernels on several threads: one WebAssembly module (the kernels-shared*.wasm build, memory
// imported and shared) instantiated by the main thread and by `lanes − 1` worker threads
// (./worker.mjs) over the same memory. Tensors stay where they are; a kernel call is split into
// independent parts (GEMM rows or column panels, element or row ranges), lane 0's part runs on the
// calling thread and the others' on the workers, and the call returns when all are done.
//
// Determinism: a split depends only on the shapes and the lane count, and every part computes its
// outputs exactly as the one-thread call would (GEMM row splits fall on 4-row tiles, column splits
// on 8-column panels, element splits on 8-element vectors; nothing is reduced across lanes), so
// results are bit-identical to one thread and to every other run. Docs: docs/engine-threads.md.
//
// Hand-off: each worker has a control slot in a SharedArrayBuffer (generation number, done number,
// status, error text) and a float64 queue of (opcode, arguments…). The main thread writes the queue,
// bumps the generation and notifies; the worker spins briefly, then sleeps in Atomics.wait.
import { Worker } from 'node:worker_threads';
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Arena, Buf } from '../memory.ts';
import type { Kernels, LaneKernels } from './types.ts';
import {
  RAW_OPS,
  bindKernels,
  kernelImports,
  rawBinding,
  relaxedSimdAvailable,
  type KernelExports,
  type RawOp,
} from './wasm.ts';

export const KERNELS_SHARED_WASM_PATH = fileURLToPath(
  new URL('../../../build/kernels-shared.wasm', import.meta.url),
);
export const KERNELS_SHARED_RELAXED_WASM_PATH = fileURLToPath(
  new URL('../../../build/kernels-shared-relaxed.wasm', import.meta.url),
);
const WORKER_URL = new URL('./worker.mjs', import.meta.url);

/** The shared-memory build matching what the runtime accepts (FMA when relaxed SIMD validates). */
export function preferredSharedKernelsPath(): string {
  return relaxedSimdAvailable() && existsSync(KERNELS_SHARED_RELAXED_WASM_PATH)
    ? KERNELS_SHARED_RELAXED_WASM_PATH
    : KERNELS_SHARED_WASM_PATH;
}

// Control slot layout (Int32 words per lane); worker.mjs reads the same numbers.
const SLOT = 1024;
const GEN = 0,
  DONE = 1,
  STATUS = 2,
  MSGLEN = 3,
  MSG = 4;
const MSG_CAP = SLOT - MSG;
/** float64 words of queued calls per lane (a full queue runs early; calls are ≤ 16 words). */
const QCAP = 1 << 16;
const OPCODE = new Map<RawOp, number>(RAW_OPS.map((op, i) => [op, i]));

/** Below this many multiply-adds a GEMM runs on the calling thread (a hand-off costs µs). */
const MIN_SPLIT_MACS = 1 << 18;
/** Below this many elements an element-wise or row op runs on the calling thread. */
const MIN_SPLIT_ELEMS = 1 << 14;

// The GEMM's per-thread scratch (must match assembly/index.ts: 4×8 edge tile, packed A block of
// MC×KC, packed B block of ⌈N/NR⌉·NR × min(K, KC)).
const MR = 4,
  NR = 8,
  KC = 512,
  MC = 128;
function gemmScratchBytes(N: number, K: number): number {
  return MR * NR * 4 + Math.ceil(MC / MR) * MR * KC * 4 + Math.ceil(N / NR) * NR * Math.min(K, KC) * 4;
}

export interface ThreadedKernelsOptions {
  /** Kernel build (default: the shared relaxed-SIMD build when the runtime accepts it). */
  path?: string;
  /** How long an idle thread spins before it sleeps, ms (default 0.2; SEARCH_R1_SPIN_MS). */
  spinMs?: number;
}

/** Kernels on `threads` threads (the caller's + threads − 1 workers). */
export function createThreadedKernels(threads: number, opts: ThreadedKernelsOptions = {}): Kernels {
  if (!Number.isInteger(threads) || threads < 1)
    throw new Error(`engine threads must be an integer ≥ 1, got ${threads}`);
  const path = opts.path ?? preferredSharedKernelsPath();
  if (!existsSync(path)) throw new Error(`${path} not found: run \`npm run build:kernels\``);
  const spinMs = opts.spinMs ?? Number(process.env.SEARCH_R1_SPIN_MS ?? 0.2);
  const module = new WebAssembly.Module(readFileSync(path));
  // 4 GiB maximum (a shared memory must declare one): reserved address space, not committed memory.
  const memory = new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true });
  const x = new WebAssembly.Instance(module, kernelImports(memory)).exports as unknown as KernelExports;
  const variant = path === KERNELS_SHARED_RELAXED_WASM_PATH ? 'relaxed-simd' : 'simd';
  const serial = bindKernels(x, memory, variant);
  const pool = new Pool(module, memory, x, serial.arena, threads, spinMs);

  // A direct call: flush queued lane calls first (their outputs may be this call's inputs), then
  // split the call over the lanes when it is big enough.
  const split: Kernels = {
    ...rawBinding((op, a) => {
      pool.run();
      const parts = threads > 1 ? splitCall(op, a, threads) : null;
      if (!parts) {
        x[op](...a);
        return;
      }
      for (let t = 0; t < parts.length; t++) pool.enqueue(t, op, parts[t]);
      pool.run();
    }),
    kind: 'wasm',
    variant,
    arena: serial.arena,
    lanes: threads,
    lane: (t) => pool.lane(t),
    sync: () => pool.run(),
    close: () => pool.close(),
    sumSquares(b: Buf, n: number) {
      pool.run();
      return x.sumSquares(b.ptr, n);
    },
  };
  return split;
}

/** Cut points 0 = c0 < c1 < … < cn = total, multiples of `step` (the last may not be), equal shares. */
function cuts(total: number, n: number, step: number): number[] {
  const c = [0];
  for (let t = 1; t < n; t++) c.push(Math.min(total, Math.round((total * t) / n / step) * step));
  c.push(total);
  return c;
}

/**
 * The per-lane argument lists of one raw call, or null to run it unsplit. Parts write disjoint
 * outputs and each computes its outputs exactly as the whole call does.
 */
export function splitCall(op: RawOp, a: number[], n: number): number[][] | null {
  const parts: number[][] = [];
  const each = (c: number[], make: (lo: number, hi: number) => number[]) => {
    for (let t = 0; t < n; t++) if (c[t + 1] > c[t]) parts.push(make(c[t], c[t + 1]));
    return parts.length > 1 ? parts : null;
  };
  switch (op) {
    case 'gemmTri': {
      const [tri, off, tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc] = a;
      if (M * N * K < MIN_SPLIT_MACS) return null;
      if (M >= 32 * n)
        // Rows of op(A) and C; the causal diagonal moves with the first row.
        return each(cuts(M, n, MR), (lo, hi) => [
          tri,
          tri === 3 ? off - lo : tri === 0 ? off : off + lo,
          tA,
          tB,
          hi - lo,
          N,
          K,
          alpha,
          A + 4 * (tA ? lo : lo * lda),
          lda,
          B,
          ldb,
          beta,
          C + 4 * lo * ldc,
          ldc,
        ]);
      if (N >= 16 * n)
        // Column panels of op(B) and C.
        return each(cuts(N, n, NR), (lo, hi) => [
          tri,
          tri === 1 ? off - lo : off,
          tA,
          tB,
          M,
          hi - lo,
          K,
          alpha,
          A,
          lda,
          B + 4 * (tB ? lo * ldb : lo),
          ldb,
          beta,
          C + 4 * lo,
          ldc,
        ]);
      return null;
    }
    case 'rmsnorm': {
      const [xp, w, y, inv, rows, D, eps] = a;
      if (rows * D < MIN_SPLIT_ELEMS || rows < 2) return null;
      return each(cuts(rows, n, 1), (lo, hi) => [
        xp + 4 * lo * D,
        w,
        y + 4 * lo * D,
        inv + 4 * lo,
        hi - lo,
        D,
        eps,
      ]);
    }
    case 'swiglu': {
      const [g, u, o, len] = a;
      if (len < MIN_SPLIT_ELEMS) return null;
      return each(cuts(len, n, 8), (lo, hi) => [g + 4 * lo, u + 4 * lo, o + 4 * lo, hi - lo]);
    }
    case 'swigluBackward': {
      const [g, u, da, dg, du, len] = a;
      if (len < MIN_SPLIT_ELEMS) return null;
      return each(cuts(len, n, 8), (lo, hi) => [
        g + 4 * lo,
        u + 4 * lo,
        da + 4 * lo,
        dg + 4 * lo,
        du + 4 * lo,
        hi - lo,
      ]);
    }
    case 'logsoftmaxStats': {
      const [Z, rows, V, tg, lse, lp, ent] = a;
      if (rows * V < MIN_SPLIT_ELEMS || rows < 2) return null;
      return each(cuts(rows, n, 1), (lo, hi) => [
        Z + 4 * lo * V,
        hi - lo,
        V,
        tg + 4 * lo,
        lse + 4 * lo,
        lp + 4 * lo,
        ent + 4 * lo,
      ]);
    }
    case 'logsoftmaxBackward': {
      const [Z, rows, V, tg, lse, ent, gLp, gEnt] = a;
      if (rows * V < MIN_SPLIT_ELEMS || rows < 2) return null;
      return each(cuts(rows, n, 1), (lo, hi) => [
        Z + 4 * lo * V,
        hi - lo,
        V,
        tg + 4 * lo,
        lse + 4 * lo,
        ent + 4 * lo,
        gLp + 4 * lo,
        gEnt + 4 * lo,
      ]);
    }
    case 'rope': {
      const [xp, rows, ld, heads, hd, pos, cos, sin, inverse] = a;
      if (rows * heads * hd < MIN_SPLIT_ELEMS || rows < 2) return null;
      return each(cuts(rows, n, 1), (lo, hi) => [
        xp + 4 * lo * ld,
        hi - lo,
        ld,
        heads,
        hd,
        pos + 4 * lo,
        cos,
        sin,
        inverse,
      ]);
    }
    case 'adamw': {
      const [w, g, m, v, len, ...h] = a;
      if (len < MIN_SPLIT_ELEMS) return null;
      return each(cuts(len, n, 8), (lo, hi) => [
        w + 4 * lo,
        g + 4 * lo,
        m + 4 * lo,
        v + 4 * lo,
        hi - lo,
        ...h,
      ]);
    }
    default:
      // rmsnormBackward sums dw over rows (a cross-lane reduction would change the order); the
      // attention kernels are spread per (sequence, head) by their callers through lanes.
      return null;
  }
}

/** The worker threads, their control slots and queues. */
class Pool {
  private readonly workers: Worker[] = [];
  private readonly ctl: Int32Array;
  private readonly queue: Float64Array;
  private readonly fill: number[];
  private readonly gen: number[];
  /** Lane 0's calls: run by the calling thread at `run()`. */
  private local: (() => void)[] = [];
  /** Per worker: the GEMM scratch block its instance was given (engine memory). */
  private readonly scratch: (Buf | null)[];
  private readonly laneKernels: LaneKernels[];
  private failure: Error | null = null;
  private closed = false;

  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    private readonly x: KernelExports,
    private readonly arena: Arena,
    readonly lanes: number,
    spinMs: number,
  ) {
    const ctlBuf = new SharedArrayBuffer(lanes * SLOT * 4);
    const queueBuf = new SharedArrayBuffer(lanes * QCAP * 8);
    this.ctl = new Int32Array(ctlBuf);
    this.queue = new Float64Array(queueBuf);
    this.fill = new Array<number>(lanes).fill(0);
    this.gen = new Array<number>(lanes).fill(0);
    this.scratch = new Array<Buf | null>(lanes).fill(null);
    for (let t = 1; t < lanes; t++) {
      const w = new Worker(WORKER_URL, {
        workerData: {
          module,
          memory,
          ctl: ctlBuf,
          queue: queueBuf,
          lane: t,
          slot: SLOT,
          qcap: QCAP,
          msgCap: MSG_CAP,
          ops: RAW_OPS,
          spinMs,
        },
        // The worker is plain JS: no loader flags of the parent (tsx) are needed.
        execArgv: [],
      });
      // Idle workers must not keep the process alive after a command ends.
      w.unref();
      w.on('error', (e) => {
        this.failure ??= new Error(`engine worker ${t} failed: ${e.message}`);
      });
      w.on('exit', (code) => {
        if (!this.closed) this.failure ??= new Error(`engine worker ${t} exited (code ${code})`);
      });
      this.workers.push(w);
    }
    this.laneKernels = Array.from({ length: lanes }, (_, t) => rawBinding((op, a) => this.enqueue(t, op, a)));
  }

  lane(t: number): LaneKernels {
    if (!(t >= 0 && t < this.lanes)) throw new Error(`engine lane ${t} outside [0, ${this.lanes})`);
    return this.laneKernels[t];
  }

  /** Queues one raw call on lane t. */
  enqueue(t: number, op: RawOp, a: number[]): void {
    if (t === 0) {
      const x = this.x;
      this.local.push(() => x[op](...a));
      return;
    }
    if (op === 'gemmTri') this.ensureScratch(t, gemmScratchBytes(a[5], a[6]));
    if (this.fill[t] + a.length + 2 > QCAP) this.run();
    const q = this.queue,
      b = t * QCAP;
    let p = this.fill[t];
    q[b + p++] = OPCODE.get(op)!;
    for (let i = 0; i < a.length; i++) q[b + p++] = a[i];
    this.fill[t] = p;
  }

  /** Gives worker t a scratch block of at least `bytes` (queued ahead of the call that needs it). */
  private ensureScratch(t: number, bytes: number): void {
    const cur = this.scratch[t];
    if (cur && cur.len * 4 >= bytes) return;
    // Calls already queued may use the old block: run them before freeing it.
    this.run();
    if (cur) this.arena.free(cur);
    const b = this.arena.alloc(Math.ceil((bytes * 1.25) / 4));
    this.scratch[t] = b;
    this.enqueue(t, 'setScratch', [b.ptr, b.len * 4]);
  }

  /** Runs everything queued: workers first (hand-off), then lane 0 here, then waits for all. */
  run(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new Error('engine threads: kernels used after close()');
    const ctl = this.ctl;
    let any = false;
    for (let t = 1; t < this.lanes; t++) {
      if (this.fill[t] === 0) continue;
      this.queue[t * QCAP + this.fill[t]] = -1;
      this.fill[t] = 0;
      this.gen[t] = (this.gen[t] + 1) & 0x3fffffff;
      Atomics.store(ctl, t * SLOT + GEN, this.gen[t]);
      Atomics.notify(ctl, t * SLOT + GEN);
      any = true;
    }
    const local = this.local;
    this.local = [];
    let localError: unknown = null;
    try {
      for (const f of local) f();
    } catch (e) {
      localError = e;
    }
    if (any) this.wait();
    if (localError) throw localError;
  }

  /** Waits until every dispatched worker published its generation; throws a worker's error. */
  private wait(): void {
    const ctl = this.ctl;
    let error: Error | null = null;
    for (let t = 1; t < this.lanes; t++) {
      const b = t * SLOT;
      const want = this.gen[t];
      let spins = 0;
      for (;;) {
        const done = Atomics.load(ctl, b + DONE);
        if (done === want) break;
        if (Atomics.load(ctl, b + STATUS) === 2) {
          this.failure = new Error(`engine worker ${t} died: ${this.message(t)}`);
          break;
        }
        // Spin a little (the worker usually finishes within microseconds of us), then sleep; wake
        // every second to notice a worker that died without publishing.
        if (++spins < 4096) continue;
        Atomics.wait(ctl, b + DONE, done, 1000);
      }
      if (Atomics.load(ctl, b + STATUS) === 1) {
        error ??= new Error(`engine worker ${t}: ${this.message(t)}`);
        Atomics.store(ctl, b + STATUS, 0);
      }
    }
    if (this.failure) throw this.failure;
    if (error) throw error;
  }

  private message(t: number): string {
    const b = t * SLOT;
    const n = Atomics.load(this.ctl, b + MSGLEN);
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.ctl[b + MSG + i]);
    return s;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (let t = 1; t < this.lanes; t++) {
      Atomics.store(this.ctl, t * SLOT + GEN, -1);
      Atomics.notify(this.ctl, t * SLOT + GEN);
    }
    for (const w of this.workers) void w.terminate();
    for (const b of this.scratch) if (b) this.arena.free(b);
  }
}
