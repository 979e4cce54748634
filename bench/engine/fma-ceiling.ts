// The WASM SIMD multiply-add ceiling of this machine: how fast can V8 run 128-bit FMAs at all?
// `node --import tsx bench/engine/fma-ceiling.ts`. Compiles a tiny AssemblyScript module (below, not
// shipped) to /tmp and runs independent f32x4 multiply-add chains from registers (no loads), with
// 4–14 accumulators, relaxed (FMA) and plain (mul + add), plus the shape of the GEMM micro-kernel's
// inner loop (loads from an L1-resident panel). Reports GFLOP/s per CPU-second (1 FMA = 8 flops).
// Why: the GEMM can only approach this number; the gap to it is what tuning can still win.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';

// acc_i = acc_i + a·b for n iterations, `chains` independent accumulators (a, b, acc in registers).
function chainFn(name: string, chains: number, relaxed: boolean): string {
  const madd = (acc: string) =>
    relaxed ? `f32x4.relaxed_madd(a, b, ${acc})` : `f32x4.add(${acc}, f32x4.mul(a, b))`;
  const decl = Array.from({ length: chains }, (_, i) => `let c${i} = f32x4.splat(x + ${i}.0);`).join('\n  ');
  const body = Array.from({ length: chains }, (_, i) => `c${i} = ${madd(`c${i}`)};`).join('\n    ');
  const sum = Array.from({ length: chains }, (_, i) => `c${i}`).reduce((s, c) => `f32x4.add(${s}, ${c})`);
  return `export function ${name}(n: i32, x: f32): f32 {
  const a = f32x4.splat(x * 0.5);
  const b = f32x4.splat(1.0 - x);
  ${decl}
  for (let i = 0; i < n; i++) {
    ${body}
  }
  return f32x4.extract_lane(${sum}, 0);
}\n`;
}

// The GEMM micro-kernel loop, MR rows × 4·NV columns: per k, NV loads of B, MR broadcast loads of A,
// MR·NV FMAs, accumulators in registers.
function microFn(name: string, mr: number, nv: number, relaxed: boolean): string {
  const madd = (a: string, b: string, acc: string) =>
    relaxed ? `f32x4.relaxed_madd(${a}, ${b}, ${acc})` : `f32x4.add(${acc}, f32x4.mul(${a}, ${b}))`;
  const acc: string[] = [];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) acc.push(`c${i}${j}`);
  const decl = acc.map((c) => `let ${c} = f32x4.splat(0);`);
  const loadB = Array.from({ length: nv }, (_, j) => `const b${j} = v128.load(pb, ${16 * j});`);
  const body = Array.from(
    { length: mr },
    (_, i) =>
      `a = v128.load32_splat(pa, ${4 * i}); ` +
      Array.from({ length: nv }, (_, j) => `c${i}${j} = ${madd('a', `b${j}`, `c${i}${j}`)};`).join(' '),
  );
  const sum = acc.reduce((s, c) => `f32x4.add(${s}, ${c})`);
  return `export function ${name}(reps: i32, kc: i32, pa0: usize, pb0: usize, astride: usize): f32 {
  ${decl.join('\n  ')}
  for (let r = 0; r < reps; r++) {
    let pa = pa0 + (<usize>(r & 31)) * astride, pb = pb0;
    for (let k = 0; k < kc; k++) {
      ${loadB.join('\n      ')}
      let a: v128;
      ${body.join('\n      ')}
      pa += ${4 * mr};
      pb += ${16 * nv};
    }
  }
  return f32x4.extract_lane(${sum}, 0);
}\n`;
}

// The shipped loop form (src/engine/kernels/assembly/index.ts micro()): broadcast loads of A, loop on
// the A pointer (no counter), MR rows × 4·NV columns.
function ptrMicroFn(name: string, mr: number, nv: number): string {
  const acc: string[] = [];
  for (let i = 0; i < mr; i++) for (let j = 0; j < nv; j++) acc.push(`c${i}${j}`);
  const loadB = Array.from({ length: nv }, (_, j) => `const b${j} = v128.load(pb, ${16 * j});`);
  const body = Array.from(
    { length: mr },
    (_, i) =>
      `a = v128.load32_splat(pa, ${4 * i}); ` +
      Array.from({ length: nv }, (_, j) => `c${i}${j} = f32x4.relaxed_madd(a, b${j}, c${i}${j});`).join(' '),
  );
  const sum = acc.reduce((s, c) => `f32x4.add(${s}, ${c})`);
  return `export function ${name}(reps: i32, kc: i32, pa0: usize, pb0: usize, astride: usize): f32 {
  ${acc.map((c) => `let ${c} = f32x4.splat(0);`).join('\n  ')}
  for (let r = 0; r < reps; r++) {
    let pa = pa0 + (<usize>(r & 31)) * astride, pb = pb0;
    const end = pa + <usize>kc * ${4 * mr};
    do {
      ${loadB.join('\n      ')}
      let a: v128;
      ${body.join('\n      ')}
      pa += ${4 * mr};
      pb += ${16 * nv};
    } while (pa < end);
  }
  return f32x4.extract_lane(${sum}, 0);
}\n`;
}

