// A/B of kernel builds on the reference-config training step (seq 128 × batch 4, fwd + bwd + AdamW),
// interleaved in one process so both see the same machine load.
// `node --import tsx bench/engine/train-ab.ts [--rounds=N] a.wasm b.wasm …`
// Prints tokens per CPU-second: median (best) over rounds of 4 steps each.
import { loadavg } from 'node:os';
import { basename } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { createWasmKernels } from '../../src/engine/kernels/index.ts';
import { referenceTraining, REFERENCE_STEP_TOKENS } from './reference-train.ts';

setFlagsFromString('--experimental-wasm-relaxed-simd');
const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith('--rounds='))?.slice(9) ?? 7);
const paths = args.filter((a) => !a.startsWith('--'));
const runs = paths.map((p) => referenceTraining(createWasmKernels(p)));
const step = async (v: number) => (await runs[v].step())['loss:sum'];
for (let v = 0; v < runs.length; v++) await step(v);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const res = paths.map(() => [] as number[]);
const losses = paths.map(() => 0);
for (let r = 0; r < rounds; r++)
  for (let v = 0; v < runs.length; v++) {
    const c0 = cpu();
    for (let s = 0; s < 4; s++) losses[v] = await step(v);
    res[v].push((4 * REFERENCE_STEP_TOKENS) / (cpu() - c0));
  }
const med = (x: number[]) => [...x].sort((a, b) => a - b)[Math.floor(x.length / 2)];
console.log(
  `# training A/B, reference config, ${rounds} rounds × 4 steps, tokens per CPU-second   load: ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
for (let v = 0; v < paths.length; v++)
  console.log(
    `${basename(paths[v])}: median ${med(res[v]).toFixed(0)}, best ${Math.max(...res[v]).toFixed(0)}  (loss after ${1 + 4 * rounds} steps ${losses[v].toFixed(4)})`,
  );
for (const r of runs) r.trainer.dispose();
