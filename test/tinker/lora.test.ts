// LoRA in the engine (src/engine/lora.ts, docs/lora.md): adapter gradients against central finite
// differences (float64 path), zero-init is a no-op, merged = unmerged, PEFT files round-trip, a step
// changes adapter parameters only, and sampling sees the adapted model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.ts';
import { TrainingPass, type SeqIn } from '../../src/engine/forward.ts';
import { LoraAdapters, LORA_TARGETS, parseLoraTargets, type LoraConfig } from '../../src/engine/lora.ts';
import { presetConfig, type Arch } from '../../src/engine/config.ts';
import { readSafetensors } from '../../src/engine/io/safetensors.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { createTrainer } from '../../src/policy/backends.ts';
import { flagsToOverrides } from '../../src/cli/commands/train.ts';
import {
  byteTokenizer,
  f64Model,
  microConfig,
  randomTokens,
  randomizeNonMatrices,
} from '../engine/helpers.ts';

function batchFor(V: number, lens: number[], seed: number): SeqIn[] {
  return lens.map((n, i) => {
    const t = randomTokens(n + 1, V, seed + i);
    return { inputs: t.slice(0, n), targets: t.slice(1) };
  });
}

function upstream(lens: number[], seed: number) {
  let s = seed;
  const r = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  return {
    dLogprobs: lens.map((n) => Float32Array.from({ length: n }, r)),
    dEntropy: lens.map((n) => Float32Array.from({ length: n }, r)),
  };
}

function lossOf(m: Model, batch: SeqIn[], up: ReturnType<typeof upstream>): number {
  const pass = new TrainingPass(m);
  const o = pass.forward(batch, false);
  pass.dispose();
  let L = 0;
  for (let s = 0; s < batch.length; s++)
    for (let t = 0; t < batch[s]!.inputs.length; t++)
      L += up.dLogprobs[s]![t]! * o.logprobs[s]![t]! + up.dEntropy[s]![t]! * o.entropy[s]![t]!;
  return L;
}

function randomizeB(lora: LoraAdapters, seed: number, scale = 0.3): void {
  let s = seed;
  const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  for (const p of lora.params)
    if (p.name.includes('lora_B')) for (let i = 0; i < p.size; i++) p.w.data[i] = scale * r();
}

const ALL: LoraConfig = { rank: 3, alpha: 6, targets: [...LORA_TARGETS], seed: 5 };

