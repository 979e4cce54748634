// The GGUF sampler (node-llama-cpp in process) on a tiny model the test writes with engine-io's
// GGUF exporter; greedy decoding must follow the same tokens as our own engine on the same
// weights (an independent forward-pass implementation: llama.cpp).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufSampler, GgufTokenizer } from '../../src/policy/gguf.ts';
import { HfTokenizer, trainBpeTokenizer } from '../../src/engine/tokenizer.ts';
import { writeGguf } from '../../src/engine/io/gguf.ts';
import { Model } from '../../src/engine/model.ts';
import { generate } from '../../src/engine/generate.ts';
import type { ModelConfig } from '../../src/engine/config.ts';
import { startOpenAIServer } from '../../src/policy/openai-server.ts';
import { OpenAISampler } from '../../src/policy/openai.ts';

const TEXTS = [
  'the capital of france is paris. <search> capital </search> <answer> paris </answer>',
  'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda',
  'who wrote the book? the author was born in oslo and lived in rome.',
];

let dir = '';
let tok: HfTokenizer;
let model: Model;
let sampler: GgufSampler;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-'));
  tok = new HfTokenizer(
    trainBpeTokenizer(TEXTS, {
      vocabSize: 300,
      addedTokens: ['<search>', '</search>', '<answer>', '</answer>'],
    }),
  );
  const config: ModelConfig = {
    arch: 'qwen2',
    vocabSize: tok.vocabSize,
    hiddenSize: 64,
    intermediateSize: 128,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 16,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 256,
  };
  // Large init so the greedy choice is clear-cut (random small weights give near-ties).
  model = new Model(config, { seed: 7, initStd: 0.4 });
  const path = join(dir, 'tiny.gguf');
  writeGguf(path, config, model.tensors(), tok);
  sampler = await GgufSampler.load(path, { sequences: 2, contextSize: 256, tokenizer: tok });
});

after(async () => {
  await sampler?.close();
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('greedy GGUF decoding follows our engine token for token, with log-probs', async () => {
  const prompts = ['the capital of', 'alpha beta', 'who wrote'].map((t) => tok.encode(t));
  const req = { prompts, maxTokens: 12, stop: [], temperature: 0, topP: 1 };
  const ours = await generate(model, tok, req);
  const theirs = await sampler.sample(req);
  for (let i = 0; i < prompts.length; i++) {
    const a = ours[i][0];
    const b = theirs[i][0];
    assert.deepEqual(b.tokens, a.tokens, `prompt ${i}: llama.cpp and the engine disagree`);
    assert.equal(b.finish, a.finish);
    assert.equal(b.text, tok.decode(b.tokens.filter((t) => !tok.eosTokenIds.includes(t))));
    assert.equal(b.logprobs.length, b.tokens.length);
    assert.ok(
      b.logprobs.every((x) => Number.isFinite(x) && x <= 1e-6),
      `log-probs ${b.logprobs}`,
    );
  }
});

test('stop strings cut right after the stop; token budget; n samples; prefix cache reuse', async () => {
  const prompt = tok.encode('the capital of');
  const [[free]] = await sampler.sample({
    prompts: [prompt],
    maxTokens: 12,
    stop: [],
    temperature: 0,
    topP: 1,
  });
  // Pick a stop string from the middle of the free-running greedy text: generation must end there.
  const text = free.text;
  assert.ok(text.length >= 4, `greedy text too short to test stops: ${JSON.stringify(text)}`);
  const stop = text.slice(1, 3);
  const [[stopped]] = await sampler.sample({
    prompts: [prompt],
    maxTokens: 12,
    stop: [stop],
    temperature: 0,
    topP: 1,
  });
  assert.equal(stopped.finish, 'stop');
  assert.equal(stopped.stopString, stop);
  assert.equal(stopped.text, text.slice(0, text.indexOf(stop) + stop.length));
  assert.ok(stopped.tokens.length <= free.tokens.length);
  assert.deepEqual(stopped.tokens, free.tokens.slice(0, stopped.tokens.length));

  const [[short]] = await sampler.sample({
    prompts: [prompt],
    maxTokens: 3,
    stop: [],
    temperature: 0,
    topP: 1,
  });
  assert.equal(short.tokens.length, 3);
  assert.equal(short.finish, 'length');
  assert.deepEqual(short.tokens, free.tokens.slice(0, 3));

  // A continuation prompt that extends a previous one (multi-turn) gives the same greedy tokens
  // as a fresh evaluation: the reused KV prefix is correct.
  const cont = [...prompt, ...free.tokens.slice(0, 4)];
  const [[c]] = await sampler.sample({ prompts: [cont], maxTokens: 4, stop: [], temperature: 0, topP: 1 });
  assert.deepEqual(c.tokens, free.tokens.slice(4, 8));

  const [samples] = await sampler.sample({
    prompts: [prompt],
    maxTokens: 6,
    stop: [],
    temperature: 1.5,
    topP: 1,
    n: 3,
    seed: 1,
  });
  assert.equal(samples.length, 3);
  assert.ok(new Set(samples.map((s) => s.tokens.join(','))).size > 1, 'n samples differ at temperature 1.5');
});

test("a GGUF model behind serve-model: the OpenAI client gets llama.cpp's tokens", async () => {
  const srv = await startOpenAIServer(sampler, { port: 0, modelName: 'tiny-gguf' });
  try {
    const client = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, retries: 0 });
    const req = {
      prompts: [tok.encode('alpha beta'), tok.encode('who wrote')],
      maxTokens: 8,
      stop: [],
      temperature: 0,
      topP: 1,
    };
    const direct = await sampler.sample(req);
    const viaHttp = await client.sample(req);
    assert.deepEqual(
      viaHttp.map((r) => r[0].tokens),
      direct.map((r) => r[0].tokens),
    );
    // Log-probs agree up to llama.cpp's batch-dependent rounding (KV prefix reuse changes the batch).
    viaHttp.forEach((r, i) =>
      r[0].logprobs.forEach((x, k) =>
        assert.ok(Math.abs(x - direct[i][0].logprobs[k]) < 1e-4, `${x} vs ${direct[i][0].logprobs[k]}`),
      ),
    );
  } finally {
    await srv.close();
  }
});

test("the GGUF's own tokenizer agrees with the HF tokenizer it was exported from", () => {
  const own = new GgufTokenizer(sampler.model);
  assert.equal(own.vocabSize, tok.vocabSize);
  for (const text of [
    'the capital of france is paris.',
    'who wrote the book?',
    ' <search> capital </search>',
  ]) {
    assert.deepEqual(own.encode(text), tok.encode(text), text);
    assert.equal(own.decode(tok.encode(text)), text);
  }
  // llama.cpp's end-of-generation set: EOS, plus EOT (<|im_end|>) that the exporter writes.
  for (const id of tok.eosTokenIds) assert.ok(own.eosTokenIds.includes(id), `EOS ${id}`);
  const chat = own.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
  assert.equal(chat, tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true }));
});