// The shipped micro-kernel's loop: A as one v128 load + lane shuffles, B two loads, 8 FMAs, loop on the
// A pointer (the same source as micro() in src/engine/kernels/assembly/index.ts).
const SHIPPED = `export function shipped(reps: i32, kc: i32, pa0: usize, pb0: usize, astride: usize): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let r = 0; r < reps; r++) {
    let pa = pa0 + (<usize>(r & 31)) * astride, pb = pb0;
    const end = pa + ((<usize>kc) << 4);
    do {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const av = v128.load(pa);
      let a = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
      c00 = f32x4.relaxed_madd(a, b0, c00); c01 = f32x4.relaxed_madd(a, b1, c01);
      a = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
      c10 = f32x4.relaxed_madd(a, b0, c10); c11 = f32x4.relaxed_madd(a, b1, c11);
      a = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
      c20 = f32x4.relaxed_madd(a, b0, c20); c21 = f32x4.relaxed_madd(a, b1, c21);
      a = v128.shuffle<f32>(av, av, 3, 3, 3, 3);
      c30 = f32x4.relaxed_madd(a, b0, c30); c31 = f32x4.relaxed_madd(a, b1, c31);
      pa += 16;
      pb += 32;
    } while (pa < end);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c10, c11)), f32x4.add(f32x4.add(c20, c21), f32x4.add(c30, c31)));
  return f32x4.extract_lane(s, 0);
}
`;

// Candidate: 3×12 with A as one v128 load (3 of 4 lanes used) + 3 shuffles, 3 B loads, 9 FMAs.
const SHUF3X12 = `export function shuf3x12(reps: i32, kc: i32, pa0: usize, pb0: usize, astride: usize): f32 {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0);
  for (let r = 0; r < reps; r++) {
    let pa = pa0 + (<usize>(r & 31)) * astride, pb = pb0;
    const end = pa + ((<usize>kc) << 4);
    do {
      const b0 = v128.load(pb);
      const b1 = v128.load(pb, 16);
      const b2 = v128.load(pb, 32);
      const av = v128.load(pa);
      let a = v128.shuffle<f32>(av, av, 0, 0, 0, 0);
      c00 = f32x4.relaxed_madd(a, b0, c00); c01 = f32x4.relaxed_madd(a, b1, c01); c02 = f32x4.relaxed_madd(a, b2, c02);
      a = v128.shuffle<f32>(av, av, 1, 1, 1, 1);
      c10 = f32x4.relaxed_madd(a, b0, c10); c11 = f32x4.relaxed_madd(a, b1, c11); c12 = f32x4.relaxed_madd(a, b2, c12);
      a = v128.shuffle<f32>(av, av, 2, 2, 2, 2);
      c20 = f32x4.relaxed_madd(a, b0, c20); c21 = f32x4.relaxed_madd(a, b1, c21); c22 = f32x4.relaxed_madd(a, b2, c22);
      pa += 16;
      pb += 48;
    } while (pa < end);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(c00, c01), f32x4.add(c02, c10)), f32x4.add(f32x4.add(c11, c12), f32x4.add(f32x4.add(c20, c21), c22)));
  return f32x4.extract_lane(s, 0);
}
`;

const MICRO: [number, number][] = [
  [4, 2],
  [5, 2],
  [6, 2],
  [8, 1],
  [2, 4],
  [3, 3],
];
const PTR_MICRO: [number, number][] = [
  [4, 2],
  [3, 3],
  [2, 4],
];
const CHAINS = [4, 8, 10, 12, 14];
let src = '';
for (const c of CHAINS) src += chainFn(`fma${c}`, c, true) + chainFn(`muladd${c}`, c, false);
for (const [mr, nv] of MICRO) src += microFn(`micro${mr}x${4 * nv}`, mr, nv, true);
src += SHIPPED;
for (const [mr, nv] of PTR_MICRO) src += ptrMicroFn(`ptr${mr}x${4 * nv}`, mr, nv);
src += SHUF3X12;

