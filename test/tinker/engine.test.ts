// The embedded engine (EmbeddedTrainer, a tiny random Qwen2) served by `serveTrainer` (the
// library function behind `search-r1 serve-trainer`), driven by the Tinker client through the RL
// steps of ./rl-step.ts: the weights the server saves (save_weights → HF folder) must equal the
// weights of the same run in process, within fp32 tolerance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdamWParams } from '../../src/core/trainer.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { HfTokenizer, trainBpeTokenizer } from '../../src/engine/tokenizer.ts';
import { loadHfFolder } from '../../src/engine/io/hf.ts';
import { presetConfig } from '../../src/engine/config.ts';
import { serveTrainer } from '../../src/cli/commands/serve-trainer.ts';
import { TinkerTrainer } from '../../src/policy/tinker/trainer.ts';
import { CHECKPOINT_POINTER } from '../../src/policy/tinker/index.ts';
import { MODES, perPromptSampling, rlStep } from './rl-step.ts';
import { readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { writeTinyModel } from './tiny-model.ts';

const ADAM: AdamWParams = {
  learningRate: 0.01,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-6,
  weightDecay: 0.01,
  gradClipNorm: 1.0,
};

test('embedded engine behind serve-trainer: RL steps through the client equal the in-process run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-engine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { tok, modelDir } = await writeTinyModel(dir, 'tiny-model');
  const STEPS = MODES.length;

  // In process.
  const engine = await EmbeddedTrainer.load(modelDir);
  // Workaround for an engine bug (gradient buffers are not zeroed when first allocated; see
  // notes/issue-8-tinker.md): serve-trainer's provider does the same.
  engine.model.ensureGrads();
  engine.model.zeroGrad();
  const local = perPromptSampling(engine);
  const localRef = await EmbeddedTrainer.load(modelDir);
  for (let s = 0; s < STEPS; s++) await rlStep(local, localRef, s, MODES[s]!, ADAM);

  // Served.
  const { server, url } = await serveTrainer({ model: modelDir, port: 0, checkpointDir: join(dir, 'ckpt') });
  t.after(() => server.close());
  const client = await TinkerTrainer.create({
    baseUrl: url,
    baseModel: 'tiny-model',
    tokenizer: tok,
    http: { log: () => {} },
  });
  try {
    const ref = await EmbeddedTrainer.load(modelDir);
    for (let s = 0; s < STEPS; s++) await rlStep(client, ref, s, MODES[s]!, ADAM);
    await client.saveWeights(join(dir, 'pointer'));
  } finally {
    await client.close();
  }
  const pointer = JSON.parse(readFileSync(join(dir, 'pointer', CHECKPOINT_POINTER), 'utf8')) as {
    tinker_path: string;
  };
  const m = /^tinker:\/\/([^/]+)\/weights\/([^/]+)$/.exec(pointer.tinker_path);
  assert.ok(m, pointer.tinker_path);
  const saved = loadHfFolder(join(dir, 'ckpt', m[1]!, 'weights', m[2]!), { noTokenizer: true });
  const initial = loadHfFolder(modelDir, { noTokenizer: true });
  let maxDiff = 0;
  let moved = 0;
  for (const p of local.model.namedParameters()) {
    const s = saved.tensors.get(p.name);
    assert.ok(s, `saved checkpoint has ${p.name}`);
    const init = initial.tensors.get(p.name)!;
    for (let i = 0; i < p.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(s.data[i]! - p.data[i]!));
      moved = Math.max(moved, Math.abs(init.data[i]! - p.data[i]!));
    }
  }
  assert.ok(moved > 1e-3, `training moved the parameters (${moved})`);
  assert.ok(maxDiff < 1e-5, `served vs in-process parameters: max |Δ| = ${maxDiff}`);
});

