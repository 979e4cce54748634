// WASM SIMD kernels vs the plain-TS reference kernels, on odd shapes and strides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRefKernels, createWasmKernels } from '../../src/engine/kernels/index.ts';
import {
  KERNELS_WASM_PATH,
  KERNELS_RELAXED_WASM_PATH,
  relaxedSimdAvailable,
} from '../../src/engine/kernels/wasm.ts';
import type { Buf } from '../../src/engine/memory.ts';
import { Rng } from '../../src/core/rng.ts';

let wasm = createWasmKernels(KERNELS_WASM_PATH);
const ref = createRefKernels();
const rng = new Rng(1234);

function pair(n: number, fill = true): [Buf, Buf] {
  const a = wasm.arena.alloc(n);
  const b = ref.arena.alloc(n);
  if (fill) for (let i = 0; i < n; i++) a.data[i] = b.data[i] = rng.normal();
  return [a, b];
}
function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  let scale = 1e-6;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / scale;
}

for (const variant of ['simd', 'relaxed-simd'] as const)
  test(`gemm (${variant}): all transpose forms, odd shapes, strides, alpha, accumulate`, () => {
    if (variant === 'relaxed-simd') {
      // Node 20 runs relaxed SIMD behind a V8 flag that relaxedSimdAvailable() sets; Node ≥ 22 has it on.
      assert.ok(relaxedSimdAvailable(), 'relaxed-SIMD build should load on this runtime');
      wasm = createWasmKernels(KERNELS_RELAXED_WASM_PATH);
    }
    assert.equal(wasm.variant, variant);
    const shapes = [
      [1, 1, 1],
      [3, 5, 7],
      [4, 8, 16],
      [13, 17, 300], // one K block
      [13, 17, 1100], // K in three equal blocks (KC = 512: 367 + 367 + 366)
      [21, 19, 600], // K in two blocks of 300
      [130, 9, 33], // M spans two M blocks
      [5, 70, 1],
      [64, 64, 64],
      [16, 33, 70],
      [4, 37, 19], // small-M paths (A·Bᵀ ≤ 12 rows, A·B ≤ 2 rows)
      [3, 9, 70],
      [7, 130, 9],
      [2, 5, 3],
    ];
    for (const [M, N, K] of shapes)
      for (const tA of [false, true])
        for (const tB of [false, true])
          for (const beta of [0, 1]) {
            const pad = 3; // leading dims larger than the logical width
            const lda = (tA ? M : K) + pad,
              ldb = (tB ? K : N) + pad,
              ldc = N + pad;
            const aRows = tA ? K : M,
              bRows = tB ? N : K;
            const [aw, ar] = pair(aRows * lda + 2);
            const [bw, br] = pair(bRows * ldb + 1);
            const [cw, cr] = pair(M * ldc + 5);
            wasm.gemm(tA, tB, M, N, K, 0.75, aw, 2, lda, bw, 1, ldb, beta, cw, 5, ldc);
            ref.gemm(tA, tB, M, N, K, 0.75, ar, 2, lda, br, 1, ldb, beta, cr, 5, ldc);
            const d = maxRelDiff(cw.data, cr.data);
            assert.ok(
              d < 1e-5,
              `gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K} beta=${beta}: rel diff ${d}`,
            );
            // Padding columns of C must be untouched (no writes past N).
            for (let i = 0; i < M; i++)
              for (let j = N; j < ldc && 5 + i * ldc + j < cw.len; j++)
                assert.equal(cw.data[5 + i * ldc + j], cr.data[5 + i * ldc + j]);
          }
  });

