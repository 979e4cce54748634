// WebAssembly SIMD kernels (AssemblyScript, built by scripts/build-kernels.mjs → build/kernels.wasm).
// All pointers are byte offsets into the module's single memory; all matrices are row-major f32.
// The plain-TS twins of every kernel live in ../ref.ts (tests compare the two).
// Small helpers carry no @inline decorator (prettier cannot parse decorators on functions);
// binaryen -O3 inlines them anyway (measured: same GEMM speed with and without) — except exp and
// sigmoid, which are @inline static methods of class Simd (decorators on methods parse).
// V8 (Node 20) compiles v128 code with 15 usable xmm registers and no loop-invariant hoisting of
// constants or splat-load offsets: the loops below are shaped for that (see bench/engine/fma-ceiling.ts).

// ---------------------------------------------------------------------------------------------
// Heap (TLSF from the `minimal` runtime): the JS side allocates every tensor here.
// `external`: this instance is a worker thread's (setWorker / setScratch below) and must not use the heap.
let external = false;
export function alloc(bytes: usize): usize {
  if (external) unreachable();
  return heap.alloc(bytes);
}
export function free(ptr: usize): void {
  if (external) unreachable();
  heap.free(ptr);
}

// ---------------------------------------------------------------------------------------------
// GEMM: C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C   (beta ∈ {0, 1})
//   op(A)[i,k] = transA ? A[k*lda + i] : A[i*lda + k]
//   op(B)[k,j] = transB ? B[j*ldb + k] : B[k*ldb + j]
// GotoBLAS structure: K in equal blocks of ≤ KC; op(B) block packed into NR-wide column panels [kc][NR];
// op(A) in blocks of MC rows packed into MR-tall row panels [kc][MR]; a 4×8 register-blocked
// v128 micro-kernel. Panels are zero-padded, so edges need no special casing inside the kernel.
const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 512;
const MC: i32 = 128;

let packA: usize = 0;
let packACap: usize = 0;
let packB: usize = 0;
let packBCap: usize = 0;
let edge: usize = 0; // 4×8 scratch for partial tiles

// Worker threads (the shared-memory build, src/engine/kernels/threads.ts) must never touch the heap:
// TLSF is not thread-safe and belongs to the main thread's instance. A worker's instance gets its
// packing panels and edge tile from one host-allocated block instead; a block too small traps
// (the host sizes it from the GEMM shape before dispatching, see laneScratchBytes in threads.ts).
const PACK_A_BYTES: usize = (<usize>(((MC + MR - 1) / MR) * MR * KC)) << 2;
/** Marks this instance as a worker's: any heap use traps instead of corrupting the main thread's heap. */
export function setWorker(): void {
  external = true;
}
export function setScratch(ptr: usize, bytes: usize): void {
  external = true;
  edge = ptr;
  packA = ptr + ((<usize>(MR * NR)) << 2);
  packACap = PACK_A_BYTES;
  packB = packA + PACK_A_BYTES;
  packBCap = bytes - PACK_A_BYTES - ((<usize>(MR * NR)) << 2);
}

function ensurePackA(bytes: usize): void {
  if (bytes > packACap) {
    if (external) unreachable();
    if (packA) heap.free(packA);
    packA = heap.alloc(bytes);
    packACap = bytes;
  }
}
function ensurePackB(bytes: usize): void {
  if (bytes > packBCap) {
    if (external) unreachable();
    if (packB) heap.free(packB);
    packB = heap.alloc(bytes);
    packBCap = bytes;
  }
}

