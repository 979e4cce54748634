// Engine benchmarks (npm run bench:engine). Side by side, in one run:
//   1. sgemm GFLOP/s, ours (WASM SIMD and relaxed-SIMD FMA) vs onnxruntime-node's MatMul (1 thread)
//   2. training tokens/s (forward + backward + AdamW), reference config, seq 128 × batch 4: one
//      engine thread vs --threads N (interleaved), and PyTorch CPU on the same model with N threads
//      (bench/engine/torch-train.py; Debian's python3-torch + libopenblas0-pthread, installed here
//      when missing)
//   3. generation tokens/s at batch 1 and 16, ours vs node-llama-cpp on the same GGUF (N threads each)
//   4. peak RSS: training the reference config; a 0.5B-shaped (Qwen2.5-0.5B) random model
//   5. one RL step of the `world` preset, --threads 1 vs N (bench/engine/rl-threads.ts)
// The machine is shared, so every rate is printed per wall-second AND per CPU-second of this
// process (process.cpuUsage), with the load average; ratios compare like with like.
// Flags: --quick (shorter runs), --threads N (default: all cores), --skip-llama, --skip-big,
// --skip-torch, --skip-rl, --child=<name> (internal).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createThreadedKernels, createWasmKernels } from '../src/engine/kernels/index.ts';
import { benchRlThreads } from './engine/rl-threads.ts';
import {
  KERNELS_WASM_PATH,
  KERNELS_RELAXED_WASM_PATH,
  relaxedSimdAvailable,
} from '../src/engine/kernels/wasm.ts';
import { presetConfig, countParameters } from '../src/engine/config.ts';
import { Model } from '../src/engine/model.ts';
import { EmbeddedTrainer } from '../src/policy/embedded.ts';
import { matmulModel } from './engine/onnx-matmul.ts';
import { nullTokenizer, referenceTraining, REFERENCE_STEP_TOKENS } from './engine/reference-train.ts';
import { QWEN25_05B } from './qwen05b.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const child = args.find((a) => a.startsWith('--child='))?.slice(8);
const SECONDS = quick ? 0.5 : 1.5;
const THREADS = Number(args.find((a) => a.startsWith('--threads='))?.slice(10) ?? availableParallelism());

interface Rate {
  wall: number;
  cpu: number;
}
/** Runs fn repeatedly for ~SECONDS; returns work units per wall-second and per CPU-second. */
async function rate(work: number, fn: () => unknown | Promise<unknown>, seconds = SECONDS): Promise<Rate> {
  await fn(); // warm-up
  let reps = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < seconds * 1000 || reps < 2) {
    await fn();
    reps++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1e6;
  return { wall: (work * reps) / wall, cpu: (work * reps) / cpu };
}
const f1 = (x: number) => x.toFixed(1);
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

