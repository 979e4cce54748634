// Benchmark (issue 15): (1) the Tinker wire: a 64-datum × 1,024-token cross_entropy
// forward_backward request and its result, protobuf (+ zstd) vs JSON — payload bytes and
// encode + decode time; (2) a LoRA vs full fine-tuning step (time, optimiser memory) on a model of
// Qwen2.5-0.5B's widths. Full fine-tuning of all 24 layers does not fit the 4 GiB wasm32 memory
// (weights 2 GB + grads 2 GB + AdamW 4 GB), so both are measured at --layers (default 2) of those
// widths, and LoRA alone at full depth with --full-depth.
//
//   node --import tsx bench/tinker-wire.ts [--reps N] [--layers N] [--tokens N] [--full-depth]
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import * as W from '../src/policy/tinker/wire.ts';
import {
  decodeForwardBackwardOutput,
  decodeForwardBackwardRequest,
  encodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
} from '../src/policy/tinker/proto.ts';
import { zstdCompress, zstdDecompress } from '../src/policy/tinker/zstd.ts';
import { Model } from '../src/engine/model.ts';
import type { ModelConfig } from '../src/engine/config.ts';
import { EmbeddedTrainer } from '../src/policy/embedded.ts';
import { LORA_TARGETS } from '../src/engine/lora.ts';
import type { Datum } from '../src/core/trainer.ts';
import type { Tokenizer } from '../src/core/tokenizer.ts';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    layers: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '64' },
    'full-depth': { type: 'boolean', default: false },
  },
});
const REPS = Number(args.reps);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
async function time(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

// ---------- (1) wire ----------
function request(): W.ForwardBackwardRequest {
  let s = 7;
  const r = () => (s = (s * 16807) % 2147483647) / 2147483647;
  const N = 1024;
  const data = Array.from({ length: 64 }, () => {
    const toks = Array.from({ length: N + 1 }, () => Math.floor(r() * 151936));
    return {
      model_input: { chunks: [{ type: 'encoded_text' as const, tokens: toks.slice(0, N) }] },
      loss_fn_inputs: {
        target_tokens: { data: toks.slice(1), dtype: 'int64' as const, shape: [N] },
        weights: {
          data: toks.slice(1).map((_, i) => (i < 200 ? 0 : 1)),
          dtype: 'float32' as const,
          shape: [N],
        },
      },
    };
  });
  return { model_id: 'm', seq_id: 1, forward_backward_input: { loss_fn: 'cross_entropy', data } };
}
function output(): W.ForwardBackwardOutput {
  const f = (n: number) => Array.from({ length: n }, (_, i) => Math.fround(-Math.abs(Math.sin(i)) * 5));
  return {
    loss_fn_output_type: 'cross_entropy',
    loss_fn_outputs: Array.from({ length: 64 }, () => ({
      logprobs: { data: f(1024), dtype: 'float32' as const, shape: [1024] },
      elementwise_loss: { data: f(1024), dtype: 'float32' as const, shape: [1024] },
    })),
    metrics: { 'loss:sum': 123.5, 'num_tokens:sum': 65536 },
  };
}

async function wire(): Promise<void> {
  const req = request();
  const out = output();
  const rows: [string, number, number[]][] = [];
  const run = async (name: string, enc: () => Promise<Uint8Array | string>, dec: (b: never) => unknown) => {
    let bytes = 0;
    const ts: number[] = [];
    for (let i = 0; i < REPS; i++)
      ts.push(
        await time(async () => {
          const b = await enc();
          bytes = typeof b === 'string' ? Buffer.byteLength(b) : b.length;
          await dec(b as never);
        }),
      );
    rows.push([name, bytes, ts]);
  };
  const MAX = 1 << 30;
  await run(
    'request JSON',
    async () => JSON.stringify(req),
    (b: string) => W.ForwardBackwardRequest.parse(JSON.parse(b)),
  );
  await run(
    'request protobuf',
    async () => encodeForwardBackwardRequest(req),
    (b: Uint8Array) => decodeForwardBackwardRequest(b),
  );
  await run(
    'request protobuf+zstd',
    async () => zstdCompress(encodeForwardBackwardRequest(req)),
    async (b: Uint8Array) => decodeForwardBackwardRequest(await zstdDecompress(b, MAX)),
  );
  await run(
    'result JSON',
    async () => JSON.stringify(out),
    (b: string) => W.ForwardBackwardOutput.parse(JSON.parse(b)),
  );
  await run(
    'result protobuf',
    async () => encodeForwardBackwardOutput(out),
    (b: Uint8Array) => decodeForwardBackwardOutput(b),
  );
  console.log(`\n(1) forward_backward wire, 64 datums × 1,024 tokens (median of ${REPS}, encode + decode)`);
  console.log('| payload | bytes | vs JSON | encode+decode ms | vs JSON |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, bytes, ts] of rows) {
    const base = rows.find((r) => r[0] === (name.startsWith('request') ? 'request JSON' : 'result JSON'))!;
    console.log(
      `| ${name} | ${bytes.toLocaleString('en')} | ${(bytes / base[1]).toFixed(3)}× | ${median(ts).toFixed(1)} | ${(median(ts) / median(base[2])).toFixed(2)}× |`,
    );
  }
}

// ---------- (2) LoRA vs full fine-tuning ----------
const tok: Tokenizer = {
  eosTokenIds: [0],
  vocabSize: 151936,
  encode: () => [],
  decode: () => '',
  applyChatTemplate: () => null,
};

function qwen05(layers: number): ModelConfig {
  return {
    arch: 'qwen2',
    vocabSize: 151936,
    hiddenSize: 896,
    intermediateSize: 4864,
    numLayers: layers,
    numHeads: 14,
    numKvHeads: 2,
    headDim: 64,
    ropeTheta: 1e6,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 32768,
  };
}

async function step(
  layers: number,
  lora: boolean,
): Promise<{ ms: number; optimBytes: number; params: number }> {
  const model = new Model(qwen05(layers), { init: false });
  // Small non-zero weights (a random init of this size takes minutes; timing does not depend on values).
  for (const p of model.params) p.w.data.fill(p.shape.length === 1 ? 1 : 0.01);
  const t = EmbeddedTrainer.fromModel(model, tok, { seed: 1 });
  if (lora) t.enableLora({ rank: 32, alpha: 32, targets: [...LORA_TARGETS], seed: 0 });
  const n = Number(args.tokens);
  const batch: Datum[] = [0, 1].map((k) => {
    const toks = Array.from({ length: n + 1 }, (_, i) => (i * 7919 + k * 104729) % 151936);
    return { inputTokens: toks.slice(0, n), targetTokens: toks.slice(1) };
  });
  const adam = { learningRate: 1e-4, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 1 };
  const ts: number[] = [];
  for (let i = 0; i < Math.max(2, Math.min(REPS, 3)); i++)
    ts.push(
      await time(async () => {
        await t.forwardBackward(batch, { type: 'cross_entropy' });
        await t.optimStep(adam);
      }),
    );
  const st = t.getState().optimizer;
  let optimBytes = 0;
  for (const a of [...st.m.values(), ...st.v.values()]) optimBytes += a.byteLength;
  const trainable = lora ? (model.lora?.params ?? []).reduce((s, p) => s + p.size, 0) : model.numParameters();
  t.dispose();
  return { ms: median(ts.slice(1)), optimBytes, params: trainable };
}

async function loraVsFull(): Promise<void> {
  const L = Number(args.layers);
  console.log(
    `\n(2) one training step (forward_backward + optim_step), 2 × ${args.tokens} tokens, Qwen2.5-0.5B widths, ${L} layers`,
  );
  const full = await step(L, false);
  const lora = await step(L, true);
  console.log('| mode | trainable params | optimiser state | step ms |');
  console.log('|---|---:|---:|---:|');
  const row = (name: string, r: typeof full) =>
    console.log(
      `| ${name} | ${r.params.toLocaleString('en')} | ${(r.optimBytes / 2 ** 20).toFixed(1)} MiB | ${r.ms.toFixed(0)} |`,
    );
  row('full fine-tuning', full);
  row('LoRA r=32 (attn+mlp+unembed)', lora);
  console.log(
    `ratio LoRA/full: step time ${(lora.ms / full.ms).toFixed(2)}×, optimiser memory ${(lora.optimBytes / full.optimBytes).toFixed(4)}×`,
  );
  if (args['full-depth']) {
    const deep = await step(24, true);
    console.log(
      `LoRA at full depth (24 layers, 494M base params): step ${deep.ms.toFixed(0)} ms, optimiser ${(deep.optimBytes / 2 ** 20).toFixed(1)} MiB`,
    );
  }
}

console.log(
  `bench/tinker-wire.ts  ${new Date().toISOString()}  load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
await wire();
await loraVsFull();