// Reads a 4×4 block (4 rows at src, src+ld, …; 4 floats each) and writes its transpose as 4
// vectors at dst, dst+dstride, … (row k of the output = column k of the block).
function transpose4(src: usize, ld: usize, dst: usize, dstride: usize): void {
  const a = v128.load(src);
  const b = v128.load(src + ld);
  const c = v128.load(src + 2 * ld);
  const d = v128.load(src + 3 * ld);
  const t0 = v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(c, d, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(c, d, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(dst + dstride, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(dst + 2 * dstride, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * dstride, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

// Packs op(B)[pc..pc+kc, 0..N] → packB: panel jp holds [kc][NR] (zero-padded past N).
function packBBlock(transB: i32, N: i32, kc: i32, pc: i32, B: usize, ldb: i32): void {
  const np = (N + NR - 1) / NR;
  for (let jp = 0; jp < np; jp++) {
    const j0 = jp * NR;
    const nr = min(NR, N - j0);
    let dst = packB + ((<usize>(jp * kc * NR)) << 2);
    if (!transB) {
      for (let k = 0; k < kc; k++) {
        const src = B + ((<usize>((pc + k) * ldb + j0)) << 2);
        if (nr == NR) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
        } else {
          for (let j = 0; j < NR; j++)
            store<f32>(dst + ((<usize>j) << 2), j < nr ? load<f32>(src + ((<usize>j) << 2)) : 0);
        }
        dst += NR << 2;
      }
    } else if (nr == NR) {
      // op(B)[k,j] = B[j*ldb + k]: 4×4 SIMD transposes of two 4-row groups, 4 k at a time.
      const r0 = B + ((<usize>(j0 * ldb + pc)) << 2);
      const ld = (<usize>ldb) << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = (<usize>k) << 2;
        const d = dst + ((<usize>(k * NR)) << 2);
        transpose4(r0 + o, ld, d, NR << 2);
        transpose4(r0 + 4 * ld + o, ld, d + 16, NR << 2);
      }
      for (; k < kc; k++) {
        const o = (<usize>k) << 2;
        const d = dst + ((<usize>(k * NR)) << 2);
        for (let j = 0; j < NR; j++) store<f32>(d + ((<usize>j) << 2), load<f32>(r0 + <usize>j * ld + o));
      }
    } else {
      // op(B)[k,j] = B[j*ldb + k]: rows of B are contiguous in k.
      for (let j = 0; j < NR; j++) {
        let d = dst + ((<usize>j) << 2);
        if (j < nr) {
          let src = B + ((<usize>((j0 + j) * ldb + pc)) << 2);
          for (let k = 0; k < kc; k++) {
            store<f32>(d, load<f32>(src));
            src += 4;
            d += NR << 2;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(d, 0);
            d += NR << 2;
          }
        }
      }
    }
  }
}

// Packs op(A)[ic..ic+mc, pc..pc+kc] → packA: panel ip holds [kc][MR] (zero-padded past mc).
function packABlock(transA: i32, mc: i32, kc: i32, ic: i32, pc: i32, A: usize, lda: i32): void {
  const mp = (mc + MR - 1) / MR;
  for (let ip = 0; ip < mp; ip++) {
    const i0 = ip * MR;
    const mr = min(MR, mc - i0);
    let dst = packA + ((<usize>(ip * kc * MR)) << 2);
    if (transA) {
      // op(A)[i,k] = A[k*lda + i]: MR consecutive i are contiguous.
      for (let k = 0; k < kc; k++) {
        const src = A + ((<usize>((pc + k) * lda + ic + i0)) << 2);
        if (mr == MR) v128.store(dst, v128.load(src));
        else
          for (let i = 0; i < MR; i++)
            store<f32>(dst + ((<usize>i) << 2), i < mr ? load<f32>(src + ((<usize>i) << 2)) : 0);
        dst += MR << 2;
      }
    } else if (mr == MR) {
      const r0 = A + ((<usize>((ic + i0) * lda + pc)) << 2);
      const ld = (<usize>lda) << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4)
        transpose4(r0 + ((<usize>k) << 2), ld, dst + ((<usize>(k * MR)) << 2), MR << 2);
      for (; k < kc; k++) {
        const d = dst + ((<usize>(k * MR)) << 2);
        for (let i = 0; i < MR; i++)
          store<f32>(d + ((<usize>i) << 2), load<f32>(r0 + <usize>i * ld + ((<usize>k) << 2)));
      }
    } else {
      for (let i = 0; i < MR; i++) {
        let d = dst + ((<usize>i) << 2);
        if (i < mr) {
          let src = A + ((<usize>((ic + i0 + i) * lda + pc)) << 2);
          for (let k = 0; k < kc; k++) {
            store<f32>(d, load<f32>(src));
            src += 4;
            d += MR << 2;
          }
        } else {
          for (let k = 0; k < kc; k++) {
            store<f32>(d, 0);
            d += MR << 2;
          }
        }
      }
    }
  }
}

// c + a·b: one fused multiply-add with relaxed SIMD (the relaxed build), else mul + add.
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// 4×8 micro-kernel over packed panels; writes C[i0..i0+mr, j0..j0+nr] (+)= alpha · acc
// (C = gC, …; accumulate = false only on the first K block when beta = 0).
// The tile's output arguments (C, ldc, mr, nr, alpha, accumulate) travel in module globals, read
// after the k loop: as parameters they stay live in general registers through the loop, and V8 then
// recomputes the three `mem + 4/8/12` bases of the A broadcasts inside the loop (a `lea` each) instead
// of once before it. With them out of the way the loop is 21 instructions per k for 8 FMAs (25 before;
// +2–4 % on every GEMM shape, measured with bench/engine/gemm-ab.ts).
let gC: usize = 0;
let gLdc: i32 = 0;
let gMr: i32 = 0;
let gNr: i32 = 0;
let gAlpha: f32 = 0;
let gAcc: bool = false;
function micro(kc: i32, pa: usize, pb: usize): void {
  let c00 = f32x4.splat(0),
    c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0),
    c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0),
    c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0),
    c31 = f32x4.splat(0);
  // The loop runs on the A pointer (no counter); kc ≥ 1. A by four broadcast loads: they use the
  // load ports, not the shuffle pipes (one v128 load + 4 shuffles measured 1–4 % slower).
  const end = pa + ((<usize>kc) << 4);
  do {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    pa += 16;
    pb += 32;
  } while (pa < end);
  const C = gC,
    ldc = gLdc,
    mr = gMr,
    nr = gNr,
    alpha = gAlpha,
    accumulate = gAcc;
  const al = f32x4.splat(alpha);
  const ldcb = (<usize>ldc) << 2;
  if (mr == MR && nr == NR) {
    let r = C;
    if (accumulate) {
      v128.store(r, f32x4.add(v128.load(r), f32x4.mul(al, c00)));
      v128.store(r, f32x4.add(v128.load(r, 16), f32x4.mul(al, c01)), 16);
      r += ldcb;
      v128.store(r, f32x4.add(v128.load(r), f32x4.mul(al, c10)));
      v128.store(r, f32x4.add(v128.load(r, 16), f32x4.mul(al, c11)), 16);
      r += ldcb;
      v128.store(r, f32x4.add(v128.load(r), f32x4.mul(al, c20)));
      v128.store(r, f32x4.add(v128.load(r, 16), f32x4.mul(al, c21)), 16);
      r += ldcb;
      v128.store(r, f32x4.add(v128.load(r), f32x4.mul(al, c30)));
      v128.store(r, f32x4.add(v128.load(r, 16), f32x4.mul(al, c31)), 16);
    } else {
      v128.store(r, f32x4.mul(al, c00));
      v128.store(r, f32x4.mul(al, c01), 16);
      r += ldcb;
      v128.store(r, f32x4.mul(al, c10));
      v128.store(r, f32x4.mul(al, c11), 16);
      r += ldcb;
      v128.store(r, f32x4.mul(al, c20));
      v128.store(r, f32x4.mul(al, c21), 16);
      r += ldcb;
      v128.store(r, f32x4.mul(al, c30));
      v128.store(r, f32x4.mul(al, c31), 16);
    }
    return;
  }
  // Partial tile: spill to scratch, then copy the valid part.
  const e = edge;
  v128.store(e, c00, 0);
  v128.store(e, c01, 16);
  v128.store(e, c10, 32);
  v128.store(e, c11, 48);
  v128.store(e, c20, 64);
  v128.store(e, c21, 80);
  v128.store(e, c30, 96);
  v128.store(e, c31, 112);
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      const p = C + <usize>i * ldcb + ((<usize>j) << 2);
      const v = alpha * load<f32>(e + ((<usize>(i * NR + j)) << 2));
      store<f32>(p, accumulate ? load<f32>(p) + v : v);
    }
  }
}

