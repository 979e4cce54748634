import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetConfig } from '../../../src/engine/config.ts';
import type { ModelConfig } from '../../../src/engine/config.ts';
import { loadHfFolder, saveHfFolder } from '../../../src/engine/io/hf.ts';
import { randomTensors } from '../../../src/engine/io/random-init.ts';
import { writeSafetensors, readSafetensors } from '../../../src/engine/io/safetensors.ts';
import { SEARCH_R1_TAGS, trainBpeTokenizer } from '../../../src/engine/tokenizer.ts';
import { Model } from '../../../src/engine/model.ts';

const tokFiles = trainBpeTokenizer(['Paris is the capital of France. The answer is Paris.'], {
  vocabSize: 300,
  addedTokens: SEARCH_R1_TAGS,
});

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'hf-test-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const arch of ['qwen2', 'llama'] as const) {
  test(`${arch}: a folder written by us reads back identically (config, tensors bit-exact, tokenizer, generation config)`, () =>
    withDir((root) => {
      const config: ModelConfig = { ...presetConfig('tiny', arch), vocabSize: 300 };
      const tensors = randomTensors(config, 7);
      const dir = join(root, 'model');
      saveHfFolder(dir, { config, tensors, tokenizer: tokFiles });
      assert.deepEqual(readdirSync(dir).sort(), [
        'config.json',
        'generation_config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
      const hfCfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(hfCfg.architectures, [arch === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM']);
      assert.equal(hfCfg.torch_dtype, 'float32');
      const back = loadHfFolder(dir);
      assert.deepEqual(back.config, config);
      assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
      for (const [name, t] of tensors) {
        assert.deepEqual(back.tensors.get(name)!.shape, t.shape, name);
        assert.ok(bitsEqual(back.tensors.get(name)!.data, t.data), name);
      }
      assert.ok(back.tokenizer);
      assert.equal(
        back.tokenizer.decode(back.tokenizer.encode('x <answer> Paris </answer>')),
        'x <answer> Paris </answer>',
      );
      const imEnd = back.tokenizer.tokenToId('<|im_end|>')!;
      assert.ok(back.tokenizer.eosTokenIds.includes(imEnd), 'generation_config lists <|im_end|> as EOS');
      assert.ok(back.tokenizer.eosTokenIds.includes(back.tokenizer.tokenToId('<|endoftext|>')!));
      assert.ok(back.tokenizer.chatTemplate?.includes('<|im_start|>'));

      // Saving again over an existing folder replaces it atomically (no temp folders left behind).
      saveHfFolder(dir, {
        config,
        tensors: back.tensors,
        tokenizer: back.tokenizer,
        generationConfig: back.generationConfig,
      });
      assert.deepEqual(readdirSync(root), ['model']);
      // Sharded + bf16: still loads, values are the bf16 roundings.
      const dir2 = join(root, 'sharded');
      saveHfFolder(dir2, { config, tensors, tokenizerDir: dir, dtype: 'BF16', maxShardBytes: 20_000 });
      assert.ok(existsSync(join(dir2, 'model.safetensors.index.json')));
      assert.equal(JSON.parse(readFileSync(join(dir2, 'config.json'), 'utf8')).torch_dtype, 'bfloat16');
      const b16 = loadHfFolder(dir2);
      for (const [name, t] of tensors) {
        const got = b16.tensors.get(name)!.data;
        for (let i = 0; i < t.data.length; i++)
          assert.ok(Math.abs(got[i] - t.data[i]) <= 2 ** -8 * Math.abs(t.data[i]), `${name}[${i}]`);
      }
    }));
}

test('bad checkpoints fail naming the file and the tensor or field', () =>
  withDir((root) => {
    const config = presetConfig('tiny', 'qwen2');
    const tensors = randomTensors(config, 1);
    const dir = join(root, 'm');
    saveHfFolder(dir, { config, tensors });
    const st = join(dir, 'model.safetensors');
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));

    // Missing tensor.
    const all = readSafetensors(st);
    all.delete('model.layers.1.mlp.up_proj.weight');
    writeSafetensors(st, all);
    assert.throws(
      () => loadHfFolder(dir),
      (e: Error) =>
        e.message.includes(st) && e.message.includes('tensor "model.layers.1.mlp.up_proj.weight": missing'),
    );

    // Wrong shape.
    all.set('model.layers.1.mlp.up_proj.weight', { shape: [64, 128], data: new Float32Array(64 * 128) });
    writeSafetensors(st, all);
    assert.throws(
      () => loadHfFolder(dir),
      (e: Error) =>
        e.message.includes(st) &&
        /tensor "model.layers.1.mlp.up_proj.weight": has shape \[64,128\] but the config implies \[128,64\]/.test(
          e.message,
        ),
    );

    // A tensor the architecture does not have (nothing is silently dropped).
    all.set('model.layers.1.mlp.up_proj.weight', { shape: [128, 64], data: new Float32Array(128 * 64) });
    all.set('model.layers.0.self_attn.q_norm.weight', { shape: [16], data: new Float32Array(16) });
    writeSafetensors(st, all);
    assert.throws(
      () => loadHfFolder(dir),
      /tensor "model.layers.0.self_attn.q_norm.weight": is not a parameter/,
    );
    all.delete('model.layers.0.self_attn.q_norm.weight');
    writeSafetensors(st, all);
    assert.ok(loadHfFolder(dir).tensors.size > 0);

    // Unsupported architecture / rope scaling / dtype.
    writeFileSync(
      cfgPath,
      JSON.stringify({ ...cfg, architectures: ['MistralForCausalLM'], model_type: 'mistral' }),
    );
    assert.throws(
      () => loadHfFolder(dir),
      (e: Error) => e.message.includes(cfgPath) && /field "architectures"/.test(e.message),
    );
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, rope_scaling: { rope_type: 'yarn', factor: 4 } }));
    assert.throws(() => loadHfFolder(dir), /field "rope_scaling"/);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, num_hidden_layers: undefined }));
    assert.throws(() => loadHfFolder(dir), /missing field "num_hidden_layers"/);
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const bad = new Map(all);
    // Write one tensor as I64 by hand: the loader must refuse its dtype, naming file and tensor.
    writeSafetensors(st, bad);
    const buf = readFileSync(st);
    const hlen = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + hlen).toString('utf8'));
    header['model.norm.weight'].dtype = 'I32';
    const h = Buffer.from(JSON.stringify(header).padEnd(hlen, ' '));
    assert.equal(h.length, hlen);
    writeFileSync(st, Buffer.concat([buf.subarray(0, 8), h, buf.subarray(8 + hlen)]));
    assert.throws(
      () => loadHfFolder(dir),
      (e: Error) =>
        e.message.includes(st) && /tensor "model.norm.weight": dtype I32 is not supported/.test(e.message),
    );

    // No config.json at all.
    rmSync(cfgPath);
    assert.throws(() => loadHfFolder(dir), /no config\.json/);
  }));