// ------------------------------------------------------------------------------------------ 1
async function benchGemm(): Promise<void> {
  const ortMod = await import('onnxruntime-node');
  const ort = (ortMod as unknown as { default?: typeof ortMod }).default ?? ortMod;
  console.log(`\n## sgemm (C = A·B, f32, single thread)   load: ${load()}`);
  console.log('| shape | ours simd | ours relaxed-simd | onnxruntime | ratio (best ours / ort) |');
  console.log('|---|---|---|---|---|');
  const variants = [createWasmKernels(KERNELS_WASM_PATH)];
  if (relaxedSimdAvailable()) variants.push(createWasmKernels(KERNELS_RELAXED_WASM_PATH));
  for (const [M, K, N] of [
    [512, 512, 512],
    [512, 1024, 4096],
  ]) {
    const flop = 2 * M * N * K;
    const ours: Rate[] = [];
    for (const k of variants) {
      const A = k.arena.alloc(M * K),
        B = k.arena.alloc(K * N),
        C = k.arena.alloc(M * N);
      A.data.fill(0.5);
      B.data.fill(0.25);
      ours.push(await rate(flop / 1e9, () => k.gemm(false, false, M, N, K, 1, A, 0, K, B, 0, N, 0, C, 0, N)));
      if (Math.abs(C.data[0] - 0.125 * K) > 1e-3 * K) throw new Error('gemm result wrong');
      for (const b of [A, B, C]) k.arena.free(b);
    }
    const sess = await ort.InferenceSession.create(matmulModel(M, K, N), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    const A = new ort.Tensor('float32', new Float32Array(M * K).fill(0.5), [M, K]);
    const B = new ort.Tensor('float32', new Float32Array(K * N).fill(0.25), [K, N]);
    const o = await rate(flop / 1e9, () => sess.run({ A, B }));
    await sess.release();
    const best = ours.reduce((a, b) => (b.cpu > a.cpu ? b : a));
    const fmt = (r: Rate | undefined) => (r ? `${f1(r.wall)} wall / ${f1(r.cpu)} cpu GFLOP/s` : 'n/a');
    console.log(
      `| ${M}×${K}·${K}×${N} | ${fmt(ours[0])} | ${fmt(ours[1])} | ${fmt(o)} | ${(best.cpu / o.cpu).toFixed(2)}× (cpu), ${(best.wall / o.wall).toFixed(2)}× (wall) |`,
    );
  }
}

// ------------------------------------------------------------------------------------------ 2
/** PyTorch's tokens/s on the same model (null when torch cannot be installed here). */
function torchTrain(threads: number, seconds: number): Record<string, number> | null {
  const py = '/usr/bin/python3';
  const has = () => spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  const blas = () => spawnSync('dpkg', ['-s', 'libopenblas0-pthread'], { encoding: 'utf8' }).status === 0;
  if (!has() || !blas()) {
    // Debian's torch calls the generic libblas.so.3, the slow reference BLAS until OpenBLAS is in.
    console.log('(installing python3-torch and libopenblas0-pthread with apt-get for the PyTorch peer)');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    spawnSync('apt-get', ['update'], { stdio: 'ignore', env });
    spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'python3-torch', 'libopenblas0-pthread'], {
      stdio: 'ignore',
      env,
    });
    if (!has()) return null;
  }
  // A fair BLAS: one OpenBLAS thread under torch's own `threads` (OpenBLAS threads on top of
  // torch's oversubscribe the cores), and none of this machine's OpenBLAS tuning variables.
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const script = fileURLToPath(new URL('./engine/torch-train.py', import.meta.url));
  const r = spawnSync(py, [script, '--threads', String(threads), '--seconds', String(seconds)], {
    encoding: 'utf8',
    env,
  });
  if (r.status !== 0) throw new Error(`PyTorch peer failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>;
}

async function benchTrain(): Promise<void> {
  const cfg = presetConfig('reference');
  const one = referenceTraining(createWasmKernels());
  const many = referenceTraining(createThreadedKernels(THREADS));
  const seconds = quick ? 2 : 4;
  const rounds = quick ? 1 : 3;
  console.log(
    `\n## training (fwd + bwd + AdamW), reference config (${(countParameters(cfg) / 1e6).toFixed(2)}M params), seq 128 × batch 4, kernels ${many.trainer.model.kernels.variant}   load: ${load()}`,
  );
  console.log(`${rounds} interleaved rounds of ${seconds} s each: engine 1 thread, engine ${THREADS} threads, PyTorch ${THREADS} threads`);
  console.log('| round | engine 1 thread tok/s (wall / cpu) | engine threads tok/s (wall / cpu) | PyTorch tok/s (wall / cpu) | engine threads / PyTorch (wall) |');
  console.log('|---|---|---|---|---|');
  const ratios: number[] = [];
  const speedups: number[] = [];
  let torchInfo = '';
  for (let r = 0; r < rounds; r++) {
    const a = await rate(REFERENCE_STEP_TOKENS, one.step, seconds);
    const b = await rate(REFERENCE_STEP_TOKENS, many.step, seconds);
    const t = args.includes('--skip-torch') ? null : torchTrain(THREADS, seconds);
    if (t) torchInfo = `torch ${t.torch} (${t.threads} threads, OPENBLAS_NUM_THREADS=1)`;
    speedups.push(b.wall / a.wall);
    if (t) ratios.push(b.wall / t.tokens_per_s);
    console.log(
      `| ${r + 1} | ${a.wall.toFixed(0)} / ${a.cpu.toFixed(0)} | ${b.wall.toFixed(0)} / ${b.cpu.toFixed(0)} | ${t ? `${t.tokens_per_s.toFixed(0)} / ${t.tokens_per_cpu_s.toFixed(0)}` : 'n/a'} | ${t ? `${(b.wall / t.tokens_per_s).toFixed(2)}×` : 'n/a'} |`,
    );
  }
  const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor((x.length - 1) / 2)];
  console.log(
    `median: engine ${THREADS} threads / 1 thread ${med(speedups).toFixed(2)}×` +
      (ratios.length ? `; engine ${THREADS} threads / PyTorch ${med(ratios).toFixed(2)}× (goal ≥ 1.0×; ${torchInfo})` : ''),
  );
  one.trainer.dispose();
  many.trainer.dispose();
  many.trainer.model.kernels.close();
}