// Small-M paths (decode at batch 1–4: a few rows against a weight matrix). Packing B would cost as much
// as the product itself, so these stream B once, straight from memory.

// C[i,j] (+)= alpha · Σ_k A[i,k]·B[j,k]   (A·Bᵀ, both row-major, contiguous along k)
function gemmSmallNT(
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  beta: f32,
  C: usize,
  ldc: i32,
): void {
  const K4 = K & ~3;
  for (let j = 0; j < N; j++) {
    const bj = B + ((<usize>(j * ldb)) << 2);
    let i = 0;
    // four rows of A per pass over B's row j: 5 loads per 4 multiply-adds
    for (; i + 4 <= M; i += 4) {
      const a0 = A + ((<usize>(i * lda)) << 2);
      const a1 = a0 + ((<usize>lda) << 2),
        a2 = a1 + ((<usize>lda) << 2),
        a3 = a2 + ((<usize>lda) << 2);
      let s0 = f32x4.splat(0),
        s1 = f32x4.splat(0),
        s2 = f32x4.splat(0),
        s3 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = (<usize>k) << 2;
        const b = v128.load(bj + o);
        s0 = madd(v128.load(a0 + o), b, s0);
        s1 = madd(v128.load(a1 + o), b, s1);
        s2 = madd(v128.load(a2 + o), b, s2);
        s3 = madd(v128.load(a3 + o), b, s3);
      }
      let r0 = hsum(s0),
        r1 = hsum(s1),
        r2 = hsum(s2),
        r3 = hsum(s3);
      for (let k = K4; k < K; k++) {
        const o = (<usize>k) << 2;
        const b = load<f32>(bj + o);
        r0 += load<f32>(a0 + o) * b;
        r1 += load<f32>(a1 + o) * b;
        r2 += load<f32>(a2 + o) * b;
        r3 += load<f32>(a3 + o) * b;
      }
      storeC(C, ldc, i, j, alpha * r0, beta);
      storeC(C, ldc, i + 1, j, alpha * r1, beta);
      storeC(C, ldc, i + 2, j, alpha * r2, beta);
      storeC(C, ldc, i + 3, j, alpha * r3, beta);
    }
    for (; i < M; i++) {
      const a0 = A + ((<usize>(i * lda)) << 2);
      let s0 = f32x4.splat(0),
        s1 = f32x4.splat(0);
      let k = 0;
      for (; k + 8 <= K; k += 8) {
        const o = (<usize>k) << 2;
        s0 = madd(v128.load(a0 + o), v128.load(bj + o), s0);
        s1 = madd(v128.load(a0 + o, 16), v128.load(bj + o, 16), s1);
      }
      let r = hsum(f32x4.add(s0, s1));
      for (; k < K; k++) r += load<f32>(a0 + ((<usize>k) << 2)) * load<f32>(bj + ((<usize>k) << 2));
      storeC(C, ldc, i, j, alpha * r, beta);
    }
  }
}

// C[i,:] (+)= alpha · Σ_k A[i,k]·B[k,:]   (A·B, B row-major)
function gemmSmallNN(
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  beta: f32,
  C: usize,
  ldc: i32,
): void {
  const N4 = N & ~3;
  for (let i = 0; i < M; i++) {
    const ci = C + ((<usize>(i * ldc)) << 2);
    if (beta == 0) memory.fill(ci, 0, (<usize>N) << 2);
    const ai = A + ((<usize>(i * lda)) << 2);
    for (let k = 0; k < K; k++) {
      const a = alpha * load<f32>(ai + ((<usize>k) << 2));
      if (a == 0) continue;
      const av = f32x4.splat(a);
      const bk = B + ((<usize>(k * ldb)) << 2);
      for (let j = 0; j < N4; j += 4) {
        const o = (<usize>j) << 2;
        v128.store(ci + o, madd(av, v128.load(bk + o), v128.load(ci + o)));
      }
      for (let j = N4; j < N; j++) {
        const o = (<usize>j) << 2;
        store<f32>(ci + o, load<f32>(ci + o) + a * load<f32>(bk + o));
      }
    }
  }
}

function hsum(v: v128): f32 {
  return (
    f32x4.extract_lane(v, 0) +
    f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3))
  );
}

function storeC(C: usize, ldc: i32, i: i32, j: i32, v: f32, beta: f32): void {
  const p = C + ((<usize>(i * ldc + j)) << 2);
  store<f32>(p, beta != 0 ? load<f32>(p) + v : v);
}

// Thresholds measured on reference-model decoding (whole model, weights not cache-resident):
// streaming B wins up to ~12 rows of A·Bᵀ (batch 4: +11 %, batch 8: +17 %, batch 16: −4 %);
// A·B with more than 2 rows is faster packed (isolated GEMMs).
const SMALL_M_NT: i32 = 12;
const SMALL_M_NN: i32 = 2;