for (const variant of ['simd', 'relaxed-simd'] as const)
  test(`gemmTri (${variant}): causal tiles match the reference (lower triangle / triangular A)`, () => {
    if (variant === 'relaxed-simd') assert.ok(relaxedSimdAvailable());
    const kw = createWasmKernels(variant === 'simd' ? KERNELS_WASM_PATH : KERNELS_RELAXED_WASM_PATH);
    const fill = (n: number): [Buf, Buf] => {
      const a = kw.arena.alloc(n),
        b = ref.arena.alloc(n);
      for (let i = 0; i < n; i++) a.data[i] = b.data[i] = rng.normal();
      return [a, b];
    };
    // [tri, M, N, K, off]: M spans two M blocks (130), K two K blocks (600), small-M paths (≤ 12 rows),
    // diagonal shifted both ways, edges in every dimension.
    const cases: [1 | 2 | 3, number, number, number, number][] = [
      [1, 130, 130, 64, 0],
      [1, 37, 45, 19, 3],
      [1, 37, 45, 19, 1], // off ≡ 1, 5 (mod 8): a tile's last row meets the first column of the next panel
      [1, 29, 40, 7, 5],
      [1, 20, 9, 5, -2],
      [1, 7, 7, 3, 0],
      [2, 130, 64, 130, 0],
      [2, 37, 19, 600, 0],
      [2, 21, 13, 40, 5],
      [2, 9, 6, 11, -3],
      [3, 130, 64, 130, 0],
      [3, 45, 19, 600, 0],
      [3, 21, 13, 40, 5],
      [3, 9, 6, 11, -3],
    ];
    for (const [tri, M, N, K, off] of cases)
      for (const tA of [false, true])
        for (const tB of [false, true])
          for (const beta of [0, 1]) {
            const lda = (tA ? M : K) + 2,
              ldb = (tB ? K : N) + 1,
              ldc = N + 3;
            const [aw, ar] = fill((tA ? K : M) * lda);
            const [bw, br] = fill((tB ? N : K) * ldb);
            const [cw, cr] = fill(M * ldc);
            const ct = ref.arena.alloc(M * ldc); // for the reference kernels' own gemmTri
            ct.data.set(cr.data);
            // tri 2/3: op(A) has zeros below/above the band (as P and dS in attention)
            for (let i = 0; i < M; i++)
              for (let k = 0; k < K; k++)
                if ((tri === 2 && k > i + off) || (tri === 3 && k < i - off))
                  aw.data[tA ? k * lda + i : i * lda + k] = ar.data[tA ? k * lda + i : i * lda + k] = 0;
            kw.gemmTri(tri, off, tA, tB, M, N, K, 0.5, aw, 0, lda, bw, 0, ldb, beta, cw, 0, ldc);
            // the reference: the plain product (tri 1: compared on the lower triangle only)
            ref.gemm(tA, tB, M, N, K, 0.5, ar, 0, lda, br, 0, ldb, beta, cr, 0, ldc);
            ref.gemmTri(tri, off, tA, tB, M, N, K, 0.5, ar, 0, lda, br, 0, ldb, beta, ct, 0, ldc);
            let scale = 1e-6,
              err = 0,
              errRef = 0;
            for (let i = 0; i < M; i++)
              for (let j = 0; j < ldc; j++) {
                const o = i * ldc + j;
                assert.ok(Number.isFinite(cw.data[o]), 'every entry stays finite');
                if (j >= N) assert.equal(cw.data[o], cr.data[o], 'no writes past N');
                else if (tri !== 1 || j <= i + off) {
                  scale = Math.max(scale, Math.abs(cr.data[o]));
                  err = Math.max(err, Math.abs(cw.data[o] - cr.data[o]));
                  errRef = Math.max(errRef, Math.abs(ct.data[o] - cr.data[o]));
                }
              }
            const name = `gemmTri ${tri} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}x${N}x${K} off=${off} beta=${beta}`;
            assert.ok(err / scale < 1e-5, `${name}: rel diff ${err / scale}`);
            assert.ok(errRef / scale < 1e-9, `${name} (reference kernels): rel diff ${errRef / scale}`);
            for (const b of [aw, bw, cw]) kw.arena.free(b);
          }
  });

