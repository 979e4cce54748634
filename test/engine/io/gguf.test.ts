// GGUF export checked against an independent implementation: llama.cpp (node-llama-cpp, CPU).
//
// Tolerance (f32 export): llama.cpp runs these tiny models in fp32 when the KV cache is fp32
// (its default f16 cache would round K/V to 11-bit mantissas, ~1e-2 in log-prob here). Our
// reference is float64, so the difference is llama.cpp's fp32 rounding only: each logit is a
// sum of D=64 products of O(1) terms through 2 layers, ~1e-6 relative per op, and logits reach
// |z| ≈ 20, so we expect ~1e-5 (measured 0.8e-5 … 1e-5) and allow 1e-3 in log-prob: 100× margin,
// yet far below a single rope/permutation/bias mistake, which moves log-probs by O(1).
// f16 export: llama.cpp also rounds activations to f16 before f16 matmuls (ggml's vec_dot type),
// 2^-11 relative per input; we compare with a reference on f16-rounded weights and allow 0.05.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, LlamaLogLevel, readGgufFileInfo } from 'node-llama-cpp';
import type { Llama, Token } from 'node-llama-cpp';
import { presetConfig } from '../../../src/engine/config.ts';
import type { ModelConfig } from '../../../src/engine/config.ts';
import { writeGguf } from '../../../src/engine/io/gguf.ts';
import { defaultGenerationConfig } from '../../../src/engine/io/hf.ts';
import { generate } from '../../../src/engine/generate.ts';
import { f16ToF32, f32ToF16 } from '../../../src/engine/io/half.ts';
import { randomTensors } from '../../../src/engine/io/random-init.ts';
import type { TensorMap } from '../../../src/engine/io/safetensors.ts';
import { HfTokenizer, SEARCH_R1_TAGS, trainBpeTokenizer } from '../../../src/engine/tokenizer.ts';
import { Model } from '../../../src/engine/model.ts';
import { TrainingPass } from '../../../src/engine/forward.ts';
import { logSoftmax, referenceLogits } from './reference-forward.ts';

const tokFiles = trainBpeTokenizer(
  ['Paris is the capital of France. <search> capital of France </search> <answer> Paris </answer>'],
  {
    vocabSize: 300,
    addedTokens: SEARCH_R1_TAGS,
  },
);
// EOS = <|endoftext|> and <|im_end|>, as llama.cpp's EOS + EOT from the GGUF metadata.
const tokenizer = new HfTokenizer(tokFiles, defaultGenerationConfig(tokFiles));

/**
 * A tiny model with weights large enough that logits spread over ~20 nats (a near-uniform
 * distribution would hide mistakes), random norms and biases (so every tensor matters).
 */
type Variant = 'qwen2' | 'llama' | 'llama-mha-bias';

function makeModel(variant: Variant, seed: number): { config: ModelConfig; tensors: TensorMap } {
  const arch = variant === 'qwen2' ? 'qwen2' : 'llama';
  const config: ModelConfig = {
    ...presetConfig('tiny', arch),
    vocabSize: 320,
    attentionBias: variant !== 'llama',
    // The third variant: Llama with q/k/v biases (the rope permutation must move the biases too),
    // full multi-head attention and a tied head.
    ...(variant === 'llama-mha-bias' ? { numKvHeads: 4, tieWordEmbeddings: true, ropeTheta: 500000 } : {}),
  };
  const tensors = randomTensors(config, seed, { std: 0.3 });
  let s = seed * 7919 + 1;
  const rnd = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (const [name, t] of tensors) {
    if (name.endsWith('norm.weight')) for (let i = 0; i < t.data.length; i++) t.data[i] = 0.5 + rnd();
    if (name.endsWith('.bias')) for (let i = 0; i < t.data.length; i++) t.data[i] = rnd() - 0.5;
  }
  return { config, tensors };
}

