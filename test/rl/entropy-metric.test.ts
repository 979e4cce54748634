// Entropy is logged without an entropy bonus when the backend can return it (the embedded engine),
// and not asked for when it cannot (hosted Tinker: asking fails there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { LossSpec, Trainer } from '../../src/core/trainer.ts';
import { runRollouts } from '../../src/rollout/rollout.ts';
import { searchR1Env } from '../../src/rollout/search-env.ts';
import { rlUpdate } from '../../src/rl/update.ts';
import { fakeConfig } from './task.ts';
import { KB_TEMPLATE, kbTask, tinyConfig } from './kb-learning.ts';

test('entropy is measured with entropyCoef 0 when the policy provides it, and not requested otherwise', async () => {
  const task = kbTask();
  const policy = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: 3 });
  const prompts = task.train
    .slice(0, 2)
    .map((q) => task.tok.encode(KB_TEMPLATE.replace('{question}', q.question)));
  const trajectories = await runRollouts(policy, searchR1Env({ retriever: task.retriever }), prompts, 2, {
    maxTurns: 1,
    topk: 1,
    maxTurnTokens: 6,
    maxObsTokens: 40,
    maxTotalTokens: 120,
    temperature: 1,
    topP: 1,
    seed: 1,
  });
  const scores = trajectories.map((t) => t.sampleIndex);
  const groups = trajectories.map((t) => t.promptIndex);
  const cfg = fakeConfig({
    promptsPerStep: 2,
    n: 2,
    miniBatchPrompts: 2,
    actor: { entropyCoef: 0, klLoss: { use: false } },
    klInReward: { use: false },
  });
  assert.equal(policy.providesEntropy, true);
  const withEntropy = await rlUpdate(
    { policy, ref: null, critic: null },
    trajectories,
    scores,
    groups,
    cfg,
    1,
  );
  assert.deepEqual(withEntropy.problems, []);
  assert.ok(
    withEntropy.metrics['actor/entropy_loss'] > 0,
    `entropy ${withEntropy.metrics['actor/entropy_loss']}`,
  );

  // A backend without entropy (as hosted Tinker): never asked for it, no entropy metric.
  const asked: boolean[] = [];
  const noEntropy: Trainer = {
    tokenizer: policy.tokenizer,
    sample: (r) => policy.sample(r),
    forward: (b, o) => policy.forward(b, o),
    forwardBackward: (b, loss: LossSpec) => {
      asked.push(loss.type === 'custom' && loss.needsEntropy === true);
      return policy.forwardBackward(b, loss);
    },
    optimStep: (o) => policy.optimStep(o),
    saveWeights: (d, o) => policy.saveWeights(d, o),
    loadWeights: (d, o) => policy.loadWeights(d, o),
  };
  const without = await rlUpdate(
    { policy: noEntropy, ref: null, critic: null },
    trajectories,
    scores,
    groups,
    cfg,
    1,
  );
  assert.deepEqual(without.problems, []);
  assert.ok(asked.length > 0 && asked.every((x) => !x));
  assert.equal(without.metrics['actor/entropy_loss'], undefined);
  policy.dispose();
});