for (const arch of ['qwen2', 'llama'] as Arch[]) {
  test(`${arch}: LoRA A and B gradients match central finite differences; base weights get none (float64)`, () => {
    const cfg = microConfig(arch);
    const m = f64Model(cfg, 7);
    randomizeNonMatrices(m, 3);
    const lora = new LoraAdapters(m, ALL);
    m.lora = lora;
    for (const p of m.params) p.frozen = true;
    randomizeB(lora, 9);
    const lens = [5, 1, 9];
    const batch = batchFor(cfg.vocabSize, lens, 11);
    const up = upstream(lens, 5);
    const pass = new TrainingPass(m);
    pass.forward(batch, true);
    pass.backward(up);
    for (const p of m.params) assert.equal(p.g, null, `${p.name} is frozen: no gradient buffer`);
    const eps = 1e-5;
    let checked = 0;
    for (const p of lora.params) {
      const w = p.w.data,
        g = p.g!.data;
      for (const i of new Set([0, p.size - 1, Math.floor(p.size / 2)])) {
        const w0 = w[i]!;
        w[i] = w0 + eps;
        const lp = lossOf(m, batch, up);
        w[i] = w0 - eps;
        const lm = lossOf(m, batch, up);
        w[i] = w0;
        const fd = (lp - lm) / (2 * eps);
        const err = Math.abs(fd - g[i]!) / Math.max(1e-6, Math.abs(fd) + Math.abs(g[i]!));
        assert.ok(
          err < 1e-5 || Math.abs(fd - g[i]!) < 1e-8,
          `${p.name}[${i}]: analytic ${g[i]} vs finite difference ${fd}`,
        );
        checked++;
      }
    }
    assert.equal(lora.params.length, 2 * (7 * cfg.numLayers + 1));
    assert.ok(checked >= 3 * lora.params.length - 4);
  });

  test(`${arch}: a fresh adapter (B = 0) leaves outputs unchanged; merged and unmerged forwards agree`, () => {
    const cfg = microConfig(arch);
    const m = f64Model(cfg, 7);
    randomizeNonMatrices(m, 3);
    const batch = batchFor(cfg.vocabSize, [6, 3], 2);
    const plain = new TrainingPass(m).forward(batch, false);
    const lora = new LoraAdapters(m, ALL);
    m.lora = lora;
    const fresh = new TrainingPass(m).forward(batch, false);
    assert.deepEqual(fresh.logprobs, plain.logprobs);
    // A is PEFT's kaiming-uniform: within ±1/√in and not all zero.
    const A = lora.params.find((p) => p.name.endsWith('layers.0.self_attn.q_proj.lora_A.weight'))!;
    assert.ok(
      A.w.data.every((x) => Math.abs(x) <= 1 / Math.sqrt(cfg.hiddenSize)) && A.w.data.some((x) => x !== 0),
    );

    randomizeB(lora, 4);
    const adapted = new TrainingPass(m).forward(batch, false);
    assert.notDeepEqual(adapted.logprobs, plain.logprobs);
    // Export path: merged tensors in a fresh model (untied when the unembedding is adapted).
    const merged = lora.mergedTensors();
    const cfg2 = { ...cfg, tieWordEmbeddings: false };
    const m2 = f64Model(cfg2, 1);
    m2.loadTensors(new Map(merged.map((t) => [t.name, t])));
    const viaExport = new TrainingPass(m2).forward(batch, false);
    // In-place merge (sampling path): every adapter except a tied unembedding; the rest is a hook.
    lora.merge();
    m.lora = null;
    const before = new TrainingPass(m).forward(batch, false);
    m.lora = lora;
    lora.unmerge();
    for (let s = 0; s < batch.length; s++)
      for (let t = 0; t < batch[s]!.inputs.length; t++) {
        const [x, y, z] = [viaExport.logprobs[s]![t]!, adapted.logprobs[s]![t]!, before.logprobs[s]![t]!];
        assert.ok(Math.abs(x - y) < 1e-6, `export (float32 tensors) ${x} vs hooks ${y}`);
        if (arch === 'llama') assert.ok(Math.abs(z - y) < 1e-9, `in-place merge ${z} vs hooks ${y}`);
      }
    // unmerge restores the base exactly.
    const again = new TrainingPass(m).forward(batch, false);
    assert.deepEqual(again.logprobs, adapted.logprobs);
  });
}

test('--lora-targets parsing', () => {
  assert.deepEqual(parseLoraTargets('attn'), ['q_proj', 'k_proj', 'v_proj', 'o_proj']);
  assert.deepEqual(parseLoraTargets('mlp,unembed'), ['gate_proj', 'up_proj', 'down_proj', 'lm_head']);
  assert.deepEqual(parseLoraTargets('q_proj,v_proj,q_proj'), ['q_proj', 'v_proj']);
  assert.throws(() => parseLoraTargets('attn,foo'), /--lora-targets: unknown "foo"/);
});

function tinyTrainer(seed = 1): EmbeddedTrainer {
  const cfg = { ...presetConfig('tiny', 'qwen2'), vocabSize: 259 };
  return EmbeddedTrainer.fromModel(new Model(cfg, { seed }), byteTokenizer(259), { seed: 3 });
}

const datums = () =>
  ['the cat sat', 'a dog ran far'].map((s) => {
    const t = [...new TextEncoder().encode(s)];
    return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) };
  });