// ------------------------------------------------------------------------------------------ 3
async function benchGenerate(): Promise<void> {
  const { HfTokenizer, trainBpeTokenizer } = await import('../src/engine/tokenizer.ts');
  const { writeGguf } = await import('../src/engine/io/gguf.ts');
  const cfg = presetConfig('reference');
  const text = 'The quick brown fox jumps over the lazy dog. Paris is the capital of France. '.repeat(20);
  const hf = new HfTokenizer(trainBpeTokenizer([text], { vocabSize: cfg.vocabSize }));
  if (hf.vocabSize > cfg.vocabSize) throw new Error('tokenizer larger than the model vocab');
  const model = new Model(cfg, { seed: 3, initStd: 0.1, kernels: createThreadedKernels(THREADS) });
  const dir = mkdtempSync(join(tmpdir(), 'bench-engine-'));
  const gguf = join(dir, 'reference.gguf');
  const tensors = model.tensors();
  writeGguf(gguf, cfg, tensors, hf, { dtype: 'f32' });
  const tr = EmbeddedTrainer.fromModel(model, nullTokenizer(cfg.vocabSize));
  const NEW = quick ? 32 : 96;
  const prompt = (i: number) => Array.from({ length: 32 }, (_, k) => (k * 31 + i * 17 + 5) % 256);
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  const lm = await llama.loadModel({ modelPath: gguf });
  console.log(
    `\n## generation, reference config, 32-token prompts, ${NEW} new tokens, greedy, ${THREADS} threads each   load: ${load()}`,
  );
  console.log('| batch | ours tok/s (wall / cpu) | llama.cpp tok/s (wall / cpu) | ratio (wall) | ratio (cpu) |');
  console.log('|---|---|---|---|---|');
  for (const B of [1, 16]) {
    const prompts = Array.from({ length: B }, (_, i) => prompt(i));
    const ours = await rate(B * NEW, () =>
      tr.sample({ prompts, maxTokens: NEW, stop: [], temperature: 0, topP: 1 }),
    );
    const ctx = await lm.createContext({ sequences: B, contextSize: 256 * B, threads: THREADS, batchSize: 512 });
    const seqs = Array.from({ length: B }, () => ctx.getSequence());
    const theirs = await rate(B * NEW, async () => {
      await Promise.all(
        seqs.map(async (s, i) => {
          await s.clearHistory();
          let n = 0;
          for await (const _t of s.evaluate(prompts[i] as never[], { temperature: 0 })) {
            void _t;
            if (++n >= NEW) break;
          }
        }),
      );
    });
    await ctx.dispose();
    console.log(
      `| ${B} | ${ours.wall.toFixed(0)} / ${ours.cpu.toFixed(0)} | ${theirs.wall.toFixed(0)} / ${theirs.cpu.toFixed(0)} | ${(ours.wall / theirs.wall).toFixed(2)}× | ${(ours.cpu / theirs.cpu).toFixed(2)}× |`,
    );
  }
  console.log('(rates include prefill of the prompts; llama.cpp uses its default f16 KV cache)');
  await lm.dispose();
  await llama.dispose();
  rmSync(dir, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------ 4

async function childMain(name: string): Promise<void> {
  const t0 = performance.now();
  if (name === 'train-rss') {
    const { trainer: tr, data } = referenceTraining();
    for (let i = 0; i < 3; i++) {
      await tr.forwardBackward(data, { type: 'cross_entropy' });
      await tr.optimStep({
        learningRate: 1e-3,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: 0,
        gradClipNorm: 1,
      });
    }
  } else if (name.startsWith('big-save=')) {
    const { saveHfFolder } = await import('../src/engine/io/hf.ts');
    const m = new Model(QWEN25_05B, { init: false });
    saveHfFolder(name.slice('big-save='.length), { config: QWEN25_05B, tensors: m.namedParameters() });
  } else if (name.startsWith('big-load=')) {
    const tr = await EmbeddedTrainer.load(name.slice('big-load='.length), {
      tokenizer: nullTokenizer(QWEN25_05B.vocabSize),
    });
    console.log(JSON.stringify({ params: tr.model.numParameters() }));
  } else if (name === 'big-rss') {
    const m = new Model(QWEN25_05B, { init: false }); // zero-filled: every page touched, no minutes of random init
    const tr = EmbeddedTrainer.fromModel(m, nullTokenizer(QWEN25_05B.vocabSize));
    const g0 = performance.now();
    const c0 = process.cpuUsage();
    await tr.sample({
      prompts: [Array.from({ length: 16 }, (_, i) => i + 100)],
      maxTokens: 8,
      stop: [],
      temperature: 0,
      topP: 1,
    });
    const cu = process.cpuUsage(c0);
    console.log(
      JSON.stringify({
        params: m.numParameters(),
        genTokPerWallS: 8 / ((performance.now() - g0) / 1000),
        genTokPerCpuS: 8 / ((cu.user + cu.system) / 1e6),
      }),
    );
  }
  console.log(
    JSON.stringify({
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
      seconds: (performance.now() - t0) / 1000,
    }),
  );
}

function runChild(name: string, threads = THREADS): Record<string, number> {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, `--child=${name}`], {
    encoding: 'utf8',
    env: { ...process.env, SEARCH_R1_THREADS: String(threads) },
  });
  if (r.status !== 0) throw new Error(`child ${name} failed: ${r.stderr}`);
  return Object.assign(
    {},
    ...r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>),
  );
}

