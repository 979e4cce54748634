// actor.oldLogprobs = 'rollout': the PPO ratio's old log-probs are the sampler's, not a second
// forward pass. On the embedded engine (sampler = policy, temperature 1) an update from them must
// land where the recomputing update lands; corrupted sampling log-probs must not (the option is
// really read); settings where sampling log-probs are not the policy's are refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { Trainer } from '../../src/core/trainer.ts';
import { runRollouts } from '../../src/rollout/rollout.ts';
import { searchR1Env } from '../../src/rollout/search-env.ts';
import type { Trajectory } from '../../src/rollout/types.ts';
import { rlUpdate } from '../../src/rl/update.ts';
import { ConfigError } from '../../src/rl/config.ts';
import { fakeConfig } from './task.ts';
import { KB_TEMPLATE, kbTask, tinyConfig } from './kb-learning.ts';

const ROLLOUT = {
  maxTurns: 2,
  topk: 1,
  maxTurnTokens: 8,
  maxObsTokens: 40,
  maxTotalTokens: 200,
  temperature: 1,
  topP: 1,
};

function config(oldLogprobs: 'recompute' | 'rollout') {
  return fakeConfig({
    promptsPerStep: 6,
    n: 4,
    miniBatchPrompts: 3,
    actor: { lr: 0.01, warmupRatio: 0, oldLogprobs, klLoss: { use: false } },
    klInReward: { use: false },
  });
}

function weights(t: Trainer): Float32Array[] {
  return (t as EmbeddedTrainer).model.namedParameters().map((p) => Float32Array.from(p.data));
}

async function updatedWeights(
  task: ReturnType<typeof kbTask>,
  trajectories: Trajectory[],
  scores: number[],
  mode: 'recompute' | 'rollout',
): Promise<{ w: Float32Array[]; forwards: number }> {
  const policy = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: 3 });
  let forwards = 0;
  const forward = policy.forward.bind(policy);
  policy.forward = async (d) => {
    forwards++;
    return forward(d);
  };
  const groups = trajectories.map((t) => t.promptIndex);
  const res = await rlUpdate(
    { policy, ref: null, critic: null },
    trajectories,
    scores,
    groups,
    config(mode),
    1,
  );
  assert.deepEqual(res.problems, []);
  const w = weights(policy);
  policy.dispose();
  return { w, forwards };
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i][j])))));
  return m;
}

test('old log-probs from the rollout: the same update as recomputing them, without the extra forward', async () => {
  const task = kbTask();
  const sampler = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: 3 });
  const prompts = task.train
    .slice(0, 6)
    .map((q) => task.tok.encode(KB_TEMPLATE.replace('{question}', q.question)));
  const trajectories = await runRollouts(sampler, searchR1Env({ retriever: task.retriever }), prompts, 4, { ...ROLLOUT, seed: 5 });
  sampler.dispose();
  // Any reward with variance inside the groups gives non-zero advantages.
  const scores = trajectories.map((t) => (t.sampleIndex % 2 === 0 ? 1 : 0));
  const start = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: 3 });
  const w0 = weights(start);
  start.dispose();

  const recompute = await updatedWeights(task, trajectories, scores, 'recompute');
  const rollout = await updatedWeights(task, trajectories, scores, 'rollout');
  const moved = maxAbsDiff(w0, recompute.w);
  assert.ok(moved > 1e-3, `the update moved the weights (${moved})`);
  const diff = maxAbsDiff(recompute.w, rollout.w);
  assert.ok(diff < 1e-3 * moved, `rollout vs recompute: max |Δw| ${diff} vs a step of ${moved}`);
  assert.equal(rollout.forwards, recompute.forwards - Math.ceil(6 / 3));

  // Wrong sampling log-probs change the update: the option is really the source of the ratio.
  const corrupted = trajectories.map((t) => ({
    ...t,
    samplingLogprobs: t.samplingLogprobs.map((x, j) => (t.policyMask[j] ? x - 0.5 : x)),
  }));
  const wrong = await updatedWeights(task, corrupted, scores, 'rollout');
  assert.ok(maxAbsDiff(recompute.w, wrong.w) > 100 * diff, 'corrupted log-probs must change the update');
});

test('old log-probs from the rollout are refused where sampling log-probs are not the policy’s', () => {
  assert.throws(
    () => fakeConfig({ actor: { oldLogprobs: 'rollout' }, rollout: { temperature: 0.7 } }),
    (e: unknown) => e instanceof ConfigError && /temperature 1, topP 1, topK 0/.test(e.message),
  );
  assert.throws(
    () => fakeConfig({ actor: { oldLogprobs: 'rollout', stateMasking: false } }),
    (e: unknown) => e instanceof ConfigError && /stateMasking/.test(e.message),
  );
  assert.equal(config('rollout').actor.oldLogprobs, 'rollout');
  assert.equal(fakeConfig().actor.oldLogprobs, 'recompute');
});