export function gemm(
  transA: i32,
  transB: i32,
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  beta: f32,
  C: usize,
  ldc: i32,
): void {
  gemmTri(0, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Zeroes an mr×nr tile of C (a skipped tile when C is not accumulated). Plain stores, not memory.fill
// (a call out of the compiled code in V8): causal scores 128×128×64 30.3 → 26.3 µs (measured).
function zeroTile(C: usize, ldc: i32, mr: i32, nr: i32): void {
  const z = f32x4.splat(0);
  for (let i = 0; i < mr; i++) {
    const r = C + ((<usize>(i * ldc)) << 2);
    if (nr == NR) {
      v128.store(r, z);
      v128.store(r, z, 16);
    } else for (let j = 0; j < nr; j++) store<f32>(r + ((<usize>j) << 2), 0);
  }
}

// gemm with causal (triangular) structure, for attention over whole sequences: register tiles
// that would only add zeros, or whose output is not needed, are skipped. `off` shifts the diagonal.
//   tri 0: plain gemm.
//   tri 1: only C[i,j] with j ≤ i + off is needed (scores Q·Kᵀ, dP = dO·Vᵀ). Tiles wholly above
//          the diagonal are zeroed (beta 0) or left alone; entries above it are otherwise
//          unspecified (each is 0 or its true value, so finite for finite inputs).
//   tri 2: op(A)[i,k] = 0 for k > i + off (P·V, dS·K): each row tile stops at its last row's k.
//   tri 3: op(A)[i,k] = 0 for k < i − off (Pᵀ·dO, dSᵀ·Q): each row tile starts at its first row's k.
// For tri 2/3 the result equals the plain gemm (up to float reassociation) when A has those zeros.
export function gemmTri(
  tri: i32,
  off: i32,
  transA: i32,
  transB: i32,
  M: i32,
  N: i32,
  K: i32,
  alpha: f32,
  A: usize,
  lda: i32,
  B: usize,
  ldb: i32,
  beta: f32,
  C: usize,
  ldc: i32,
): void {
  if (M <= 0 || N <= 0) return;
  if (edge == 0) {
    if (external) unreachable();
    edge = heap.alloc(MR * NR * 4);
  }
  if (K <= 0) {
    if (beta == 0) for (let i = 0; i < M; i++) memory.fill(C + ((<usize>(i * ldc)) << 2), 0, (<usize>N) << 2);
    return;
  }
  // The small-M paths compute every entry: exact for all tri modes.
  if (!transA && transB && M <= SMALL_M_NT) {
    gemmSmallNT(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (!transA && !transB && M <= SMALL_M_NN) {
    gemmSmallNN(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const np = (N + NR - 1) / NR;
  ensurePackB((<usize>(np * NR * min(K, KC))) << 2);
  ensurePackA((<usize>(((MC + MR - 1) / MR) * MR * min(K, KC))) << 2);
  // K blocks of equal size ≤ KC (688 → 2 × 344, not 512 + 176): fewer short, overhead-heavy blocks.
  const nk = (K + KC - 1) / KC;
  const kcb = (K + nk - 1) / nk;
  for (let pc = 0; pc < K; pc += kcb) {
    const kc = min(kcb, K - pc);
    const acc = pc > 0 || beta != 0;
    packBBlock(transB, N, kc, pc, B, ldb);
    for (let ic = 0; ic < M; ic += MC) {
      const mc = min(MC, M - ic);
      packABlock(transA, mc, kc, ic, pc, A, lda);
      const mp = (mc + MR - 1) / MR;
      for (let jp = 0; jp < np; jp++) {
        const j0 = jp * NR;
        const nr = min(NR, N - j0);
        const pb = packB + ((<usize>(jp * kc * NR)) << 2);
        for (let ip = 0; ip < mp; ip++) {
          const i0 = ip * MR;
          const mr = min(MR, mc - i0);
          const c = C + ((<usize>((ic + i0) * ldc + j0)) << 2);
          // k range [k0, k1) of this block that can contribute to the tile
          let k0 = 0,
            k1 = kc;
          if (tri == 1 && j0 > ic + i0 + mr - 1 + off) k1 = 0;
          else if (tri == 2) k1 = min(kc, ic + i0 + mr + off - pc);
          else if (tri == 3) k0 = max(0, ic + i0 - off - pc);
          if (k1 <= k0) {
            if (!acc) zeroTile(c, ldc, mr, nr);
            continue;
          }
          const pa = packA + ((<usize>((ip * kc + k0) * MR)) << 2);
          gC = c;
          gLdc = ldc;
          gMr = mr;
          gNr = nr;
          gAlpha = alpha;
          gAcc = acc;
          micro(k1 - k0, pa, pb + ((<usize>(k0 * NR)) << 2));
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Fused row ops.

// y[r,:] = x[r,:] · inv[r] · w,  inv[r] = 1/sqrt(mean(x[r,:]²) + eps)    x,y: [rows, D]
export function rmsnorm(x: usize, w: usize, y: usize, inv: usize, rows: i32, D: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>(r * D)) << 2);
    const yr = y + ((<usize>(r * D)) << 2);
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= D; j += 4) {
      const v = v128.load(xr + ((<usize>j) << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss =
      f32x4.extract_lane(acc, 0) +
      f32x4.extract_lane(acc, 1) +
      f32x4.extract_lane(acc, 2) +
      f32x4.extract_lane(acc, 3);
    for (; j < D; j++) {
      const v = load<f32>(xr + ((<usize>j) << 2));
      ss += v * v;
    }
    const s: f32 = 1.0 / Mathf.sqrt(ss / <f32>D + eps);
    store<f32>(inv + ((<usize>r) << 2), s);
    const sv = f32x4.splat(s);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      const o = (<usize>j) << 2;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(w + o)));
    }
    for (; j < D; j++) {
      const o = (<usize>j) << 2;
      store<f32>(yr + o, load<f32>(xr + o) * s * load<f32>(w + o));
    }
  }
}

// Backward of rmsnorm: dx (+)= inv·(dy⊙w) − inv³/D · x · Σ(dy⊙w⊙x);  dw += Σ_r dy⊙x·inv.
export function rmsnormBackward(
  x: usize,
  w: usize,
  inv: usize,
  dy: usize,
  dx: usize,
  dw: usize,
  rows: i32,
  D: i32,
  accumulate: i32,
): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + ((<usize>(r * D)) << 2);
    const dyr = dy + ((<usize>(r * D)) << 2);
    const dxr = dx + ((<usize>(r * D)) << 2);
    const s = load<f32>(inv + ((<usize>r) << 2));
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= D; j += 4) {
      const o = (<usize>j) << 2;
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(v128.load(dyr + o), v128.load(w + o)), v128.load(xr + o)));
    }
    let dot =
      f32x4.extract_lane(acc, 0) +
      f32x4.extract_lane(acc, 1) +
      f32x4.extract_lane(acc, 2) +
      f32x4.extract_lane(acc, 3);
    for (; j < D; j++) {
      const o = (<usize>j) << 2;
      dot += load<f32>(dyr + o) * load<f32>(w + o) * load<f32>(xr + o);
    }
    const c: f32 = (s * s * s * dot) / <f32>D;
    const sv = f32x4.splat(s);
    const cv = f32x4.splat(c);
    j = 0;
    for (; j + 4 <= D; j += 4) {
      const o = (<usize>j) << 2;
      const xv = v128.load(xr + o);
      const dyv = v128.load(dyr + o);
      let g = f32x4.sub(f32x4.mul(sv, f32x4.mul(dyv, v128.load(w + o))), f32x4.mul(cv, xv));
      if (accumulate) g = f32x4.add(g, v128.load(dxr + o));
      v128.store(dxr + o, g);
      v128.store(dw + o, f32x4.add(v128.load(dw + o), f32x4.mul(f32x4.mul(dyv, xv), sv)));
    }
    for (; j < D; j++) {
      const o = (<usize>j) << 2;
      const xv = load<f32>(xr + o);
      const dyv = load<f32>(dyr + o);
      let g = s * dyv * load<f32>(w + o) - c * xv;
      if (accumulate) g += load<f32>(dxr + o);
      store<f32>(dxr + o, g);
      store<f32>(dw + o, load<f32>(dw + o) + dyv * xv * s);
    }
  }
}

// Constants of Simd.exp, each broadcast to four lanes, 16-byte aligned. V8 rebuilds every v128 constant
// inside a loop with three instructions (incl. a GP→XMM move); one load from this table is cheaper
// (measured: swiglu 1.19 → 0.77 ms for 352K elements, with pmin/pmax below).
// prettier-ignore
const EXPC = memory.data<f32>(
  [
    -87.3, -87.3, -87.3, -87.3, // 0: lower clamp
    88.3, 88.3, 88.3, 88.3, // 1: upper clamp
    1.44269504088896341, 1.44269504088896341, 1.44269504088896341, 1.44269504088896341, // 2: log2(e)
    0.5, 0.5, 0.5, 0.5, // 3
    0.693359375, 0.693359375, 0.693359375, 0.693359375, // 4: ln 2, high part
    -2.1219444e-4, -2.1219444e-4, -2.1219444e-4, -2.1219444e-4, // 5: ln 2, low part
    1.98756915e-4, 1.98756915e-4, 1.98756915e-4, 1.98756915e-4, // 6..11: polynomial
    1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3,
    8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3,
    4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2,
    1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1,
    5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1,
    1, 1, 1, 1, // 12
  ],
  16,
);
function ec(i: i32): v128 {
  return v128.load(EXPC + ((<usize>i) << 4));
}
const EXP_ONE = 12;

// e^x and sigmoid on four lanes, in a class only so they can carry @inline (prettier cannot parse
// decorators on plain functions): with the table loads binaryen stops inlining exp on its own, and
// the call (v128 through the stack) costs more than the function (measured: swiglu 2.2 → 1.95 ns
// per element).
class Simd {
  // e^x (Cephes expf: range reduction by ln 2, degree-5 polynomial; ~2 ulp).
  // pmax/pmin are single maxps/minps (min/max are ~7 instructions each for wasm's NaN rules);
  // with x first, a NaN x still comes out NaN.
  @inline static exp(x: v128): v128 {
    x = f32x4.pmin(f32x4.pmax(x, ec(0)), ec(1));
    const fx = f32x4.floor(f32x4.add(f32x4.mul(x, ec(2)), ec(3)));
    x = f32x4.sub(x, f32x4.mul(fx, ec(4)));
    x = f32x4.sub(x, f32x4.mul(fx, ec(5)));
    // p = c6·x⁵ + … + c11 by Estrin's scheme (3 dependent multiply-add levels, not Horner's 5:
    // the loops are latency-bound; swiglu 1.95 → 1.8 ns per element), then y = p·x² + x + 1.
    const x2 = f32x4.mul(x, x);
    const p01 = f32x4.add(f32x4.mul(ec(6), x), ec(7));
    const p23 = f32x4.add(f32x4.mul(ec(8), x), ec(9));
    const p45 = f32x4.add(f32x4.mul(ec(10), x), ec(11));
    const p = f32x4.add(f32x4.mul(f32x4.add(f32x4.mul(p01, x2), p23), x2), p45);
    const y = f32x4.add(f32x4.add(f32x4.mul(p, x2), x), ec(EXP_ONE));
    // fx is an integer in [-126, 128] (or NaN, and then y is NaN too): the plain conversion is exact.
    const n = ASC_FEATURE_RELAXED_SIMD ? i32x4.relaxed_trunc_f32x4_s(fx) : i32x4.trunc_sat_f32x4_s(fx);
    const pow2 = i32x4.shl(i32x4.add(n, i32x4.splat(127)), 23);
    return f32x4.mul(y, pow2);
  }

  @inline static sigmoid(g: v128): v128 {
    const one = ec(EXP_ONE);
    return f32x4.div(one, f32x4.add(one, Simd.exp(f32x4.neg(g))));
  }
}

// a = silu(g) ⊙ u   (n elements)
export function swiglu(g: usize, u: usize, a: usize, n: i32): void {
  let i = 0;
  // Two independent vectors per iteration: one exp + divide chain cannot fill the FP pipes
  // (measured 1.8 → 1.4 ns per element; the backward 2.2 → 1.5).
  for (; i + 8 <= n; i += 8) {
    const o = (<usize>i) << 2;
    const g0 = v128.load(g + o);
    const g1 = v128.load(g + o, 16);
    const s0 = Simd.sigmoid(g0);
    const s1 = Simd.sigmoid(g1);
    v128.store(a + o, f32x4.mul(f32x4.mul(g0, s0), v128.load(u + o)));
    v128.store(a + o, f32x4.mul(f32x4.mul(g1, s1), v128.load(u + o, 16)), 16);
  }
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    const gv = v128.load(g + o);
    v128.store(a + o, f32x4.mul(f32x4.mul(gv, Simd.sigmoid(gv)), v128.load(u + o)));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const gv = load<f32>(g + o);
    store<f32>(a + o, (gv / (1 + Mathf.exp(-gv))) * load<f32>(u + o));
  }
}

// dg = da ⊙ u ⊙ silu'(g), du = da ⊙ silu(g);  silu'(g) = s(1 + g(1 − s)), s = sigmoid(g)
export function swigluBackward(g: usize, u: usize, da: usize, dg: usize, du: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const one = ec(EXP_ONE);
    const o = (<usize>i) << 2;
    const g0 = v128.load(g + o);
    const g1 = v128.load(g + o, 16);
    const s0 = Simd.sigmoid(g0);
    const s1 = Simd.sigmoid(g1);
    const d0 = v128.load(da + o);
    const d1 = v128.load(da + o, 16);
    v128.store(du + o, f32x4.mul(f32x4.mul(d0, g0), s0));
    v128.store(du + o, f32x4.mul(f32x4.mul(d1, g1), s1), 16);
    const ds0 = f32x4.mul(s0, f32x4.add(one, f32x4.mul(g0, f32x4.sub(one, s0))));
    const ds1 = f32x4.mul(s1, f32x4.add(one, f32x4.mul(g1, f32x4.sub(one, s1))));
    v128.store(dg + o, f32x4.mul(f32x4.mul(d0, v128.load(u + o)), ds0));
    v128.store(dg + o, f32x4.mul(f32x4.mul(d1, v128.load(u + o, 16)), ds1), 16);
  }
  for (; i + 4 <= n; i += 4) {
    const one = ec(EXP_ONE);
    const o = (<usize>i) << 2;
    const gv = v128.load(g + o);
    const s = Simd.sigmoid(gv);
    const d = v128.load(da + o);
    v128.store(du + o, f32x4.mul(f32x4.mul(d, gv), s));
    const ds = f32x4.mul(s, f32x4.add(one, f32x4.mul(gv, f32x4.sub(one, s))));
    v128.store(dg + o, f32x4.mul(f32x4.mul(d, v128.load(u + o)), ds));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const gv = load<f32>(g + o);
    const s: f32 = 1 / (1 + Mathf.exp(-gv));
    const d = load<f32>(da + o);
    store<f32>(du + o, d * gv * s);
    store<f32>(dg + o, d * load<f32>(u + o) * s * (1 + gv * (1 - s)));
  }
}