async function benchMemory(): Promise<void> {
  console.log(`\n## memory (peak RSS of a fresh process)   load: ${load()}`);
  const t1 = runChild('train-rss', 1);
  const t = runChild('train-rss');
  console.log(
    `training the reference config (seq 128 × batch 4, 3 steps): ${t1.maxRssMiB.toFixed(0)} MiB on 1 thread, ${t.maxRssMiB.toFixed(0)} MiB on ${THREADS}`,
  );
  if (!args.includes('--skip-big')) {
    const b = runChild('big-rss');
    console.log(
      `0.5B-shaped model (Qwen2.5-0.5B config, ${(b.params / 1e6).toFixed(0)}M params, fp32) created + 8 greedy tokens: ` +
        `${b.maxRssMiB.toFixed(0)} MiB (weights alone ${((b.params * 4) / 2 ** 20).toFixed(0)} MiB); ` +
        `decode ${b.genTokPerWallS.toFixed(1)} tok/s wall, ${b.genTokPerCpuS.toFixed(1)} per CPU-second (incl. prefill)`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'bench-engine-05b-'));
    try {
      runChild(`big-save=${join(dir, 'm')}`);
      const l = runChild(`big-load=${join(dir, 'm')}`);
      console.log(
        `loading that model from an fp32 HF folder (EmbeddedTrainer.load, ${(l.params / 1e6).toFixed(0)}M params): ` +
          `peak RSS ${l.maxRssMiB.toFixed(0)} MiB, ${l.seconds.toFixed(1)} s`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

if (child) await childMain(child);
else {
  console.log(
    `# engine benchmark  ${new Date().toISOString()}  node ${process.version}  relaxed-simd: ${relaxedSimdAvailable()}`,
  );
  await benchGemm();
  await benchTrain();
  if (!args.includes('--skip-llama')) await benchGenerate();
  await benchMemory();
  if (!args.includes('--skip-rl')) await benchRlThreads(THREADS, quick ? 1 : 2);
}