test('search-r1 serve-trainer CLI: serves a model folder, answers the API, stops on SIGTERM; bad folder → clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tok = new HfTokenizer(trainBpeTokenizer(['ab< cd<'], { vocabSize: 270 }));
  const config = {
    ...presetConfig('tiny'),
    vocabSize: tok.vocabSize,
    hiddenSize: 16,
    intermediateSize: 32,
    headDim: 4,
  };
  const modelDir = join(dir, 'cli-model');
  await EmbeddedTrainer.create(config, tok, { seed: 1 }).saveWeights(modelDir);
  const bin = join(import.meta.dirname, '..', '..', 'bin', 'search-r1.mjs');
  const child = spawn(
    process.execPath,
    [bin, 'serve-trainer', '--model', modelDir, '--port', '0', '--checkpoint-dir', join(dir, 'ck')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /Tinker API on (http:\/\/[^\s]+)\/api\/v1/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve-trainer exited with ${code}: ${stderr}`)));
  });
  assert.deepEqual(await (await fetch(`${url}/api/v1/healthz`)).json(), { status: 'ok' });
  const caps = (await (await fetch(`${url}/api/v1/get_server_capabilities`)).json()) as {
    supported_models: { model_name: string; max_context_length: number }[];
  };
  assert.deepEqual(caps.supported_models, [
    { model_name: 'cli-model', max_context_length: config.maxPositionEmbeddings },
  ]);
  const client = await TinkerTrainer.create({
    baseUrl: url,
    baseModel: 'cli-model',
    tokenizer: tok,
    http: { log: () => {} },
  });
  const [[c]] = await client.sample({
    prompts: [tok.encode('ab<')],
    maxTokens: 3,
    stop: [],
    temperature: 1,
    topP: 1,
    seed: 2,
  });
  assert.equal(c!.tokens.length, c!.logprobs.length);
  await client.close();
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0);

  const bad = spawnSync(
    process.execPath,
    [bin, 'serve-trainer', '--model', join(dir, 'missing'), '--port', '0'],
    { encoding: 'utf8' },
  );
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /missing/);
});

test('embedded critic over the API: values and a value-loss step equal the in-process critic', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-critic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tok = new HfTokenizer(trainBpeTokenizer(['ab< cd< ej<'], { vocabSize: 270 }));
  const config = {
    ...presetConfig('tiny'),
    vocabSize: tok.vocabSize,
    hiddenSize: 16,
    intermediateSize: 32,
    headDim: 4,
  };
  const modelDir = join(dir, 'critic-model');
  await EmbeddedTrainer.create(config, tok, { seed: 4 }).saveWeights(modelDir);
  const batch = [1, 2].map((k) => {
    const full = tok.encode(k === 1 ? 'ab< cd<' : 'ej< ab< cd<');
    return { inputTokens: full.slice(0, -1), targetTokens: full.slice(1) };
  });
  // 0.5·Σ (V − 1)²: the value head learns towards 1.
  const valueLoss: import('../../src/core/trainer.ts').LossSpec = {
    type: 'custom',
    fn: (outs) => ({
      loss: outs.reduce((a, o) => a + o.values!.reduce((b, v) => b + 0.5 * (v - 1) ** 2, 0), 0),
      dLogprobs: outs.map((o) => new Float32Array(o.logprobs.length)),
      dValues: outs.map((o) => o.values!.map((v) => v - 1)),
    }),
  };
  const local = await EmbeddedTrainer.load(modelDir, { valueHead: true });
  local.model.ensureGrads();
  local.model.zeroGrad();
  const { server, url } = await serveTrainer({ model: modelDir, port: 0, checkpointDir: join(dir, 'ck') });
  t.after(() => server.close());
  const client = await TinkerTrainer.create({
    baseUrl: url,
    baseModel: 'critic-model',
    tokenizer: tok,
    role: 'critic',
    http: { log: () => {} },
  });
  try {
    for (let step = 0; step < 3; step++) {
      for (const tr of [local, client]) {
        await tr.forwardBackward(batch, valueLoss);
        await tr.optimStep(ADAM);
      }
      const [a, b] = [await local.forward(batch), await client.forward(batch)];
      for (let i = 0; i < batch.length; i++) {
        for (let k = 0; k < a[i]!.values!.length; k++) {
          assert.ok(Math.abs(a[i]!.values![k]! - b[i]!.values![k]!) < 1e-5, `values agree at step ${step}`);
        }
      }
    }
    const after = await client.forward(batch);
    assert.ok(
      after[0]!.values!.some((v) => Math.abs(v) > 1e-3),
      'the value head moved away from 0',
    );
  } finally {
    await client.close();
  }
});