// max of n floats at p
function rowMax(p: usize, n: i32): f32 {
  let m: f32 = -Infinity;
  let j = 0;
  if (n >= 4) {
    let mv = v128.load(p);
    for (j = 4; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(p + ((<usize>j) << 2)));
    m = max(
      max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
      max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)),
    );
  }
  for (; j < n; j++) m = max(m, load<f32>(p + ((<usize>j) << 2)));
  return m;
}

// In-place causal softmax over rows of S[L, ld]: row i keeps columns 0..i (+ offset), zeros the rest.
// Columns ≤ i + offset are visible (offset = cached positions before the first query row).
export function causalSoftmax(S: usize, rows: i32, cols: i32, ld: i32, offset: i32): void {
  for (let i = 0; i < rows; i++) {
    const row = S + ((<usize>(i * ld)) << 2);
    const n = min(cols, i + offset + 1);
    const n4 = n & ~3;
    const m = rowMax(row, n);
    const mv = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (let j = 0; j < n4; j += 4) {
      const o = (<usize>j) << 2;
      const e = Simd.exp(f32x4.sub(v128.load(row + o), mv));
      v128.store(row + o, e);
      acc = f32x4.add(acc, e);
    }
    let sum = hsum(acc);
    for (let j = n4; j < n; j++) {
      const e = Mathf.exp(load<f32>(row + ((<usize>j) << 2)) - m);
      store<f32>(row + ((<usize>j) << 2), e);
      sum += e;
    }
    const inv: f32 = 1 / sum;
    const iv = f32x4.splat(inv);
    for (let j = 0; j < n4; j += 4)
      v128.store(row + ((<usize>j) << 2), f32x4.mul(v128.load(row + ((<usize>j) << 2)), iv));
    for (let j = n4; j < n; j++)
      store<f32>(row + ((<usize>j) << 2), load<f32>(row + ((<usize>j) << 2)) * inv);
    for (let j = n; j < cols; j++) store<f32>(row + ((<usize>j) << 2), 0);
  }
}

