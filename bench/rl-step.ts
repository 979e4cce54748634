// Benchmark: the time split of one RL training step on the bundled world (rollout generation,
// retrieval, log-prob recomputation, update) and tokens/s per phase, for GRPO and PPO; plus a
// side-by-side against a named peer: the reference's rollout generation, which has no stop
// sequences (it generates the whole per-turn budget and cuts after the closing tag).
//
//   node --import tsx bench/rl-step.ts [--model DIR] [--prompts N] [--n N] [--steps N]
//
// Without --model, models/world-base is used when present; otherwise a briefly pretrained
// stand-in of the same shape (the split is then for an untrained policy: longer responses).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Completion, SampleRequest, Sampler } from '../src/core/sampler.ts';
import { createTrainer } from '../src/policy/backends.ts';
import { Bm25Index, buildIndex } from '../src/retrieval/bm25/index.ts';
import { buildWorld, DEFAULT_WORLD_SEED, writeWorld } from '../src/world/world.ts';
import { loadConfig, type TrainConfig } from '../src/rl/config.ts';
import { WORLD_PRESETS } from '../src/demo/presets.ts';
import { encodePrompt, rolloutConfig, train } from '../src/rl/trainer.ts';
import { emptyRolloutStats, runRollouts } from '../src/rollout/rollout.ts';
import { searchR1Env } from '../src/rollout/search-env.ts';
import { readQaFile } from '../src/data/qa.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    prompts: { type: 'string', default: '8' },
    n: { type: 'string', default: '4' },
    steps: { type: 'string', default: '2' },
  },
});

/** The peer: generation without stop strings, cut after the first closing tag afterwards. */
class NoStopSampler implements Sampler {
  wastedTokens = 0;
  constructor(private readonly inner: Sampler) {}
  get tokenizer() {
    return this.inner.tokenizer;
  }
  async sample(req: SampleRequest): Promise<Completion[][]> {
    const out = await this.inner.sample({ ...req, stop: [] });
    return out.map((row) =>
      row.map((c) => {
        // keep the shortest prefix whose text contains a stop string (as the reference's postprocess)
        for (let k = 1; k <= c.tokens.length; k++) {
          const text = this.tokenizer.decode(c.tokens.slice(0, k));
          const s = req.stop.find((x) => text.includes(x));
          if (s) {
            this.wastedTokens += c.tokens.length - k;
            return {
              tokens: c.tokens.slice(0, k),
              logprobs: c.logprobs.slice(0, k),
              finish: 'stop' as const,
              text: text.slice(0, text.indexOf(s) + s.length),
              stopString: s,
            };
          }
        }
        return c;
      }),
    );
  }
}

