// Benchmark: the cost of going through the Tinker API. The same engine model (presetConfig
// 'reference', ~3.3M parameters, random init) is driven in process (the peer: EmbeddedTrainer)
// and through TinkerTrainer → JSON over loopback HTTP → serve-trainer (same process), and the
// ratios are printed: per-call latency of forward / forward_backward(custom) / optim_step /
// sample, and one GRPO-style step.
//
//   node --import tsx bench/tinker.ts [--reps N] [--batch N] [--len N]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import type { AdamWParams, Datum, LossSpec, Trainer } from '../src/core/trainer.ts';
import { EmbeddedTrainer } from '../src/policy/embedded.ts';
import { HfTokenizer, trainBpeTokenizer } from '../src/engine/tokenizer.ts';
import { presetConfig } from '../src/engine/config.ts';
import { serveTrainer } from '../src/cli/commands/serve-trainer.ts';
import { TinkerTrainer } from '../src/policy/tinker/trainer.ts';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    batch: { type: 'string', default: '8' },
    len: { type: 'string', default: '96' },
  },
});
const REPS = Number(args.reps);
const B = Number(args.batch);
const LEN = Number(args.len);

const ADAM: AdamWParams = {
  learningRate: 1e-4,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0,
  gradClipNorm: 1,
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timeIt(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function batch(V: number, seed: number): Datum[] {
  let s = seed;
  const r = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  return Array.from({ length: B }, () => {
    const full = Array.from({ length: LEN + 1 }, () => 3 + Math.floor(r() * (V - 3)));
    return {
      inputTokens: full.slice(0, -1),
      targetTokens: full.slice(1),
      weights: new Float32Array(LEN).fill(1 / (B * LEN)),
    };
  });
}

const customCe: LossSpec = {
  type: 'custom',
  fn: (outs) => ({
    loss: 0,
    dLogprobs: outs.map((o) => new Float32Array(o.logprobs.length).fill(-1 / (B * LEN))),
  }),
};

async function measure(t: Trainer, V: number): Promise<Record<string, number>> {
  const d = batch(V, 7);
  const prompts = [0, 1, 2, 3].map((i) => batch(V, 100 + i)[0]!.inputTokens.slice(0, 24));
  const res: Record<string, number[]> = {
    forward: [],
    'forward_backward(custom)': [],
    'forward_backward(cross_entropy)': [],
    optim_step: [],
    'sample 4×4×16': [],
    'pipelined fb+optim': [],
  };
  await t.forward(d); // warm-up
  for (let k = 0; k < REPS; k++) {
    res.forward!.push(await timeIt(() => t.forward(d)));
    res['forward_backward(custom)']!.push(await timeIt(() => t.forwardBackward(d, customCe)));
    res['forward_backward(cross_entropy)']!.push(
      await timeIt(() => t.forwardBackward(d, { type: 'cross_entropy' })),
    );
    res.optim_step!.push(await timeIt(() => t.optimStep(ADAM)));
    res['sample 4×4×16']!.push(
      await timeIt(() =>
        t.sample({ prompts, maxTokens: 16, stop: [], temperature: 1, topP: 1, n: 4, seed: k }),
      ),
    );
    res['pipelined fb+optim']!.push(
      await timeIt(() => Promise.all([t.forwardBackward(d, { type: 'cross_entropy' }), t.optimStep(ADAM)])),
    );
  }
  return Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v)]));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-tinker-'));
  try {
    const tok = new HfTokenizer(
      trainBpeTokenizer(['the quick brown fox jumps over the lazy dog <search> </search>'], {
        vocabSize: 512,
      }),
    );
    const config = { ...presetConfig('reference'), vocabSize: 512 };
    const modelDir = join(dir, 'bench-model');
    await EmbeddedTrainer.create(config, tok, { seed: 3 }).saveWeights(modelDir);

    const local = await EmbeddedTrainer.load(modelDir);
    local.model.ensureGrads();
    local.model.zeroGrad();
    const peer = await measure(local, config.vocabSize);
    local.dispose();

    const { server, url } = await serveTrainer({ model: modelDir, port: 0, checkpointDir: join(dir, 'ck') });
    const client = await TinkerTrainer.create({ baseUrl: url, baseModel: 'bench-model', tokenizer: tok });
    const remote = await measure(client, config.vocabSize);
    await client.close();
    await server.close();

    console.log(
      `Tinker API overhead: model presetConfig('reference') (vocab 512), batch ${B}×${LEN} tokens, median of ${REPS}`,
    );
    console.log(
      `load average: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    console.log(
      '| call | in-process (EmbeddedTrainer) ms | via Tinker API (loopback) ms | ratio API / in-process |',
    );
    console.log('|---|---:|---:|---:|');
    for (const k of Object.keys(peer)) {
      console.log(
        `| ${k} | ${peer[k]!.toFixed(1)} | ${remote[k]!.toFixed(1)} | ${(remote[k]! / peer[k]!).toFixed(2)}× |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
