// Sampling: seeded determinism, batch independence, stop strings, EOS, top-k/top-p, and the
// log-probs returned by sampling equal the training forward's log-probs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Model } from '../../src/engine/model.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { createWasmKernels } from '../../src/engine/kernels/index.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';
import { microConfig, byteTokenizer, randomTokens } from './helpers.ts';

const kernels = createWasmKernels();
const cfg = microConfig('qwen2', { vocabSize: 259, hiddenSize: 32, headDim: 8, intermediateSize: 48 });
// initStd 0.5: a peaked but not degenerate next-token distribution.
const model = new Model(cfg, { seed: 5, kernels, initStd: 0.5 });
const tok = byteTokenizer(259);
const trainer = EmbeddedTrainer.fromModel(model, tok);
const prompts = [randomTokens(5, 256, 1), randomTokens(11, 256, 2), randomTokens(1, 256, 3)];
// Longer than one prefill attention block (64 rows), for the log-prob equality test.
const longPrompt = randomTokens(150, 256, 4);

test('a fixed seed gives identical samples; another seed gives different ones', async () => {
  const noEos = EmbeddedTrainer.fromModel(model, { ...tok, eosTokenIds: [] });
  const req = { prompts, maxTokens: 12, stop: [], temperature: 1, topP: 1, n: 3, seed: 42 };
  const a = await noEos.sample(req);
  const b = await noEos.sample(req);
  assert.deepEqual(a, b);
  const c = await noEos.sample({ ...req, seed: 43 });
  assert.notDeepEqual(
    a.map((p) => p.map((s) => s.tokens)),
    c.map((p) => p.map((s) => s.tokens)),
  );
  assert.equal(a.length, 3);
  for (const p of a) {
    assert.equal(p.length, 3);
    for (const s of p) {
      assert.equal(s.tokens.length, 12);
      assert.equal(s.finish, 'length');
    }
  }
  // The n samples of a prompt are not copies of each other.
  assert.notDeepEqual(a[1][0].tokens, a[1][1].tokens);
});

// Tokens are identical; log-probs agree to float rounding (1e-4: logits here span ~20 nats) (GEMM takes a different path for few rows).
test('samples do not depend on what else is in the batch', async () => {
  // top-p 1: a float-rounding change of the nucleus boundary would move a truncated log-prob.
  const req = { prompts, maxTokens: 10, stop: [], temperature: 0.8, topP: 1, n: 2, seed: 7 };
  const together = await trainer.sample(req);
  for (let i = 0; i < prompts.length; i++) {
    // Alone, the prompt index changes, so pass the same per-prompt stream by keeping its position.
    const alone = await trainer.sample({ ...req, prompts: prompts.slice(0, i + 1) });
    for (let j = 0; j < 2; j++) {
      const a = alone[i][j],
        b = together[i][j];
      assert.deepEqual(a.tokens, b.tokens);
      assert.equal(a.text, b.text);
      assert.equal(a.finish, b.finish);
      a.logprobs.forEach((lp, t) =>
        assert.ok(
          Math.abs(lp - b.logprobs[t]) < 1e-4,
          `prompt ${i} sample ${j} token ${t}: ${lp} vs ${b.logprobs[t]}`,
        ),
      );
    }
  }
});

test('sampling log-probs (T=1, top-p 1) equal the training forward log-probs', async () => {
  const all = [...prompts, longPrompt];
  const res = await trainer.sample({
    prompts: all,
    maxTokens: 20,
    stop: [],
    temperature: 1,
    topP: 1,
    n: 2,
    seed: 3,
  });
  const batch = [];
  const expected: number[][] = [];
  for (let i = 0; i < all.length; i++)
    for (const c of res[i]) {
      const full = [...all[i], ...c.tokens];
      batch.push({ inputTokens: full.slice(0, -1), targetTokens: full.slice(1) });
      expected.push(c.logprobs);
    }
  const out = await trainer.forward(batch);
  let maxDiff = 0;
  out.forEach((o, k) => {
    const n = expected[k].length;
    const tail = o.logprobs.subarray(o.logprobs.length - n);
    for (let t = 0; t < n; t++) maxDiff = Math.max(maxDiff, Math.abs(tail[t] - expected[k][t]));
  });
  assert.ok(maxDiff < 1e-4, `max |sampling − training| log-prob difference ${maxDiff}`);
});

