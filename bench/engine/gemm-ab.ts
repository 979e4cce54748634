// A/B of GEMM kernel builds in one process, interleaved (fair on a shared machine).
// `node --import tsx bench/engine/gemm-ab.ts [--rounds=N] [--shapes=train|big|all] [--no-check] a.wasm b.wasm …`
// Each round runs every build on every shape for ~0.2 CPU-s; prints the median GFLOP/s per CPU-second
// over rounds. Shapes: the two benchmark shapes (512³, 512×1024·1024×4096) and the reference-config
// training GEMMs (transA/transB M×N×K as forward.ts calls them).
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { createWasmKernels } from '../../src/engine/kernels/index.ts';

setFlagsFromString('--experimental-wasm-relaxed-simd');
const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 5);
const which = args.find((a) => a.startsWith('--shapes='))?.slice(9) ?? 'all';
const paths = args.filter((a) => !a.startsWith('--'));
type Shape = [tA: boolean, tB: boolean, M: number, N: number, K: number];
const big: Shape[] = [
  [false, false, 512, 512, 512],
  [false, false, 512, 4096, 1024],
];
const train: Shape[] = [
  [true, false, 688, 256, 512], // gWd-like: dyᵀ·x
  [false, false, 512, 256, 688], // dh = dg·Wg
  [false, true, 512, 688, 256], // g = h2·Wgᵀ
  [false, true, 512, 256, 256], // q = h1·Wqᵀ
  [true, false, 256, 256, 512], // gWq += dqᵀ·h1
  [false, false, 512, 256, 256], // dh = dq·Wq
  [false, true, 32, 128, 64], // attention scores block
  [true, false, 128, 64, 32], // dK += dSᵀ·Q block
];
const shapes = which === 'big' ? big : which === 'train' ? train : [...big, ...train];
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const ks = paths.map((p) => createWasmKernels(p));
const res = paths.map(() => shapes.map(() => [] as number[]));
const bufs = ks.map((k) =>
  shapes.map(([tA, tB, M, N, K]) => {
    const A = k.arena.alloc(M * K),
      B = k.arena.alloc(K * N),
      C = k.arena.alloc(M * N);
    for (let i = 0; i < A.len; i++) A.data[i] = ((i * 7) % 13) / 13 - 0.5;
    for (let i = 0; i < B.len; i++) B.data[i] = ((i * 5) % 11) / 11 - 0.5;
    return { A, B, C, lda: tA ? M : K, ldb: tB ? K : N };
  }),
);
for (let r = 0; r < rounds; r++)
  for (let si = 0; si < shapes.length; si++)
    for (let v = 0; v < ks.length; v++) {
      const [tA, tB, M, N, K] = shapes[si];
      const { A, B, C, lda, ldb } = bufs[v][si];
      const run = () => ks[v].gemm(tA, tB, M, N, K, 1, A, 0, lda, B, 0, ldb, 0, C, 0, N);
      run();
      let reps = 0;
      const c0 = cpu();
      while (cpu() - c0 < 0.2) {
        run();
        reps++;
      }
      res[v][si].push((2 * M * N * K * reps) / (cpu() - c0) / 1e9);
    }
// results must agree between builds (different summation orders: small relative differences);
// --no-check skips this (for deliberately wrong timing probes, e.g. a build that skips packing)
for (let si = 0; si < (args.includes('--no-check') ? 0 : shapes.length); si++) {
  const ref = bufs[0][si].C.data;
  for (let v = 1; v < ks.length; v++) {
    const c = bufs[v][si].C.data;
    let err = 0;
    for (let i = 0; i < ref.length; i++) err = Math.max(err, Math.abs(c[i] - ref[i]));
    if (err > 1e-3) throw new Error(`${paths[v]} differs from ${paths[0]} on shape ${si}: ${err}`);
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
console.log(
  `# GEMM A/B, ${rounds} rounds, median (best) GFLOP/s per CPU-second   load: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(`| shape | ${paths.map((p) => basename(p)).join(' | ')} |`);
console.log(`|---|${paths.map(() => '---|').join('')}`);
for (let si = 0; si < shapes.length; si++) {
  const [tA, tB, M, N, K] = shapes[si];
  console.log(
    `| ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K} | ${res.map((r) => `${med(r[si]).toFixed(1)} (${Math.max(...r[si]).toFixed(1)})`).join(' | ')} |`,
  );
}