test('EmbeddedTrainer LoRA: a step changes adapter parameters only; sampling sees the adapter; PEFT files round-trip', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lora-'));
  try {
    const tr = tinyTrainer();
    const base = new Map(tr.model.params.map((p) => [p.name, Float32Array.from(p.w.data)]));
    const lora = tr.enableLora({
      rank: 4,
      alpha: 8,
      targets: parseLoraTargets('attn,mlp,unembed'),
      seed: 11,
    });
    const adapter0 = lora.params.map((p) => Float32Array.from(p.w.data));
    const sampleReq = {
      prompts: [[116, 104, 101]],
      maxTokens: 8,
      temperature: 1,
      topP: 1,
      n: 2,
      seed: 5,
      stop: [],
    };
    const s0 = await tr.sample(sampleReq);
    for (let step = 0; step < 3; step++) {
      await tr.forwardBackward(datums(), { type: 'cross_entropy' });
      await tr.optimStep({
        learningRate: 0.05,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: 0.01,
        gradClipNorm: 1,
      });
    }
    for (const p of tr.model.params) {
      assert.deepEqual(p.w.data, base.get(p.name), `${p.name} is frozen`);
      assert.equal(p.g, null);
    }
    assert.ok(lora.params.every((p) => (p.name.includes('lora_B') ? p.w.data.some((x) => x !== 0) : true)));
    assert.ok(lora.params.some((p, i) => p.w.data.some((x, j) => x !== adapter0[i]![j])));
    const st = tr.getState().optimizer;
    assert.deepEqual(
      [...st.m.keys()].sort(),
      lora.params.map((p) => p.name).sort(),
      'optimiser state: adapters only',
    );
    // Sampling runs on the adapted model, and leaves the base weights exactly as they were.
    const s1 = await tr.sample(sampleReq);
    assert.notDeepEqual(s1, s0);
    for (const p of tr.model.params) assert.deepEqual(p.w.data, base.get(p.name));
    const lpTrained = (await tr.forward(datums()))[0]!.logprobs;

    // PEFT layout.
    await tr.saveWeights(join(dir, 'a'), { optimizer: true });
    const cfgJson = JSON.parse(readFileSync(join(dir, 'a', 'adapter_config.json'), 'utf8'));
    assert.equal(cfgJson.peft_type, 'LORA');
    assert.equal(cfgJson.r, 4);
    assert.equal(cfgJson.lora_alpha, 8);
    assert.deepEqual([...cfgJson.target_modules].sort(), [
      'down_proj',
      'gate_proj',
      'k_proj',
      'lm_head',
      'o_proj',
      'q_proj',
      'up_proj',
      'v_proj',
    ]);
    const t = readSafetensors(join(dir, 'a', 'adapter_model.safetensors'));
    assert.deepEqual(t.get('base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight')!.shape, [4, 64]);
    assert.deepEqual(t.get('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight')!.shape, [64, 4]);
    assert.deepEqual(t.get('base_model.model.lm_head.lora_B.weight')!.shape, [259, 4]);
    assert.equal(t.size, 2 * (7 * 2 + 1));

    // Load onto a fresh trainer of the same base: same outputs, same optimiser state.
    const tr2 = tinyTrainer();
    await tr2.loadWeights(join(dir, 'a'), { optimizer: true });
    assert.deepEqual((await tr2.forward(datums()))[0]!.logprobs, lpTrained);
    assert.equal(tr2.getState().optimizer.step, 3);
    // A mismatched adapter is refused naming the file.
    const tr3 = tinyTrainer();
    tr3.enableLora({ rank: 2, alpha: 8, targets: ['q_proj'], seed: 1 });
    await assert.rejects(tr3.loadWeights(join(dir, 'a')), /adapter_config\.json: r=4 alpha=8/);

    // Merged export: a plain HF folder whose full model equals the adapted one.
    await tr.saveMerged(join(dir, 'merged'));
    const full = await EmbeddedTrainer.load(join(dir, 'merged'), { tokenizer: byteTokenizer(259) });
    const lpFull = (await full.forward(datums()))[0]!.logprobs;
    for (let i = 0; i < lpFull.length; i++) assert.ok(Math.abs(lpFull[i]! - lpTrained[i]!) < 1e-4);
    for (const x of [tr, tr2, tr3, full]) x.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('train --lora-rank/--lora-alpha/--lora-targets → backendOptions.lora → an embedded LoRA policy (critic in full)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lora-cli-'));
  try {
    const o = flagsToOverrides({ loraRank: 4, loraAlpha: 16, loraTargets: 'attn,lm_head' }) as {
      backendOptions: { lora: unknown };
    };
    assert.deepEqual(o.backendOptions.lora, { rank: 4, alpha: 16, targets: 'attn,lm_head' });
    assert.throws(() => flagsToOverrides({ loraAlpha: 16 }), /need --lora-rank/);
    await tinyTrainer().saveWeights(join(dir, 'm'));
    const spec = {
      backend: 'embedded' as const,
      model: join(dir, 'm'),
      seed: 2,
      options: { ...o.backendOptions, tokenizer: byteTokenizer(259) },
    };
    const policy = (await createTrainer(spec)) as EmbeddedTrainer;
    assert.deepEqual(policy.model.lora?.config, {
      rank: 4,
      alpha: 16,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'lm_head'],
      seed: 2,
    });
    const critic = (await createTrainer({ ...spec, valueHead: true })) as EmbeddedTrainer;
    assert.equal(critic.model.lora, null);
    await assert.rejects(
      createTrainer({ ...spec, options: { ...spec.options, lora: { rank: 4, targets: 'attn,foo' } } }),
      /--lora-targets: unknown "foo"/,
    );
    policy.dispose();
    critic.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
