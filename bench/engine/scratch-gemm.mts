import { createWasmKernels } from '../../src/engine/kernels/index.ts';
const k = createWasmKernels();
for (let rep = 0; rep < 2; rep++)
for (const [M, N, K, tA, tB] of [[512, 512, 512, false, false], [512, 512, 512, false, true], [512, 512, 512, true, false], [512, 768, 256, false, true]] as const) {
  const A = k.arena.alloc(M * K), B = k.arena.alloc(K * N), C = k.arena.alloc(M * N);
  A.data.fill(0.5); B.data.fill(0.25);
  const lda = tA ? M : K, ldb = tB ? K : N;
  k.gemm(tA, tB, M, N, K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, N);
  let reps = 0; const t0 = performance.now(); const c0 = process.cpuUsage();
  while (performance.now() - t0 < 700) { k.gemm(tA, tB, M, N, K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, N); reps++; }
  const cu = process.cpuUsage(c0); const ct = (cu.user + cu.system) / 1e6;
  console.log(`${M}x${N}x${K} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}: ${(2 * M * N * K * reps / ct / 1e9).toFixed(1)} cpu-GFLOP/s`);
}
