import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { convertModel, describeModel, initModel } from '../../../src/cli/commands/model.ts';
import { generateText } from '../../../src/cli/commands/generate.ts';
import { buildProgram } from '../../../src/cli/main.ts';
import { presetConfig } from '../../../src/engine/config.ts';
import type { ModelConfig } from '../../../src/engine/config.ts';
import { loadHfFolder, saveHfFolder } from '../../../src/engine/io/hf.ts';
import { randomTensors } from '../../../src/engine/io/random-init.ts';
import { Model } from '../../../src/engine/model.ts';
import { referenceLogits } from './reference-forward.ts';

function withDir(fn: (dir: string) => Promise<void> | void) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'model-cli-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'model init writes a loadable folder; same seed → same weights; --tokenizer copies a tokenizer',
  withDir((root) => {
    const a = initModel({ arch: 'llama', preset: 'reference', seed: 5, out: join(root, 'a') });
    assert.equal(a.config.arch, 'llama');
    assert.ok(
      a.tokenizerSize <= 512 && a.tokenizerSize > 400,
      `BPE on built-in text: ${a.tokenizerSize} tokens`,
    );
    const fa = loadHfFolder(join(root, 'a'));
    assert.equal(fa.tokenizer!.encode('<search>').length, 1, 'reference preset has room for the tags');
    initModel({
      arch: 'llama',
      preset: 'reference',
      seed: 5,
      out: join(root, 'b'),
      tokenizerDir: join(root, 'a'),
    });
    assert.deepEqual(
      readFileSync(join(root, 'a', 'model.safetensors')),
      readFileSync(join(root, 'b', 'model.safetensors')),
    );
    assert.deepEqual(
      readFileSync(join(root, 'a', 'tokenizer.json')),
      readFileSync(join(root, 'b', 'tokenizer.json')),
    );
    // Same init convention as the engine's Model (ones for norms, zeros for biases, N(0, 0.02²) in order).
    const m = new Model(fa.config, { seed: 5 });
    try {
      for (const p of m.namedParameters()) assert.deepEqual(p.data, fa.tensors.get(p.name)!.data, p.name);
    } finally {
      m.dispose();
    }
    assert.throws(
      () => initModel({ arch: 'llama', preset: 'reference', seed: 5, out: join(root, 'a') }),
      /already exists/,
    );
    // The tiny preset (vocab 259) gets a byte-level tokenizer with the three specials only.
    const t = initModel({ arch: 'qwen2', preset: 'tiny', seed: 1, out: join(root, 'tiny') });
    assert.equal(t.tokenizerSize, 259);
    assert.match(describeModel(join(root, 'tiny')), /qwen2, 90,880 parameters/);
  }),
);

test(
  'model convert writes a GGUF llama.cpp reads; generate prints the greedy continuation of our forward',
  withDir(async (root) => {
    // A folder with weights large enough that greedy steps are far from ties.
    const init = initModel({ arch: 'qwen2', preset: 'tiny', seed: 2, out: join(root, 'm') });
    const config: ModelConfig = { ...presetConfig('tiny', 'qwen2'), vocabSize: init.config.vocabSize };
    const tensors = randomTensors(config, 9, { std: 0.3 });
    const folder = loadHfFolder(join(root, 'm'));
    saveHfFolder(join(root, 'm'), {
      config,
      tensors,
      tokenizer: folder.tokenizer!,
      generationConfig: { eos_token_id: [] },
    });

    convertModel(join(root, 'm'), { to: 'gguf', out: join(root, 'm.gguf'), dtype: 'f16' });
    const info = await readGgufFileInfo(join(root, 'm.gguf'));
    const md = info.metadata as unknown as {
      general: { architecture: string };
      tokenizer: { ggml: { tokens: string[] } };
    };
    assert.equal(md.general.architecture, 'qwen2');
    assert.equal(md.tokenizer.ggml.tokens.length, 259);

    // --to hf: re-typed (bf16) and re-sharded copy, tokenizer and generation config kept.
    convertModel(join(root, 'm'), {
      to: 'hf',
      out: join(root, 'bf16'),
      dtype: 'bf16',
      maxShardBytes: 60_000,
    });
    const b = loadHfFolder(join(root, 'bf16'));
    assert.ok(readdirSync(join(root, 'bf16')).includes('model.safetensors.index.json'));
    assert.deepEqual(b.config, loadHfFolder(join(root, 'm')).config);
    assert.deepEqual(b.generationConfig, { eos_token_id: [] });
    assert.deepEqual(b.tokenizer!.encode('Paris <|im_end|>'), folder.tokenizer!.encode('Paris <|im_end|>'));
    for (const [name, t] of tensors) {
      const got = b.tensors.get(name)!.data;
      for (let i = 0; i < t.data.length; i++)
        assert.ok(Math.abs(got[i] - t.data[i]) <= 2 ** -8 * Math.abs(t.data[i]), name);
    }
    assert.throws(
      () => convertModel(join(root, 'm'), { to: 'gguf', out: join(root, 'x.gguf'), dtype: 'bf16' }),
      /--dtype bf16: expected f32 \| f16 for --to gguf/,
    );

    const tok = folder.tokenizer!;
    const r = await generateText({ modelDir: join(root, 'm'), prompt: 'Paris is', maxTokens: 8, chat: true });
    assert.equal(r.promptText, '<|im_start|>user\nParis is<|im_end|>\n<|im_start|>assistant\n');
    // Independent greedy decode with the float64 reference.
    const seq = [...r.promptTokens];
    for (let k = 0; k < 8; k++) {
      const last = referenceLogits(config, tensors, seq).at(-1)!;
      let best = 0;
      for (let v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
      seq.push(best);
    }
    assert.deepEqual(r.completion.tokens, seq.slice(r.promptTokens.length));
    assert.equal(r.completion.text, tok.decode(r.completion.tokens));

    // A stop string cuts the text right after it.
    const text = r.completion.text;
    const stop = text.slice(2, 4);
    assert.equal(stop.length, 2);
    const s = await generateText({
      modelDir: join(root, 'm'),
      prompt: 'Paris is',
      maxTokens: 8,
      chat: true,
      stop: [stop],
    });
    assert.equal(s.completion.finish, 'stop');
    assert.equal(s.completion.stopString, stop);
    assert.equal(s.completion.text, text.slice(0, text.indexOf(stop) + stop.length));
  }),
);

test('bad command-line values fail with the option named', async () => {
  const program = buildProgram().exitOverride();
  program.commands.forEach((c) => c.exitOverride());
  await assert.rejects(
    program.parseAsync(['node', 'x', 'model', 'init', '--out', join(tmpdir(), 'never'), '--arch', 'gpt2']),
    /--arch gpt2: expected qwen2 \| llama/,
  );
  await assert.rejects(
    generateText({ modelDir: join(tmpdir(), 'no-such-model-dir'), prompt: 'x' }),
    /no config\.json/,
  );
});