const work = mkdtempSync(join(tmpdir(), 'sr1-bench-rl-'));
try {
  const world = buildWorld({ seed: DEFAULT_WORLD_SEED });
  const files = await writeWorld(world, join(work, 'world'));
  await buildIndex(files.corpus, join(work, 'index'));
  let model = args.model ?? 'models/world-base';
  let standIn = false;
  if (!existsSync(join(model, 'config.json'))) {
    const { pretrain } = await import('../src/demo/pretrain.ts');
    model = join(work, 'stand-in');
    process.stderr.write(
      `[bench] no ${args.model ?? 'models/world-base'}: pretraining a stand-in for a few steps\n`,
    );
    await pretrain({ out: model, maxSteps: 3, workDir: join(work, 'pretrain'), log: () => {} });
    standIn = true;
  }
  const prompts = Number(args.prompts);
  const n = Number(args.n);
  const steps = Number(args.steps);
  const base = (algo: string, runDir: string): TrainConfig =>
    loadConfig({
      preset: 'world',
      presets: WORLD_PRESETS,
      overrides: {
        algo,
        runDir,
        model,
        steps,
        promptsPerStep: prompts,
        n,
        miniBatchPrompts: Math.max(1, prompts / 2),
        data: { train: [files.trainJsonl], val: [files.testJsonl] },
        retriever: { type: 'bm25', index: join(work, 'index') },
        val: { every: 0, beforeTrain: false },
        checkpoint: { every: 0 },
      },
    });

  const phases = [
    ['generation', 'timing_s/gen', 'perf/gen_tokens_per_s'],
    ['retrieval', 'timing_s/retrieval', null],
    ['old log-probs', 'timing_s/old_log_prob', null],
    ['ref log-probs', 'timing_s/ref', null],
    ['values (critic)', 'timing_s/values', null],
    ['advantages', 'timing_s/adv', null],
    ['actor update', 'timing_s/update_actor', null],
    ['critic update', 'timing_s/update_critic', null],
    ['reward', 'timing_s/reward', null],
  ] as const;
  const results: Record<string, Record<string, number>> = {};
  for (const algo of ['grpo', 'ppo']) {
    const runDir = join(work, `run-${algo}`);
    let last: Record<string, number> = {};
    await train(base(algo, runDir), { onStep: (m) => (last = m), log: () => {} });
    results[algo] = last;
  }
  console.log(
    `\nRL step split (last of ${steps} steps; ${prompts} prompts × n=${n}; model ${standIn ? 'stand-in (untrained)' : model})`,
  );
  console.log(
    'phase'.padEnd(18) +
      'grpo s'.padStart(10) +
      'share'.padStart(8) +
      'ppo s'.padStart(10) +
      'share'.padStart(8),
  );
  for (const [name, key] of phases) {
    const g = results.grpo[key] ?? 0;
    const p = results.ppo[key] ?? 0;
    console.log(
      name.padEnd(18) +
        g.toFixed(3).padStart(10) +
        `${((100 * g) / results.grpo['timing_s/step']).toFixed(1)}%`.padStart(8) +
        p.toFixed(3).padStart(10) +
        `${((100 * p) / results.ppo['timing_s/step']).toFixed(1)}%`.padStart(8),
    );
  }
  console.log(
    'step'.padEnd(18) +
      results.grpo['timing_s/step'].toFixed(3).padStart(10) +
      ''.padStart(8) +
      results.ppo['timing_s/step'].toFixed(3).padStart(10),
  );
  for (const k of [
    'perf/gen_tokens_per_s',
    'perf/forward_tokens_per_s',
    'perf/update_tokens_per_s',
    'perf/tokens_per_s',
    'response_length/mean',
    'env/number_of_valid_search',
  ]) {
    console.log(
      k.padEnd(28) +
        (results.grpo[k] ?? 0).toFixed(1).padStart(10) +
        (results.ppo[k] ?? 0).toFixed(1).padStart(18),
    );
  }

  // ---- peer: the reference's generation without stop sequences ----
  const policy = await createTrainer({ backend: 'embedded', model, seed: 0 });
  const cfg = base('grpo', join(work, 'peer'));
  const qs = (await readQaFile(files.trainJsonl)).slice(0, prompts);
  const ids = qs.map((q) => encodePrompt(policy.tokenizer, q.question));
  const rc = rolloutConfig(cfg, 123, false, cfg.rollout.maxTurns);
  const idx = await Bm25Index.open(join(work, 'index'));
  // Interleaved repetitions, best of each: the first call also pays one-time warm-up costs.
  const reps = 3;
  let ours = emptyRolloutStats();
  let theirs = emptyRolloutStats();
  let wasted = 0;
  for (let r = 0; r < reps; r++) {
    const a = emptyRolloutStats();
    await runRollouts(policy, searchR1Env({ retriever: idx }), ids, n, rc, a);
    if (r === 0 || a.generationMs < ours.generationMs) ours = a;
    const peer = new NoStopSampler(policy);
    const b = emptyRolloutStats();
    await runRollouts(peer, searchR1Env({ retriever: idx }), ids, n, rc, b);
    if (r === 0 || b.generationMs < theirs.generationMs) {
      theirs = b;
      wasted = peer.wastedTokens;
    }
  }
  await idx.close?.();
  console.log(
    `\nrollout generation vs peer "reference-style, no stop sequences" (${prompts} prompts × n=${n}, maxTurnTokens ${cfg.rollout.maxTurnTokens}, best of ${reps})`,
  );
  console.log(`ours: ${(ours.generationMs / 1000).toFixed(3)} s for ${ours.generatedTokens} kept tokens`);
  console.log(
    `peer: ${(theirs.generationMs / 1000).toFixed(3)} s for ${theirs.generatedTokens} kept + ${wasted} generated-then-discarded tokens`,
  );
  console.log(
    `ratio peer/ours (generation time): ${(theirs.generationMs / Math.max(1e-9, ours.generationMs)).toFixed(2)}x`,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
