// Where a reference-config training step (seq 128 × batch 4, fwd + bwd + AdamW) spends its time:
// every kernel call is timed and grouped by op and GEMM shape (transA/transB M×N×K).
// `node --import tsx bench/engine/profile-train.ts [steps] [path/to/kernels.wasm]`
// The wrapper adds ~0.1 µs per call (≈ 2,500 calls per step), so shares are accurate to ~0.1 %.
import { createWasmKernels, type Kernels } from '../../src/engine/kernels/index.ts';
import { preferredKernelsPath } from '../../src/engine/kernels/wasm.ts';
import { referenceTraining, REFERENCE_STEP_TOKENS } from './reference-train.ts';

const steps = Number(process.argv[2] ?? 10);
const base = createWasmKernels(process.argv[3] ?? preferredKernelsPath());
const stats = new Map<string, { ms: number; calls: number; flop: number }>();
let on = false;
const add = (key: string, ms: number, flop = 0) => {
  const s = stats.get(key) ?? { ms: 0, calls: 0, flop: 0 };
  s.ms += ms;
  s.calls++;
  s.flop += flop;
  stats.set(key, s);
};
const timed = {} as Record<string, unknown>;
for (const name of Object.keys(base) as (keyof Kernels)[]) {
  const f = base[name];
  if (typeof f !== 'function') {
    timed[name] = f;
    continue;
  }
  timed[name] = (...a: unknown[]) => {
    if (!on) return (f as (...x: unknown[]) => unknown)(...a);
    const t0 = performance.now();
    const r = (f as (...x: unknown[]) => unknown)(...a);
    const ms = performance.now() - t0;
    if (name === 'gemm') {
      const [tA, tB, M, N, K] = a as [boolean, boolean, number, number, number];
      add(`gemm ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K}`, ms, 2 * M * N * K);
    } else if (name === 'gemmTri') {
      const [tri, , tA, tB, M, N, K] = a as [number, number, boolean, boolean, number, number, number];
      add(`gemmTri ${tri} ${tA ? 'T' : 'N'}${tB ? 'T' : 'N'} ${M}×${N}×${K}`, ms, 2 * M * N * K);
    } else add(name, ms);
    return r;
  };
}
const kernels = timed as unknown as Kernels;
const { trainer: tr, step } = referenceTraining(kernels);
await step();
await step();
on = true;
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = 0; i < steps; i++) await step();
const wall = performance.now() - t0;
const cu = process.cpuUsage(c0);
const cpu = (cu.user + cu.system) / 1000;
let inKernels = 0;
for (const s of stats.values()) inKernels += s.ms;
console.log(
  `${base.variant}: ${steps} steps, ${(wall / steps).toFixed(1)} ms/step wall, ${((REFERENCE_STEP_TOKENS * steps) / (cpu / 1000)).toFixed(0)} tokens/CPU-s; ` +
    `kernels ${((100 * inKernels) / wall).toFixed(1)} %, rest (JS) ${(wall / steps - inKernels / steps).toFixed(1)} ms/step`,
);
console.log('| op | ms/step | % | calls/step | GFLOP/s |');
console.log('|---|---|---|---|---|');
for (const [k, s] of [...stats].sort((a, b) => b[1].ms - a[1].ms))
  console.log(
    `| ${k} | ${(s.ms / steps).toFixed(2)} | ${((100 * s.ms) / wall).toFixed(1)} | ${s.calls / steps} | ${s.flop ? (s.flop / s.ms / 1e6).toFixed(1) : ''} |`,
  );
tr.dispose();