test('saveHfFolder refuses missing or misshapen tensors before writing anything', () =>
  withDir((root) => {
    const config = presetConfig('tiny', 'llama');
    const tensors = randomTensors(config, 2);
    tensors.delete('lm_head.weight');
    assert.throws(
      () => saveHfFolder(join(root, 'x'), { config, tensors }),
      /tensor "lm_head.weight" is missing/,
    );
    assert.deepEqual(readdirSync(root), []);
  }));

test('loads parameters from an engine-style namedParameters() list and keeps the value head', () =>
  withDir((root) => {
    const config: ModelConfig = { ...presetConfig('tiny', 'qwen2'), valueHead: true };
    const tensors = randomTensors(config, 3);
    const named = [...tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));
    saveHfFolder(join(root, 'critic'), { config, tensors: named });
    const back = loadHfFolder(join(root, 'critic'));
    assert.equal(back.config.valueHead, true);
    assert.ok(bitsEqual(back.tensors.get('value_head.weight')!.data, tensors.get('value_head.weight')!.data));
    assert.equal(back.tokenizer, null);
  }));

test('real configs: Qwen2.5-0.5B-Instruct maps field by field; Llama 3.2 rope scaling is refused by name', async () => {
  const { parseHfConfig } = await import('../../../src/engine/io/hf.ts');
  // config.json of Qwen/Qwen2.5-0.5B-Instruct, as published.
  const qwen = {
    architectures: ['Qwen2ForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: 151643,
    eos_token_id: 151645,
    hidden_act: 'silu',
    hidden_size: 896,
    initializer_range: 0.02,
    intermediate_size: 4864,
    max_position_embeddings: 32768,
    max_window_layers: 21,
    model_type: 'qwen2',
    num_attention_heads: 14,
    num_hidden_layers: 24,
    num_key_value_heads: 2,
    rms_norm_eps: 1e-6,
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: true,
    torch_dtype: 'bfloat16',
    transformers_version: '4.43.1',
    use_cache: true,
    use_sliding_window: false,
    vocab_size: 151936,
  };
  assert.deepEqual(parseHfConfig(qwen), {
    arch: 'qwen2',
    vocabSize: 151936,
    hiddenSize: 896,
    intermediateSize: 4864,
    numLayers: 24,
    numHeads: 14,
    numKvHeads: 2,
    headDim: 64,
    ropeTheta: 1000000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 32768,
  });
  assert.throws(() => parseHfConfig({ ...qwen, use_sliding_window: true }), /field "use_sliding_window"/);
  const llama32 = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    head_dim: 64,
    rope_theta: 500000.0,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
    attention_bias: false,
    mlp_bias: false,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    hidden_act: 'silu',
    rope_scaling: {
      factor: 32.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: 'llama3',
    },
  };
  assert.throws(
    () => parseHfConfig(llama32, 'Llama-3.2-1B/config.json'),
    /Llama-3\.2-1B\/config\.json: field "rope_scaling"/,
  );
  const noScaling = parseHfConfig({ ...llama32, rope_scaling: null });
  assert.equal(noScaling.numKvHeads, 8);
  assert.equal(noScaling.attentionBias, false);
});