test('greedy: temperature 0 = top-k 1 = tiny top-p, and reports model log-probs', async () => {
  const base = { prompts, maxTokens: 8, stop: [], topP: 1, seed: 1 };
  const g = await trainer.sample({ ...base, temperature: 0 });
  const k1 = await trainer.sample({ ...base, temperature: 0.7, topK: 1 });
  const p0 = await trainer.sample({ ...base, temperature: 1.3, topP: 1e-9 });
  for (let i = 0; i < prompts.length; i++) {
    assert.deepEqual(k1[i][0].tokens, g[i][0].tokens);
    assert.deepEqual(p0[i][0].tokens, g[i][0].tokens);
    for (const lp of k1[i][0].logprobs) assert.equal(lp, 0); // the truncated distribution is a point mass
  }
  // Greedy log-probs are the model's own.
  const full = [...prompts[0], ...g[0][0].tokens];
  const out = await trainer.forward([{ inputTokens: full.slice(0, -1), targetTokens: full.slice(1) }]);
  const tail = out[0].logprobs.subarray(out[0].logprobs.length - 8);
  for (let t = 0; t < 8; t++)
    assert.ok(
      Math.abs(tail[t] - g[0][0].logprobs[t]) < 1e-4,
      'Math.abs(tail[t] - g[0][0].logprobs[t]) < 1e-4',
    );
});

/** Each token decodes to two letters, so a stop string can end in the middle of a token. */
function twoCharTokenizer(): Tokenizer {
  const piece = (t: number) => String.fromCharCode(97 + (t % 5)) + String.fromCharCode(65 + ((t >> 3) % 4));
  return {
    eosTokenIds: [258],
    vocabSize: 259,
    encode: () => {
      throw new Error('unused');
    },
    decode: (ids) => ids.map(piece).join(''),
    applyChatTemplate: () => null,
  };
}

test('stop strings end at the completing token and cut the text exactly after the string', async () => {
  const t2 = EmbeddedTrainer.fromModel(model, twoCharTokenizer());
  const base = { prompts: [prompts[1]], maxTokens: 40, temperature: 0, topP: 1 };
  const free = (await t2.sample({ ...base, stop: [] }))[0][0];
  const text = free.text;
  assert.equal(text.length, 80);
  // A 3-char stop string starting mid-token, taken from the free-running text.
  for (const start of [7, 20, 33]) {
    const stop = text.slice(start, start + 3);
    const end = text.indexOf(stop) + 3;
    const k = Math.ceil(end / 2); // tokens needed to complete the string (2 chars per token)
    const got = (await t2.sample({ ...base, stop: ['zzz-never', stop] }))[0][0];
    assert.equal(got.finish, 'stop');
    assert.equal(got.stopString, stop);
    assert.equal(got.text, text.slice(0, end));
    assert.ok(got.text.endsWith(stop), 'got.text.endsWith(stop)');
    assert.deepEqual(got.tokens, free.tokens.slice(0, k));
    assert.deepEqual(got.logprobs, free.logprobs.slice(0, k));
  }
});

test('EOS ends a completion (token kept, text without it); budget gives finish=length', async () => {
  const base = { prompts: [prompts[0]], maxTokens: 30, stop: [], temperature: 0, topP: 1 };
  const free = (await trainer.sample(base))[0][0];
  const eosTok = free.tokens[4];
  const first = free.tokens.indexOf(eosTok);
  const t3 = EmbeddedTrainer.fromModel(model, { ...tok, eosTokenIds: [eosTok] });
  const got = (await t3.sample(base))[0][0];
  assert.equal(got.finish, 'eos');
  assert.deepEqual(got.tokens, free.tokens.slice(0, first + 1));
  assert.equal(got.text, tok.decode(free.tokens.slice(0, first)));
  assert.equal(free.finish, 'length');
  assert.equal(free.tokens.length, 30);
});