test('rmsnorm forward/backward match the reference', () => {
  for (const [rows, D] of [
    [3, 7],
    [5, 64],
    [2, 257],
  ]) {
    const [xw, xr] = pair(rows * D);
    const [ww, wr] = pair(D);
    const [yw, yr] = pair(rows * D, false);
    const [iw, ir] = pair(rows, false);
    wasm.rmsnorm(xw, ww, yw, iw, rows, D, 1e-6);
    ref.rmsnorm(xr, wr, yr, ir, rows, D, 1e-6);
    assert.ok(maxRelDiff(yw.data, yr.data) < 1e-5);
    const [dyw, dyr] = pair(rows * D);
    const [dxw, dxr] = pair(rows * D);
    const [dww, dwr] = pair(D);
    wasm.rmsnormBackward(xw, ww, iw, dyw, dxw, dww, rows, D, true);
    ref.rmsnormBackward(xr, wr, ir, dyr, dxr, dwr, rows, D, true);
    assert.ok(maxRelDiff(dxw.data, dxr.data) < 1e-5, 'dx');
    assert.ok(maxRelDiff(dww.data, dwr.data) < 1e-5, 'dw');
  }
});

for (const variant of ['simd', 'relaxed-simd'] as const)
  test(`swiglu, causal softmax, log-softmax stats and backward (${variant}) match the reference`, () => {
    wasm = createWasmKernels(variant === 'simd' ? KERNELS_WASM_PATH : KERNELS_RELAXED_WASM_PATH);
    const n = 1037;
    const [gw, gr] = pair(n),
      [uw, ur] = pair(n),
      [aw, ar] = pair(n, false);
    // include large-magnitude gates (exp range reduction, saturation)
    for (let i = 0; i < 40; i++) gw.data[i] = gr.data[i] = (i - 20) * 4.7;
    wasm.swiglu(gw, uw, aw, n);
    ref.swiglu(gr, ur, ar, n);
    assert.ok(maxRelDiff(aw.data, ar.data) < 1e-5);
    const [daw, dar] = pair(n),
      [dgw, dgr] = pair(n, false),
      [duw, dur] = pair(n, false);
    wasm.swigluBackward(gw, uw, daw, dgw, duw, n);
    ref.swigluBackward(gr, ur, dar, dgr, dur, n);
    assert.ok(maxRelDiff(dgw.data, dgr.data) < 1e-5 && maxRelDiff(duw.data, dur.data) < 1e-5);
    // a NaN gate stays NaN (the exp clamps must not turn it into a number)
    gw.data[50] = NaN;
    wasm.swiglu(gw, uw, aw, n);
    wasm.swigluBackward(gw, uw, daw, dgw, duw, n);
    assert.ok(Number.isNaN(aw.data[50]) && Number.isNaN(dgw.data[50]) && Number.isNaN(duw.data[50]));
    gw.data[50] = gr.data[50];

    const rows = 5,
      cols = 9,
      ld = 11;
    const [sw, sr] = pair(rows * ld + 3);
    wasm.causalSoftmax(sw, 3, rows, cols, ld, 2);
    ref.causalSoftmax(sr, 3, rows, cols, ld, 2);
    assert.ok(maxRelDiff(sw.data, sr.data) < 1e-5);
    const [pw, pr] = pair(rows * ld + 2),
      [dpw, dpr] = pair(rows * ld + 3);
    wasm.softmaxBackward(pw, 2, dpw, 3, rows, cols, ld, 0.3);
    ref.softmaxBackward(pr, 2, dpr, 3, rows, cols, ld, 0.3);
    assert.ok(maxRelDiff(dpw.data, dpr.data) < 1e-5);

    const R = 4,
      V = 33;
    const [zw, zr] = pair(R * V);
    const [tw, tr] = pair(R, false);
    for (let r = 0; r < R; r++) tw.i32[r] = tr.i32[r] = (r * 7) % V;
    const [lw, lr] = pair(R, false),
      [pw2, pr2] = pair(R, false),
      [ew, er] = pair(R, false);
    wasm.logsoftmaxStats(zw, R, V, tw, 0, lw, pw2, ew);
    ref.logsoftmaxStats(zr, R, V, tr, 0, lr, pr2, er);
    for (const [a, b] of [
      [lw, lr],
      [pw2, pr2],
      [ew, er],
    ])
      assert.ok(maxRelDiff(a.data, b.data) < 1e-5);
    const [gaw, gar] = pair(R),
      [gbw, gbr] = pair(R);
    wasm.logsoftmaxBackward(zw, R, V, tw, 0, lw, ew, gaw, gbw);
    ref.logsoftmaxBackward(zr, R, V, tr, 0, lr, er, gar, gbr);
    assert.ok(maxRelDiff(zw.data, zr.data) < 1e-5);
  });

