// A LoRA run through serve-trainer (create_model with lora_config, driven by our Tinker client through
// the RL steps of ./rl-step.ts, sampling from the adapted model's sampler weights) equals the same run
// in process (EmbeddedTrainer.enableLora): the adapter the server saves equals the in-process one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdamWParams } from '../../src/core/trainer.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { readSafetensors } from '../../src/engine/io/safetensors.ts';
import { LORA_TARGETS } from '../../src/engine/lora.ts';
import { serveTrainer } from '../../src/cli/commands/serve-trainer.ts';
import { TinkerTrainer } from '../../src/policy/tinker/trainer.ts';
import { CHECKPOINT_POINTER } from '../../src/policy/tinker/index.ts';
import * as W from '../../src/policy/tinker/wire.ts';
import { MODES, perPromptSampling, rlStep } from './rl-step.ts';
import { writeTinyModel } from './tiny-model.ts';

const ADAM: AdamWParams = {
  learningRate: 0.02,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-6,
  weightDecay: 0,
  gradClipNorm: 1,
};

test('LoRA through serve-trainer equals the in-process LoRA run; get_info/weights_info report it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-lora-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { tok, modelDir } = await writeTinyModel(dir, 'tiny-model');
  const STEPS = MODES.length;

  // In process: rank 4, alpha 32 (serve-trainer's default), every target (train_attn/mlp/unembed), seed 3.
  const engine = await EmbeddedTrainer.load(modelDir);
  const lora = engine.enableLora({ rank: 4, alpha: 32, targets: [...LORA_TARGETS], seed: 3 });
  const local = perPromptSampling(engine);
  const localRef = await EmbeddedTrainer.load(modelDir);
  for (let s = 0; s < STEPS; s++) await rlStep(local, localRef, s, MODES[s]!, ADAM);

  const { server, url } = await serveTrainer({ model: modelDir, port: 0, checkpointDir: join(dir, 'ckpt') });
  t.after(() => server.close());
  const client = await TinkerTrainer.create({
    baseUrl: url,
    baseModel: 'tiny-model',
    tokenizer: tok,
    lora: { rank: 4, seed: 3 },
    http: { log: () => {} },
  });
  let modelId = '';
  try {
    const ref = await EmbeddedTrainer.load(modelDir);
    for (let s = 0; s < STEPS; s++) await rlStep(client, ref, s, MODES[s]!, ADAM);
    await client.saveWeights(join(dir, 'pointer'));
    const info = W.GetInfoResponse.parse(await client.getInfo());
    assert.equal(info.is_lora, true);
    assert.equal(info.lora_rank, 4);
    modelId = info.model_id;
  } finally {
    await client.close();
  }
  const pointer = JSON.parse(readFileSync(join(dir, 'pointer', CHECKPOINT_POINTER), 'utf8')) as {
    tinker_path: string;
  };
  const m = /^tinker:\/\/([^/]+)\/weights\/([^/]+)$/.exec(pointer.tinker_path);
  assert.ok(m && m[1] === modelId, pointer.tinker_path);
  const ckpt = join(dir, 'ckpt', m[1]!, 'weights', m[2]!);
  assert.ok(existsSync(join(ckpt, 'adapter_config.json')), 'the checkpoint is a PEFT adapter');
  const wi = await fetch(`${url}/api/v1/weights_info`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tinker_path: pointer.tinker_path }),
  });
  assert.deepEqual(W.WeightsInfoResponse.parse(await wi.json()), {
    base_model: 'tiny-model',
    is_lora: true,
    lora_rank: 4,
    train_attn: true,
    train_mlp: true,
    train_unembed: true,
  });
  const saved = readSafetensors(join(ckpt, 'adapter_model.safetensors'));
  assert.equal(saved.size, lora.params.length);
  let maxDiff = 0;
  let moved = 0;
  for (const p of lora.params) {
    const s = saved.get(p.name);
    assert.ok(s, `saved adapter has ${p.name}`);
    for (let i = 0; i < p.size; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(s.data[i]! - p.w.data[i]!));
      if (p.name.includes('lora_B')) moved = Math.max(moved, Math.abs(p.w.data[i]!));
    }
  }
  assert.ok(moved > 1e-3, `training moved the adapters (${moved})`);
  assert.ok(maxDiff < 1e-5, `served vs in-process adapters: max |Δ| = ${maxDiff}`);
});