// Softmax backward in place: dP[i,j] ← P[i,j]·(dP[i,j] − Σ_j dP[i,j]P[i,j]) · scale
export function softmaxBackward(P: usize, dP: usize, rows: i32, cols: i32, ld: i32, scale: f32): void {
  // P, dP: byte addresses of the first row (the JS side adds element offsets)
  const c4 = cols & ~3;
  const sv = f32x4.splat(scale);
  for (let i = 0; i < rows; i++) {
    const pr = P + ((<usize>(i * ld)) << 2);
    const dr = dP + ((<usize>(i * ld)) << 2);
    let acc = f32x4.splat(0);
    for (let j = 0; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      acc = f32x4.add(acc, f32x4.mul(v128.load(pr + o), v128.load(dr + o)));
    }
    let dot = hsum(acc);
    for (let j = c4; j < cols; j++)
      dot += load<f32>(pr + ((<usize>j) << 2)) * load<f32>(dr + ((<usize>j) << 2));
    const dv = f32x4.splat(dot);
    for (let j = 0; j < c4; j += 4) {
      const o = (<usize>j) << 2;
      v128.store(dr + o, f32x4.mul(f32x4.mul(v128.load(pr + o), f32x4.sub(v128.load(dr + o), dv)), sv));
    }
    for (let j = c4; j < cols; j++) {
      const o = (<usize>j) << 2;
      store<f32>(dr + o, load<f32>(pr + o) * (load<f32>(dr + o) - dot) * scale);
    }
  }
}

