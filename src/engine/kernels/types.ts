// The kernel set the model runs on. Two implementations: WASM SIMD (./wasm.ts, the fast path) and
// plain TypeScript (./ref.ts, the independent reference the tests check the WASM kernels against).
// Offsets and leading dimensions are in elements; matrices are row-major f32.
import type { Arena, Buf } from '../memory.ts';

/**
 * The kernel calls a lane can queue: independent pieces of work (attention of one (sequence, KV
 * head), decode attention of one sequence, AdamW of one tensor range) spread over the threads.
 */
export type LaneKernels = Pick<
  Kernels,
  'gemm' | 'gemmTri' | 'causalSoftmax' | 'softmaxBackward' | 'attnDecode' | 'adamw'
>;

export interface Kernels {
  readonly kind: 'wasm' | 'ref';
  /** Which build: 'simd', 'relaxed-simd' (FMA), or 'ts'. */
  readonly variant: 'simd' | 'relaxed-simd' | 'ts';
  readonly arena: Arena;
  /**
   * Threads the kernels run on (1: the calling thread only). Every Kernels call splits its own work
   * over them and returns when it is done; `lane` queues independent calls explicitly.
   */
  readonly lanes: number;
  /**
   * Calls queued on lane t (0 ≤ t < lanes). They run at the next `sync()` or the next direct
   * Kernels call, the lanes in parallel and each lane's calls in order; the caller must not read or
   * write their outputs in between. Single-threaded kernels run them at once.
   */
  lane(t: number): LaneKernels;
  /** Runs every queued lane call and waits for all of them. */
  sync(): void;
  /** Stops the worker threads (idempotent); the kernels must not be used afterwards. */
  close(): void;
  /** C[M,N] = alpha·op(A)·op(B) + beta·C, beta ∈ {0,1}; op(X) = Xᵀ when trans. */
  gemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Buf,
    aOff: number,
    lda: number,
    B: Buf,
    bOff: number,
    ldb: number,
    beta: number,
    C: Buf,
    cOff: number,
    ldc: number,
  ): void;
  /**
   * gemm with causal structure (attention over whole sequences), skipping work that only adds zeros
   * or is not needed. tri 0: plain gemm; 1: only C[i,j] with j ≤ i + off is needed (the others are
   * unspecified: 0 or their true value); 2: op(A)[i,k] = 0 for k > i + off; 3: op(A)[i,k] = 0 for
   * k < i − off. For 2 and 3 the result is the plain gemm's when A has those zeros.
   */
  gemmTri(
    tri: 0 | 1 | 2 | 3,
    off: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    alpha: number,
    A: Buf,
    aOff: number,
    lda: number,
    B: Buf,
    bOff: number,
    ldb: number,
    beta: number,
    C: Buf,
    cOff: number,
    ldc: number,
  ): void;
  /** y = x·inv·w per row; inv[r] = 1/sqrt(mean(x²)+eps). x,y: [rows,D]. */
  rmsnorm(x: Buf, w: Buf, y: Buf, inv: Buf, rows: number, D: number, eps: number): void;
  /** dx (+)= ∂/∂x, dw += ∂/∂w of rmsnorm given dy. */
  rmsnormBackward(
    x: Buf,
    w: Buf,
    inv: Buf,
    dy: Buf,
    dx: Buf,
    dw: Buf,
    rows: number,
    D: number,
    accumulate: boolean,
  ): void;
  /** a = silu(g)·u over n elements. */
  swiglu(g: Buf, u: Buf, a: Buf, n: number): void;
  swigluBackward(g: Buf, u: Buf, da: Buf, dg: Buf, du: Buf, n: number): void;
  /** In-place softmax of S[sOff..] rows (ld stride); row i sees columns 0..i+offset. */
  causalSoftmax(S: Buf, sOff: number, rows: number, cols: number, ld: number, offset: number): void;
  /** dP ← P·(dP − rowsum(dP·P))·scale, in place. */
  softmaxBackward(
    P: Buf,
    pOff: number,
    dP: Buf,
    dOff: number,
    rows: number,
    cols: number,
    ld: number,
    scale: number,
  ): void;
  /** Per row of Z[rows,V]: lse, log p(target), entropy. targets: Buf viewed as int32. */
  logsoftmaxStats(
    Z: Buf,
    rows: number,
    V: number,
    targets: Buf,
    tOff: number,
    lse: Buf,
    lp: Buf,
    ent: Buf,
  ): void;
  /** Z ← dZ given ∂L/∂logp(target) (gLp) and ∂L/∂entropy (gEnt) per row. */
  logsoftmaxBackward(
    Z: Buf,
    rows: number,
    V: number,
    targets: Buf,
    tOff: number,
    lse: Buf,
    ent: Buf,
    gLp: Buf,
    gEnt: Buf,
  ): void;
  /** Σ x² (float64 result). */
  sumSquares(x: Buf, n: number): number;
  /** One AdamW step over n elements (formula in optim.ts); zeroes g. */
  adamw(
    w: Buf,
    g: Buf,
    m: Buf,
    v: Buf,
    n: number,
    b1: number,
    b2: number,
    eps: number,
    stepSize: number,
    invSqrtBc2: number,
    decay: number,
    clip: number,
  ): void;
  /** Rotate-half RoPE in place over `heads` heads of hd per row; pos: int32 positions; cos/sin: [positions, hd/2]. */
  rope(
    x: Buf,
    xOff: number,
    rows: number,
    ld: number,
    heads: number,
    hd: number,
    pos: Buf,
    posOff: number,
    cos: Buf,
    sin: Buf,
    inverse: boolean,
  ): void;
  /**
   * Decode attention of `rep` query rows ([rep, hd] at q) against ctx cached keys/values (row
   * stride ld): out[r] = softmax(scale·q[r]·Kᵀ)·V. s: ≥ ctx floats of scratch.
   */
  attnDecode(
    q: Buf,
    qOff: number,
    rep: number,
    hd: number,
    k: Buf,
    kOff: number,
    v: Buf,
    vOff: number,
    ld: number,
    ctx: number,
    scale: number,
    out: Buf,
    outOff: number,
    s: Buf,
  ): void;
}
