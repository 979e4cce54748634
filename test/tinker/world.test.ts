// The full RL loop on the world's smoke preset (`--preset smoke`: a generated world, its BM25
// index, GRPO with KL loss and entropy bonus, 2 steps), once in process and once with
// `backend: 'tinker'` against serve-trainer on loopback, through the real backends factory
// (src/policy/backends.ts → createTinkerBackend). The model is a tiny random Qwen2 with a BPE
// tokenizer trained on the world (the shipped world model is not needed for numerics). The two
// final policy checkpoints must hold the same weights (fp32 tolerance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorld, writeWorld } from '../../src/world/world.ts';
import { buildIndex } from '../../src/retrieval/bm25/index.ts';
import { HfTokenizer, SEARCH_R1_TAGS, trainBpeTokenizer } from '../../src/engine/tokenizer.ts';
import { loadHfFolder } from '../../src/engine/io/hf.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { loadConfig } from '../../src/rl/config.ts';
import { WORLD_PRESETS } from '../../src/demo/presets.ts';
import { train } from '../../src/rl/trainer.ts';
import type { TrainerSpec } from '../../src/policy/backends.ts';
import { serveTrainer } from '../../src/cli/commands/serve-trainer.ts';
import { CHECKPOINT_POINTER } from '../../src/policy/tinker/index.ts';
import { perPromptSampling } from './rl-step.ts';

function checkpointDir(runDir: string): string {
  const root = join(runDir, 'checkpoints');
  const steps = readdirSync(root)
    .filter((d) => d.startsWith('step-'))
    .sort();
  assert.ok(steps.length > 0, `a checkpoint in ${root}`);
  return join(root, steps.at(-1)!, 'policy');
}

test('world smoke preset: GRPO through --backend tinker equals the in-process run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-world-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const world = buildWorld({
    seed: 11,
    size: { countries: 3, citiesPerCountry: 2, people: 40, testFraction: 0.25 },
  });
  const files = await writeWorld(world, join(dir, 'world'));
  const indexDir = join(dir, 'index');
  await buildIndex(files.corpus, indexDir);
  const texts = world.passages.map((p) => `${p.title} ${p.text}`);
  const tok = new HfTokenizer(trainBpeTokenizer(texts, { vocabSize: 600, addedTokens: SEARCH_R1_TAGS }));
  const modelDir = join(dir, 'world-tiny');
  const config = {
    arch: 'qwen2' as const,
    vocabSize: tok.vocabSize,
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 16,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 2048,
  };
  await EmbeddedTrainer.create(config, tok, { seed: 5 }).saveWeights(modelDir);

  const overrides = (name: string, extra: Record<string, unknown> = {}) => ({
    model: modelDir,
    runDir: join(dir, name),
    data: { train: [files.trainJsonl], val: [files.testJsonl], maxValExamples: 4 },
    retriever: { type: 'bm25', index: indexDir },
    steps: 2,
    // The test tokenizer is smaller than the shipped model's, so prompts are longer.
    rollout: { maxPromptTokens: 512, maxTotalTokens: 800 },
    actor: { lr: 1e-2 },
    val: { every: 2, beforeTrain: false, batchSize: 4, maxTurns: 2 },
    checkpoint: { every: 2, keepLast: 1 },
    ...extra,
  });
  const quiet = { log: () => {} };

  // In process (sampling split per prompt as the Tinker client does; grads zeroed, see the note).
  await train(loadConfig({ preset: 'smoke', presets: WORLD_PRESETS, overrides: overrides('local') }), {
    ...quiet,
    createTrainer: async (spec: TrainerSpec) => {
      const e = await EmbeddedTrainer.load(spec.model, { seed: spec.seed });
      e.model.ensureGrads();
      e.model.zeroGrad();
      return perPromptSampling(e);
    },
  });

  // Through the Tinker API, with the default backends factory.
  const { server, url } = await serveTrainer({
    model: modelDir,
    port: 0,
    checkpointDir: join(dir, 'served'),
  });
  t.after(() => server.close());
  const cfg = loadConfig({
    preset: 'smoke',
    presets: WORLD_PRESETS,
    overrides: overrides('remote', {
      backend: 'tinker',
      backendOptions: { baseUrl: url, baseModel: 'world-tiny' },
    }),
  });
  assert.equal(cfg.backend, 'tinker');
  await train(cfg, quiet);

  const local = loadHfFolder(checkpointDir(join(dir, 'local')), { noTokenizer: true });
  const pointer = JSON.parse(
    readFileSync(join(checkpointDir(join(dir, 'remote')), CHECKPOINT_POINTER), 'utf8'),
  ) as {
    tinker_path: string;
  };
  const m = /^tinker:\/\/([^/]+)\/weights\/([^/]+)$/.exec(pointer.tinker_path);
  assert.ok(m, pointer.tinker_path);
  const remote = loadHfFolder(join(dir, 'served', m[1]!, 'weights', m[2]!), { noTokenizer: true });
  const initial = loadHfFolder(modelDir, { noTokenizer: true });
  let maxDiff = 0;
  let moved = 0;
  for (const [name, a] of local.tensors) {
    const b = remote.tensors.get(name);
    assert.ok(b, `remote checkpoint has ${name}`);
    const init = initial.tensors.get(name)!;
    for (let i = 0; i < a.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - b.data[i]!));
      moved = Math.max(moved, Math.abs(a.data[i]! - init.data[i]!));
    }
  }
  assert.ok(moved > 1e-4, `training moved the parameters (${moved})`);
  assert.ok(maxDiff < 1e-5, `served vs in-process policy weights: max |Δ| = ${maxDiff}`);
});
