// EmbeddedTrainer over HF folders: save → load gives identical outputs; a policy folder loads as
// a critic (fresh zero value head); bad checkpoints and tensors fail with the tensor named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { HfTokenizer, trainBpeTokenizer } from '../../src/engine/tokenizer.ts';
import { randomTokens } from './helpers.ts';

const tok = new HfTokenizer(
  trainBpeTokenizer(['the cat sat on the mat. the dog sat on the log.'], { vocabSize: 300 }),
);
const cfg = { ...presetConfig('tiny', 'qwen2'), vocabSize: 320 };

test('save → load: identical weights, outputs and samples; tokenizer travels with the folder', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'embedded-'));
  try {
    const a = EmbeddedTrainer.create(cfg, tok, { seed: 4 });
    await a.saveWeights(join(dir, 'm'));
    assert.ok(existsSync(join(dir, 'm', 'tokenizer.json')), 'tokenizer.json written');
    const b = await EmbeddedTrainer.load(join(dir, 'm'));
    for (const p of a.model.params) assert.deepEqual(b.model.param(p.name).w.data, p.w.data, p.name);
    const t = randomTokens(20, 300, 3);
    const d = [{ inputTokens: t.slice(0, -1), targetTokens: t.slice(1) }];
    assert.deepEqual(await b.forward(d, { entropy: true }), await a.forward(d, { entropy: true }));
    const req = {
      prompts: [tok.encode('the cat')],
      maxTokens: 6,
      stop: [],
      temperature: 1,
      topP: 1,
      seed: 5,
    };
    assert.deepEqual(await b.sample(req), await a.sample(req));
    assert.equal(b.tokenizer.decode(tok.encode('the dog')), 'the dog');

    // A policy folder as a critic: value head added, starting at 0.
    const critic = await EmbeddedTrainer.load(join(dir, 'm'), { valueHead: true });
    const out = await critic.forward(d);
    assert.ok(out[0].values && out[0].values.every((v) => v === 0), 'fresh critic head outputs 0');
    assert.deepEqual(out[0].logprobs, (await a.forward(d))[0].logprobs);
    await critic.saveWeights(join(dir, 'c'));
    const c2 = await EmbeddedTrainer.load(join(dir, 'c'));
    assert.ok(c2.model.valueW !== null, 'a saved critic reloads as a critic');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadTensors and loadWeights name the missing or misshaped tensor', async () => {
  const m = new Model(cfg, { seed: 1 });
  const good = m.tensors();
  const missing = new Map(good);
  missing.delete('model.layers.1.mlp.up_proj.weight');
  assert.throws(
    () => m.loadTensors(missing, { source: 'x.safetensors' }),
    /x\.safetensors: missing tensor "model\.layers\.1\.mlp\.up_proj\.weight"/,
  );
  const wrong = new Map(good);
  wrong.set('model.norm.weight', { shape: [3], data: new Float32Array(3) });
  assert.throws(() => m.loadTensors(wrong), /"model\.norm\.weight" has shape \[3\], expected \[64\]/);
  const extra = new Map(good);
  extra.set('model.layers.9.foo', { shape: [1], data: new Float32Array(1) });
  assert.throws(() => m.loadTensors(extra), /unexpected tensor "model\.layers\.9\.foo"/);

  const dir = mkdtempSync(join(tmpdir(), 'embedded-bad-'));
  try {
    const small = EmbeddedTrainer.create({ ...cfg, numLayers: 1 }, tok, { seed: 1 });
    await small.saveWeights(dir);
    const big = EmbeddedTrainer.create(cfg, tok, { seed: 1 });
    await assert.rejects(big.loadWeights(dir), /numLayers/);
    await assert.rejects(big.loadWeights(dir + '-nope'), /config\.json/);
    await assert.rejects(small.loadWeights(dir, { optimizer: true }), /no optimizer state/);
    // A config promising more layers than the weights hold: the load names the missing tensor.
    const cfgPath = join(dir, 'config.json');
    const j = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    writeFileSync(cfgPath, JSON.stringify({ ...j, num_hidden_layers: 2 }));
    await assert.rejects(EmbeddedTrainer.load(dir), /model\.layers\.1\.input_layernorm\.weight/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