test('bad sample requests fail with the field named', async () => {
  await assert.rejects(
    trainer.sample({ prompts: [[1, 999]], maxTokens: 3, stop: [], temperature: 1, topP: 1 }),
    /prompts\[0\].*999/,
  );
  await assert.rejects(
    trainer.sample({ prompts: [[1]], maxTokens: 3, stop: [], temperature: 1, topP: 0 }),
    /topP/,
  );
  await assert.rejects(
    trainer.sample({ prompts: [[]], maxTokens: 3, stop: [], temperature: 1, topP: 1 }),
    /prompts\[0\]/,
  );
});

test('prefix cache: a second turn reuses the first turn’s K/V and samples the same tokens', async () => {
  const cold = EmbeddedTrainer.fromModel(model, { ...tok, eosTokenIds: [] });
  const warm = EmbeddedTrainer.fromModel(model, { ...tok, eosTokenIds: [] }, { prefixCache: true });
  const base = { maxTokens: 12, stop: [], temperature: 1, topP: 1, n: 2, seed: 9 };
  const long = [randomTokens(30, 256, 8), randomTokens(21, 256, 9)];
  const t1w = await warm.sample({ ...base, prompts: long });
  const t1c = await cold.sample({ ...base, prompts: long });
  assert.deepEqual(t1w, t1c, 'a cold cache changes nothing');
  // Turn 2: previous prompt + completion + injected tokens.
  const turn2 = long.map((p, i) => [...p, ...t1w[i][0].tokens, ...randomTokens(5, 256, 20 + i)]);
  const before = warm.prefixCacheStats().reusedTokens;
  const t2w = await warm.sample({ ...base, prompts: turn2 });
  const t2c = await cold.sample({ ...base, prompts: turn2 });
  const reused = warm.prefixCacheStats().reusedTokens - before;
  assert.equal(reused, turn2.reduce((s, p) => s + p.length - 5, 0) - 2, `reused ${reused} prompt tokens`);
  for (let i = 0; i < turn2.length; i++)
    for (let j = 0; j < 2; j++) {
      assert.deepEqual(t2w[i][j].tokens, t2c[i][j].tokens);
      t2w[i][j].logprobs.forEach((lp, t) =>
        assert.ok(
          Math.abs(lp - t2c[i][j].logprobs[t]) < 1e-4,
          `turn 2 log-prob ${lp} vs ${t2c[i][j].logprobs[t]}`,
        ),
      );
    }
  // A weight update empties the cache.
  warm.model.markWeightsChanged();
  const mid = warm.prefixCacheStats().reusedTokens;
  await warm.sample({ ...base, prompts: turn2 });
  assert.equal(warm.prefixCacheStats().reusedTokens, mid, 'nothing reused after the weights changed');
});

test('chunked prefill and waves of sequences give the same samples', async () => {
  const noEos = { ...tok, eosTokenIds: [] };
  const ref = EmbeddedTrainer.fromModel(model, noEos);
  const small = EmbeddedTrainer.fromModel(model, noEos, { generate: { prefillChunkTokens: 4, maxBatch: 2 } });
  const req = { prompts, maxTokens: 9, stop: [], temperature: 1, topP: 1, n: 2, seed: 21 };
  const a = await ref.sample(req);
  const b = await small.sample(req);
  for (let i = 0; i < prompts.length; i++)
    for (let j = 0; j < 2; j++) {
      assert.deepEqual(b[i][j].tokens, a[i][j].tokens, `prompt ${i} sample ${j}`);
      b[i][j].logprobs.forEach((lp, t) =>
        assert.ok(Math.abs(lp - a[i][j].logprobs[t]) < 1e-4, `log-prob ${lp} vs ${a[i][j].logprobs[t]}`),
      );
    }
});