// Row log-softmax statistics of logits Z[rows, V]: lse[r], logprob of target[r], entropy[r].
export function logsoftmaxStats(
  Z: usize,
  rows: i32,
  V: i32,
  targets: usize,
  lse: usize,
  lp: usize,
  ent: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const zr = Z + ((<usize>(r * V)) << 2);
    const m = rowMax(zr, V);
    const mv = f32x4.splat(m);
    const V4 = V & ~3;
    let sv = f32x4.splat(0);
    let szv = f32x4.splat(0);
    for (let j = 0; j < V4; j += 4) {
      const z = f32x4.sub(v128.load(zr + ((<usize>j) << 2)), mv);
      const e = Simd.exp(z);
      sv = f32x4.add(sv, e);
      szv = f32x4.add(szv, f32x4.mul(e, z));
    }
    let s = hsum(sv);
    let sz = hsum(szv);
    for (let j = V4; j < V; j++) {
      const z = load<f32>(zr + ((<usize>j) << 2)) - m;
      const e = Mathf.exp(z);
      s += e;
      sz += e * z;
    }
    const ls = Mathf.log(s);
    store<f32>(lse + ((<usize>r) << 2), ls + m);
    const t = load<i32>(targets + ((<usize>r) << 2));
    store<f32>(lp + ((<usize>r) << 2), load<f32>(zr + ((<usize>t) << 2)) - m - ls);
    // H = lse − Σ p z  (with z shifted by m: H = log s − Σ e z / s)
    store<f32>(ent + ((<usize>r) << 2), ls - sz / s);
  }
}

// dZ[r,j] = gLp[r]·(δ_{j,t} − p_j) − gEnt[r]·p_j·(log p_j + H_r), in place over Z (logits → dlogits).
export function logsoftmaxBackward(
  Z: usize,
  rows: i32,
  V: i32,
  targets: usize,
  lse: usize,
  ent: usize,
  gLp: usize,
  gEnt: usize,
): void {
  for (let r = 0; r < rows; r++) {
    const zr = Z + ((<usize>(r * V)) << 2);
    const L = load<f32>(lse + ((<usize>r) << 2));
    const H = load<f32>(ent + ((<usize>r) << 2));
    const a = load<f32>(gLp + ((<usize>r) << 2));
    const b = load<f32>(gEnt + ((<usize>r) << 2));
    const V4 = V & ~3;
    const Lv = f32x4.splat(L),
      Hv = f32x4.splat(H),
      av = f32x4.splat(-a),
      bv = f32x4.splat(b);
    for (let j = 0; j < V4; j += 4) {
      const o = (<usize>j) << 2;
      const lpj = f32x4.sub(v128.load(zr + o), Lv);
      const p = Simd.exp(lpj);
      // −a·p − b·p·(lpj + H) = p·(−a − b·(lpj + H))
      v128.store(zr + o, f32x4.mul(p, f32x4.sub(av, f32x4.mul(bv, f32x4.add(lpj, Hv)))));
    }
    for (let j = V4; j < V; j++) {
      const o = (<usize>j) << 2;
      const lpj = load<f32>(zr + o) - L;
      const p = Mathf.exp(lpj);
      store<f32>(zr + o, -a * p - b * p * (lpj + H));
    }
    const t = load<i32>(targets + ((<usize>r) << 2));
    store<f32>(zr + ((<usize>t) << 2), load<f32>(zr + ((<usize>t) << 2)) + a);
  }
}

// ---------------------------------------------------------------------------------------------
// Optimizer.