let llama: Llama;
let dir: string;
before(async () => {
  llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
  dir = mkdtempSync(join(tmpdir(), 'gguf-test-'));
});
after(async () => {
  await llama?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** llama.cpp's next-token log-probs after every prefix of `ids`, and its greedy continuation. */
async function llamaCpp(
  path: string,
  ids: number[],
  greedyTokens: number,
): Promise<{ logp: Float64Array[]; greedy: number[] }> {
  const model = await llama.loadModel({ modelPath: path });
  try {
    const ctx = await model.createContext({
      contextSize: 64,
      batchSize: 64,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    const seq = ctx.getSequence();
    const full = {
      generateNext: { probabilities: true, options: { temperature: 1, topK: 0, topP: 1, minP: 0 } },
    };
    const res = await seq.controlledEvaluate(ids.map((id) => [id as Token, full] as [Token, typeof full]));
    const logp = res.map((r, i) => {
      const probs = r?.next.probabilities;
      assert.ok(probs, `llama.cpp returned no probabilities at position ${i}`);
      const out = new Float64Array(320);
      for (let v = 0; v < 320; v++) out[v] = Math.log(probs.get(v as Token) ?? 0);
      return out;
    });
    await ctx.dispose();
    // Greedy generation through llama.cpp's own sampler, on a fresh context.
    const ctx2 = await model.createContext({
      contextSize: 64,
      threads: 1,
      flashAttention: false,
      experimentalKvCacheKeyType: 'F32',
      experimentalKvCacheValueType: 'F32',
    });
    const greedy: number[] = [];
    for await (const t of ctx2
      .getSequence()
      .evaluate(ids as Token[], { temperature: 0, yieldEogToken: true })) {
      greedy.push(t);
      if (greedy.length >= greedyTokens) break;
    }
    await ctx2.dispose();
    return { logp, greedy };
  } finally {
    await model.dispose();
  }
}

function referenceGreedy(
  config: ModelConfig,
  tensors: TensorMap,
  ids: number[],
  n: number,
): { tokens: number[]; minMargin: number } {
  const seq = [...ids];
  let minMargin = Infinity;
  for (let k = 0; k < n; k++) {
    const logits = referenceLogits(config, tensors, seq);
    const last = logits[logits.length - 1];
    let best = 0;
    for (let v = 1; v < last.length; v++) if (last[v] > last[best]) best = v;
    const second = Math.max(...[...last].filter((_, v) => v !== best));
    minMargin = Math.min(minMargin, last[best] - second);
    seq.push(best);
  }
  return { tokens: seq.slice(ids.length), minMargin };
}

/** The engine's full next-token log-prob matrix via its training pass (one sequence per target). */
function engineLogp(config: ModelConfig, tensors: TensorMap, ids: number[]): Float64Array[] {
  const model = new Model(config);
  try {
    model.loadTensors(tensors);
    const pass = new TrainingPass(model);
    const inputs = ids;
    const seqs = Array.from({ length: config.vocabSize }, (_, v) => ({
      inputs,
      targets: inputs.map(() => v),
    }));
    const out = pass.forward(seqs, false);
    pass.dispose();
    return inputs.map((_, i) =>
      Float64Array.from({ length: config.vocabSize }, (_, v) => out.logprobs[v][i]),
    );
  } finally {
    model.dispose();
  }
}

function maxAbsDiff(a: Float64Array[], b: Float64Array[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++)
    for (let v = 0; v < a[i].length; v++) m = Math.max(m, Math.abs(a[i][v] - b[i][v]));
  return m;
}

const PROMPT = [5, 100, 200, 17, 299, 250, 3, 42, 300, 301, 7];

const VARIANTS: [Variant, number, number][] = [
  // variant, seed, tensors in the GGUF
  ['qwen2', 11, 1 + 2 * 12 + 1], // tied head, q/k/v biases
  ['llama', 12, 1 + 2 * 9 + 2], // untied head, no biases
  ['llama-mha-bias', 14, 1 + 2 * 12 + 1],
];
for (const [variant, seed, nTensors] of VARIANTS) {
  const arch = variant === 'qwen2' ? 'qwen2' : 'llama';
  test(`${variant}: f32 GGUF in llama.cpp matches our forward (log-probs within 1e-3; greedy token for token)`, async (t) => {
    const { config, tensors } = makeModel(variant, seed);
    const path = join(dir, `${variant}.gguf`);
    writeGguf(path, config, tensors, tokenizer, { dtype: 'f32' });

    const info = await readGgufFileInfo(path);
    const md = info.metadata as unknown as Record<string, Record<string, unknown>>;
    assert.equal(md.general.architecture, arch);
    assert.equal(info.tensorInfo?.length, nTensors);

    const ref = referenceLogits(config, tensors, PROMPT).map(logSoftmax);
    const spread = Math.max(...ref.map((r) => Math.max(...r) - Math.min(...r)));
    assert.ok(spread > 5, `logits must spread (got ${spread}) or the comparison says little`);
    const cpp = await llamaCpp(path, PROMPT, 12);
    const dRef = maxAbsDiff(cpp.logp, ref);
    assert.ok(dRef < 1e-3, `llama.cpp vs float64 reference: max |Δ log p| = ${dRef}`);

    const eng = engineLogp(config, tensors, PROMPT);
    const dEng = maxAbsDiff(eng, cpp.logp);
    assert.ok(dEng < 1e-3, `engine vs llama.cpp: max |Δ log p| = ${dEng}`);

    t.diagnostic(
      `max |Δ log p|: llama.cpp vs reference ${dRef.toExponential(2)}, engine vs llama.cpp ${dEng.toExponential(2)}`,
    );
    const g = referenceGreedy(config, tensors, PROMPT, 12);
    assert.ok(g.minMargin > 1e-3, 'greedy steps are not near-ties');
    assert.deepEqual(cpp.greedy, g.tokens);
    // The engine's own KV-cache sampler, greedy, produces the same tokens.
    const m = new Model(config);
    try {
      m.loadTensors(tensors);
      const [[c]] = await generate(m, tokenizer, {
        prompts: [PROMPT],
        maxTokens: 12,
        stop: [],
        temperature: 0,
        topP: 1,
        seed: 0,
      });
      assert.deepEqual(c.tokens, cpp.greedy);
    } finally {
      m.dispose();
    }
    // The tokenizer in the GGUF is ours: llama.cpp tokenizes text (incl. tags) to the same ids.
    const model = await llama.loadModel({ modelPath: path });
    try {
      for (const text of [
        'Paris is <search> capital of France </search>!',
        ' 日本 🎉\n\n x',
        "it's <answer> Paris </answer>",
      ]) {
        assert.deepEqual([...model.tokenize(text)], tokenizer.encode(text), text);
        assert.equal(model.detokenize(tokenizer.encode(text) as Token[]), text);
      }
    } finally {
      await model.dispose();
    }
  });
}

test('f16 GGUF: log-probs close to a reference on f16-rounded weights', async (t) => {
  const { config, tensors } = makeModel('llama', 13);
  const path = join(dir, 'f16.gguf');
  writeGguf(path, config, tensors, tokenizer, { dtype: 'f16' });
  const rounded: TensorMap = new Map();
  for (const [name, t] of tensors) {
    if (t.shape.length !== 2) {
      rounded.set(name, t);
      continue;
    }
    const h = new Uint16Array(t.data.length);
    const d = new Float32Array(t.data.length);
    f32ToF16(t.data, h);
    f16ToF32(h, d);
    rounded.set(name, { shape: t.shape, data: d });
  }
  const cpp = await llamaCpp(path, PROMPT, 1);
  const d = maxAbsDiff(cpp.logp, referenceLogits(config, rounded, PROMPT).map(logSoftmax));
  t.diagnostic(`f16 max |Δ log p| ${d.toExponential(2)}`);
  assert.ok(d < 0.05, `f16: max |Δ log p| = ${d}`);
  const info = await readGgufFileInfo(path);
  assert.equal((info.metadata as unknown as { general: { file_type: number } }).general.file_type, 1);
});

test('export refuses a tokenizer larger than the model vocab', () => {
  const { config, tensors } = makeModel('qwen2', 1);
  assert.throws(
    () => writeGguf(join(dir, 'bad.gguf'), { ...config, vocabSize: 200 }, tensors, tokenizer),
    new RegExp(`tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is 200`),
  );
});

test('pre-tokenizer: a Llama 3 split exports as "llama-bpe" and llama.cpp tokenizes digit runs as we do; unknown splits are refused', async () => {
  const llama3Json = JSON.parse(JSON.stringify(tokFiles.tokenizerJson)) as {
    pre_tokenizer: { pretokenizers: { pattern?: { Regex: string } }[] };
    model: { vocab: Record<string, number>; merges: string[] };
  };
  const split = llama3Json.pre_tokenizer.pretokenizers[0].pattern!;
  split.Regex = split.Regex.replace('\\p{N}|', '\\p{N}{1,3}|');
  // Digit merges (ids after the added tokens), so grouping digits changes the ids.
  llama3Json.model.vocab['12'] = tokenizer.vocabSize;
  llama3Json.model.vocab['99'] = tokenizer.vocabSize + 1;
  llama3Json.model.merges.push('1 2', '9 9');
  const tok3 = new HfTokenizer({ tokenizerJson: llama3Json, tokenizerConfig: tokFiles.tokenizerConfig });
  const text = 'In 1998, 12345 people paid $1,000,000.5 for 42 capitals';
  assert.notDeepEqual(tok3.encode(text), tokenizer.encode(text), 'the two splits differ on digit runs');
  const { config, tensors } = makeModel('llama', 3);
  const path = join(dir, 'llama3-pre.gguf');
  writeGguf(path, config, tensors, tok3);
  const info = await readGgufFileInfo(path);
  assert.equal(
    (info.metadata as unknown as { tokenizer: { ggml: { pre: string } } }).tokenizer.ggml.pre,
    'llama-bpe',
  );
  const model = await llama.loadModel({ modelPath: path });
  try {
    assert.deepEqual([...model.tokenize(text)], tok3.encode(text));
  } finally {
    await model.dispose();
  }
  split.Regex = '\\s+';
  assert.throws(
    () =>
      writeGguf(
        join(dir, 'x.gguf'),
        config,
        tensors,
        new HfTokenizer({ tokenizerJson: llama3Json, tokenizerConfig: {} }),
      ),
    /field "pre_tokenizer" .* is not a split llama.cpp knows/,
  );
});