const dir = mkdtempSync(join(tmpdir(), 'fma-ceiling-'));
try {
  writeFileSync(join(dir, 'peak.ts'), src);
  const asc = createRequire(import.meta.url).resolve('assemblyscript/bin/asc.js');
  const out = join(dir, 'peak.wasm');
  const r = spawnSync(
    process.execPath,
    [
      asc,
      join(dir, 'peak.ts'),
      '-o',
      out,
      '-O3',
      '--noAssert',
      '--runtime',
      'stub',
      '--enable',
      'simd',
      '--enable',
      'relaxed-simd',
      '--initialMemory',
      '8',
    ],
    { stdio: 'inherit' },
  );
  if (r.status !== 0) throw new Error('asc failed');
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  const inst = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(out)), {
    env: { abort: () => {} },
  });
  const x = inst.exports as Record<string, (...a: number[]) => number>;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  /** best of 5 rounds of ~0.3 s: GFLOP/s per CPU-second */
  const measure = (fn: () => void, flops: number): number => {
    fn();
    let best = 0;
    for (let round = 0; round < 5; round++) {
      const c0 = cpuNow();
      let reps = 0;
      while (cpuNow() - c0 < 0.3) {
        fn();
        reps++;
      }
      best = Math.max(best, (flops * reps) / (cpuNow() - c0) / 1e9);
    }
    return best;
  };
  console.log(
    `# 128-bit multiply-add ceiling (V8 ${process.versions.v8})   load: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const N = 2_000_000;
  console.log('| accumulators | relaxed_madd (FMA) GFLOP/s | mul + add GFLOP/s |');
  console.log('|---|---|---|');
  for (const c of process.argv.includes('--ptr-only') ? [] : CHAINS) {
    const f = measure(() => x[`fma${c}`](N, 0.3), 8 * c * N);
    const m = measure(() => x[`muladd${c}`](N, 0.3), 8 * c * N);
    console.log(`| ${c} | ${f.toFixed(1)} | ${m.toFixed(1)} |`);
  }
  // micro-kernel loop over L1-resident panels: kc = 256, A panel MR·kc floats, B panel NR·kc floats
  const kc = 256;
  for (const [mr, nv] of PTR_MICRO) {
    for (const astride of [0, 4 * mr * kc]) {
      const fn = x[`ptr${mr}x${4 * nv}`];
      const g = measure(() => fn(2000, kc, 65536, 1024, astride), 2 * mr * 4 * nv * kc * 2000);
      console.log(
        `shipped loop form ${mr}×${4 * nv} (broadcast loads, pointer loop), A ${astride ? 'streaming from L2' : 'from L1'} (kc ${kc}): ${g.toFixed(1)} GFLOP/s`,
      );
    }
  }
  if (process.argv.includes('--ptr-only')) process.exit(0);
  for (const [mr, nv] of MICRO) {
    const reps = 2000;
    const fn = x[`micro${mr}x${4 * nv}`];
    const g = measure(() => fn(reps, kc, 65536, 1024, 0), 2 * mr * 4 * nv * kc * reps);
    console.log(`micro-kernel loop ${mr}×${4 * nv} (loads from L1, kc ${kc}): ${g.toFixed(1)} GFLOP/s`);
  }
  const sh = measure(() => x.shipped(2000, kc, 65536, 1024, 0), 2 * 4 * 8 * kc * 2000);
  console.log(
    `shipped micro-kernel loop 4×8, A by v128 load + shuffles (loads from L1, kc ${kc}): ${sh.toFixed(1)} GFLOP/s`,
  );
  const shs = measure(() => x.shipped(2000, kc, 65536, 1024, 16 * kc), 2 * 4 * 8 * kc * 2000);
  console.log(
    `shipped micro-kernel loop 4×8, A panels streaming from L2 (kc ${kc}): ${shs.toFixed(1)} GFLOP/s`,
  );
  const s3 = measure(() => x.shuf3x12(2000, kc, 65536, 1024, 0), 2 * 3 * 12 * kc * 2000);
  console.log(`3×12, A by v128 load + shuffles (loads from L1, kc ${kc}): ${s3.toFixed(1)} GFLOP/s`);
  // as in the GEMM: the B panel stays, A panels stream from L2 (32 panels of 4·kc floats = 128 KiB)
  const stream = measure(() => x.micro4x8(2000, kc, 65536, 1024, 16 * kc), 2 * 4 * 8 * kc * 2000);
  console.log(`micro-kernel loop 4×8, A panels streaming from L2 (kc ${kc}): ${stream.toFixed(1)} GFLOP/s`);
} finally {
  // --keep leaves the module in the temp dir (for perf annotate)
  if (process.argv.includes('--keep')) console.log(`kept ${dir}/peak.wasm`);
  else rmSync(dir, { recursive: true, force: true });
}