test('loading into caller-owned arrays (the engine parameter views): no second copy, same values', () =>
  withDir((root) => {
    const config = presetConfig('tiny', 'llama');
    const tensors = randomTensors(config, 4);
    saveHfFolder(join(root, 'm'), { config, tensors, dtype: 'BF16' });
    const model = new Model(config);
    try {
      const views = new Map(model.namedParameters().map((p) => [p.name, p.data]));
      const f = loadHfFolder(join(root, 'm'), { into: (name) => views.get(name) ?? null });
      const plain = loadHfFolder(join(root, 'm'));
      for (const [name, view] of views) {
        assert.equal(f.tensors.get(name)!.data, view, `${name} was read into the model's own memory`);
        const want = plain.tensors.get(name)!.data;
        assert.ok(bitsEqual(view, want), name);
      }
      assert.throws(
        () => loadHfFolder(join(root, 'm'), { into: () => new Float32Array(3) }),
        /tensor "model.embed_tokens.weight": target array has 3 elements/,
      );
    } finally {
      model.dispose();
    }
  }));

test('a sharded folder whose index disagrees with the shards fails naming shard and tensor', () =>
  withDir((root) => {
    const config = presetConfig('tiny', 'qwen2');
    const dir = join(root, 's');
    saveHfFolder(dir, { config, tensors: randomTensors(config, 5), maxShardBytes: 40_000 });
    const indexPath = join(dir, 'model.safetensors.index.json');
    const idx = JSON.parse(readFileSync(indexPath, 'utf8'));
    const map = idx.weight_map as Record<string, string>;
    const count = (f: string) => Object.values(map).filter((v) => v === f).length;
    // A shard that keeps other tensors after we re-map one of its tensors elsewhere.
    const shards = [...new Set(Object.values(map))].sort((a, b) => count(b) - count(a));
    assert.ok(shards.length >= 2 && count(shards[0]) >= 2);
    const name = Object.keys(map).find((n) => map[n] === shards[0])!;
    map[name] = shards[1];
    writeFileSync(indexPath, JSON.stringify(idx));
    assert.throws(
      () => loadHfFolder(dir),
      (e: Error) =>
        e.message.includes(shards[0]) && e.message.includes(`tensor "${name}": is not listed for this file`),
    );
  }));