test('wasm arena re-points live buffers when the memory grows', () => {
  const keep = wasm.arena.alloc(8);
  keep.data.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const big = wasm.arena.alloc(16 * 1024 * 1024); // forces memory.grow
  assert.equal(keep.data.length, 8);
  assert.deepEqual(Array.from(keep.data), [1, 2, 3, 4, 5, 6, 7, 8]);
  wasm.arena.free(big);
});

test('adamw and sumSquares match the reference', () => {
  const n = 1031; // not a multiple of 4
  const [ww, wr] = pair(n),
    [gw, gr] = pair(n),
    [mw, mr] = pair(n),
    [vw, vr] = pair(n);
  for (let i = 0; i < n; i++) vw.data[i] = vr.data[i] = Math.abs(vr.data[i]);
  const s1 = wasm.sumSquares(gw, n),
    s2 = ref.sumSquares(gr, n);
  assert.ok(Math.abs(s1 - s2) < 1e-5 * s2, 'Math.abs(s1 - s2) < 1e-5 * s2');
  wasm.adamw(ww, gw, mw, vw, n, 0.9, 0.95, 1e-8, 0.01, 1.3, 0.999, 0.7);
  ref.adamw(wr, gr, mr, vr, n, 0.9, 0.95, 1e-8, 0.01, 1.3, 0.999, 0.7);
  for (const [a, b] of [
    [ww, wr],
    [mw, mr],
    [vw, vr],
  ])
    assert.ok(maxRelDiff(a.data, b.data) < 1e-5);
  assert.ok(
    gw.data.every((x) => x === 0),
    'gw.data.every((x) => x === 0)',
  );
});

test('rope (forward and inverse) matches the reference; inverse undoes forward', () => {
  for (const hd of [8, 6, 64]) {
    const rows = 5,
      heads = 3,
      ld = heads * hd + 2,
      positions = 40,
      half = hd / 2;
    const [xw, xr] = pair(rows * ld + 1);
    const [cw, cr] = pair(positions * half),
      [sw, sr] = pair(positions * half);
    for (let p = 0; p < positions; p++)
      for (let i = 0; i < half; i++) {
        const a = p * Math.pow(10000, (-2 * i) / hd);
        cw.data[p * half + i] = cr.data[p * half + i] = Math.cos(a);
        sw.data[p * half + i] = sr.data[p * half + i] = Math.sin(a);
      }
    const [pw, pr] = pair(rows + 1, false);
    for (let r = 0; r <= rows; r++) pw.i32[r] = pr.i32[r] = (r * 7) % positions;
    const orig = Float32Array.from(xw.data);
    wasm.rope(xw, 1, rows, ld, heads, hd, pw, 1, cw, sw, false);
    ref.rope(xr, 1, rows, ld, heads, hd, pr, 1, cr, sr, false);
    assert.ok(maxRelDiff(xw.data, xr.data) < 1e-6, `rope hd=${hd}`);
    wasm.rope(xw, 1, rows, ld, heads, hd, pw, 1, cw, sw, true);
    assert.ok(maxRelDiff(xw.data, orig) < 1e-5, `inverse rope hd=${hd}`);
  }
});

test('fused decode attention matches the reference', () => {
  for (const [rep, hd, ctx] of [
    [1, 64, 37],
    [7, 6, 5],
    [2, 32, 1],
  ]) {
    const ld = hd * 3 + 1; // cached rows of several KV heads
    const [qw, qr] = pair(rep * hd + 2),
      [kw, kr] = pair(ctx * ld + 3),
      [vw, vr] = pair(ctx * ld + 3);
    const [ow, or] = pair(rep * hd + 2),
      [sw, sr] = pair(ctx, false);
    wasm.attnDecode(qw, 2, rep, hd, kw, 3, vw, 3, ld, ctx, 0.3, ow, 2, sw);
    ref.attnDecode(qr, 2, rep, hd, kr, 3, vr, 3, ld, ctx, 0.3, or, 2, sr);
    assert.ok(maxRelDiff(ow.data, or.data) < 1e-5, `attnDecode rep=${rep} hd=${hd} ctx=${ctx}`);
  }
});