// Σ g² over n elements (f64 accumulation across f32x4 partial sums per 1024-element block).
export function sumSquares(g: usize, n: i32): f64 {
  let total: f64 = 0;
  let i = 0;
  while (i + 4 <= n) {
    let acc = f32x4.splat(0),
      acc1 = f32x4.splat(0);
    const end = min(n & ~3, i + 1024);
    // two accumulators: one add chain is latency-bound (0.60 → 0.33 ms for 3.3M, measured)
    for (; i + 8 <= end; i += 8) {
      const v = v128.load(g + ((<usize>i) << 2));
      const w = v128.load(g + ((<usize>i) << 2), 16);
      acc = f32x4.add(acc, f32x4.mul(v, v));
      acc1 = f32x4.add(acc1, f32x4.mul(w, w));
    }
    for (; i < end; i += 4) {
      const v = v128.load(g + ((<usize>i) << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    acc = f32x4.add(acc, acc1);
    total +=
      <f64>(f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
      <f64>(f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; i < n; i++) {
    const v = <f64>load<f32>(g + ((<usize>i) << 2));
    total += v * v;
  }
  return total;
}

// AdamW step over n elements; zeroes g. decay = 1 − lr·wd (1 for no decay); clip scales g;
// stepSize = lr/(1−β1ᵗ); invSqrtBc2 = 1/√(1−β2ᵗ).
export function adamw(
  w: usize,
  g: usize,
  m: usize,
  v: usize,
  n: i32,
  b1: f32,
  b2: f32,
  eps: f32,
  stepSize: f32,
  invSqrtBc2: f32,
  decay: f32,
  clip: f32,
): void {
  const B1 = f32x4.splat(b1),
    B2 = f32x4.splat(b2),
    OB1 = f32x4.splat(1 - b1),
    OB2 = f32x4.splat(1 - b2);
  const EPS = f32x4.splat(eps),
    SS = f32x4.splat(stepSize),
    IB = f32x4.splat(invSqrtBc2),
    DEC = f32x4.splat(decay),
    CL = f32x4.splat(clip);
  const zero = f32x4.splat(0);
  let i = 0;
  // Two vectors per iteration: the sqrt → divide chain is latency-bound (as in swiglu).
  for (; i + 8 <= n; i += 8) {
    const o = (<usize>i) << 2;
    const g0 = f32x4.mul(v128.load(g + o), CL);
    const g1 = f32x4.mul(v128.load(g + o, 16), CL);
    const m0 = f32x4.add(f32x4.mul(B1, v128.load(m + o)), f32x4.mul(OB1, g0));
    const m1 = f32x4.add(f32x4.mul(B1, v128.load(m + o, 16)), f32x4.mul(OB1, g1));
    const v0 = f32x4.add(f32x4.mul(B2, v128.load(v + o)), f32x4.mul(OB2, f32x4.mul(g0, g0)));
    const v1 = f32x4.add(f32x4.mul(B2, v128.load(v + o, 16)), f32x4.mul(OB2, f32x4.mul(g1, g1)));
    const d0 = f32x4.add(f32x4.mul(f32x4.sqrt(v0), IB), EPS);
    const d1 = f32x4.add(f32x4.mul(f32x4.sqrt(v1), IB), EPS);
    v128.store(m + o, m0);
    v128.store(m + o, m1, 16);
    v128.store(v + o, v0);
    v128.store(v + o, v1, 16);
    v128.store(w + o, f32x4.sub(f32x4.mul(v128.load(w + o), DEC), f32x4.div(f32x4.mul(SS, m0), d0)));
    v128.store(w + o, f32x4.sub(f32x4.mul(v128.load(w + o, 16), DEC), f32x4.div(f32x4.mul(SS, m1), d1)), 16);
    v128.store(g + o, zero);
    v128.store(g + o, zero, 16);
  }
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    const gi = f32x4.mul(v128.load(g + o), CL);
    const mi = f32x4.add(f32x4.mul(B1, v128.load(m + o)), f32x4.mul(OB1, gi));
    const vi = f32x4.add(f32x4.mul(B2, v128.load(v + o)), f32x4.mul(OB2, f32x4.mul(gi, gi)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(vi), IB), EPS);
    v128.store(w + o, f32x4.sub(f32x4.mul(v128.load(w + o), DEC), f32x4.div(f32x4.mul(SS, mi), den)));
    v128.store(g + o, zero);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const gi = load<f32>(g + o) * clip;
    const mi = b1 * load<f32>(m + o) + (1 - b1) * gi;
    const vi = b2 * load<f32>(v + o) + (1 - b2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    store<f32>(w + o, load<f32>(w + o) * decay - (stepSize * mi) / (Mathf.sqrt(vi) * invSqrtBc2 + eps));
    store<f32>(g + o, 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Rotary embeddings (rotate-half), in place: for each row r (position pos[r]) and head h,
// (a, b) = (x[i], x[i + hd/2]) → (a·c − b·s, b·c + a·s) with c, s from the [positions, hd/2]
// tables; inverse negates s (the backward).
export function rope(
  x: usize,
  rows: i32,
  ld: i32,
  heads: i32,
  hd: i32,
  pos: usize,
  cos: usize,
  sin: usize,
  inverse: i32,
): void {
  const half = hd >> 1;
  const h4 = half & ~3;
  const sgn: f32 = inverse ? -1 : 1;
  const sv = f32x4.splat(sgn);
  for (let r = 0; r < rows; r++) {
    const tb = (<usize>(load<i32>(pos + ((<usize>r) << 2)) * half)) << 2;
    const cr = cos + tb,
      sr = sin + tb;
    for (let h = 0; h < heads; h++) {
      const o = x + ((<usize>(r * ld + h * hd)) << 2);
      const o2 = o + ((<usize>half) << 2);
      for (let i = 0; i < h4; i += 4) {
        const k = (<usize>i) << 2;
        const c = v128.load(cr + k),
          s = f32x4.mul(sv, v128.load(sr + k));
        const a = v128.load(o + k),
          b = v128.load(o2 + k);
        v128.store(o + k, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
        v128.store(o2 + k, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
      }
      for (let i = h4; i < half; i++) {
        const k = (<usize>i) << 2;
        const c = load<f32>(cr + k),
          s = sgn * load<f32>(sr + k);
        const a = load<f32>(o + k),
          b = load<f32>(o2 + k);
        store<f32>(o + k, a * c - b * s);
        store<f32>(o2 + k, b * c + a * s);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decode attention for one sequence and one KV head: `rep` query rows (the query heads sharing
// that KV head, [rep, hd] contiguous) against ctx cached keys/values (row stride ld floats):
//   out[r] = Σ_j softmax_j(scale · q[r]·k[j]) · v[j]      (s: ctx floats of scratch)
// One fused pass instead of two GEMM calls and a softmax per head and token.
export function attnDecode(
  q: usize,
  rep: i32,
  hd: i32,
  k: usize,
  v: usize,
  ld: i32,
  ctx: i32,
  scale: f32,
  out: usize,
  s: usize,
): void {
  const h4 = hd & ~3;
  const ldb = (<usize>ld) << 2;
  for (let r = 0; r < rep; r++) {
    const qr = q + ((<usize>(r * hd)) << 2);
    const orow = out + ((<usize>(r * hd)) << 2);
    let kj = k;
    for (let j = 0; j < ctx; j++) {
      let acc = f32x4.splat(0);
      for (let i = 0; i < h4; i += 4)
        acc = madd(v128.load(qr + ((<usize>i) << 2)), v128.load(kj + ((<usize>i) << 2)), acc);
      let d = hsum(acc);
      for (let i = h4; i < hd; i++)
        d += load<f32>(qr + ((<usize>i) << 2)) * load<f32>(kj + ((<usize>i) << 2));
      store<f32>(s + ((<usize>j) << 2), d * scale);
      kj += ldb;
    }
    causalSoftmax(s, 1, ctx, ctx, ctx);
    memory.fill(orow, 0, (<usize>hd) << 2);
    let vj = v;
    for (let j = 0; j < ctx; j++) {
      const p = load<f32>(s + ((<usize>j) << 2));
      const pv = f32x4.splat(p);
      for (let i = 0; i < h4; i += 4) {
        const o = (<usize>i) << 2;
        v128.store(orow + o, madd(pv, v128.load(vj + o), v128.load(orow + o)));
      }
      for (let i = h4; i < hd; i++) {
        const o = (<usize>i) << 2;
        store<f32>(orow + o, load<f32>(orow + o) + p * load<f32>(vj + o));
      }
      vj += ldb;
    }
  }
}
