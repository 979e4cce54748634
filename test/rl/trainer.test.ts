import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, readdirSync, readFileSync, rmSync, readdirSync as ls } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { train, TrainingDivergedError } from '../../src/rl/trainer.ts';
import { readMetrics } from '../../src/rl/metrics.ts';
import { fakeConfig, fakeFactory, makeTask, makeTokenizer } from './task.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'sr1-rl-'));

const REFERENCE_NAMES = [
  'critic/score/mean',
  'critic/rewards/mean',
  'critic/advantages/mean',
  'actor/pg_loss',
  'actor/pg_clipfrac',
  'actor/ppo_kl',
  'actor/entropy_loss',
  'actor/grad_norm',
  'response_length/mean',
  'response_length/clip_ratio',
  'env/number_of_actions/mean',
  'env/finish_ratio',
  'env/number_of_valid_action',
  'env/ratio_of_valid_action',
  'env/number_of_valid_search',
  'state_tokens/coverage',
  'timing_s/gen',
  'timing_s/old_log_prob',
  'timing_s/update_actor',
];

async function run(
  dir: string,
  overrides: Record<string, unknown> = {},
  extra: { nanCalls?: Set<number>; resume?: boolean } = {},
) {
  const tok = makeTokenizer();
  const task = makeTask();
  const logs: string[] = [];
  const res = await train(fakeConfig({ runDir: dir, ...overrides }), {
    resume: extra.resume,
    createTrainer: fakeFactory(tok, { nanCalls: extra.nanCalls }),
    retriever: task.retriever,
    data: { train: task.examples, val: task.examples.slice(0, 5) },
    log: (s) => logs.push(s),
  });
  return { res, logs, metrics: readMetrics(join(dir, 'metrics.jsonl')) };
}

test('GRPO run: metrics.jsonl has the reference names per step, every val question scored, keep-last-K checkpoints', async () => {
  const dir = tmp();
  const { metrics, logs } = await run(dir);
  assert.deepEqual(
    metrics.map((m) => m.step),
    [0, 1, 2, 3, 4, 5, 6],
  );
  for (const m of metrics.slice(1))
    for (const k of [...REFERENCE_NAMES, 'actor/kl_loss']) assert.ok(k in m, `step ${m.step} lacks ${k}`);
  // validation before training, at steps 3 and 6; 5 questions with batch size 3: the partial batch counts
  for (const s of [0, 3, 6]) assert.equal(metrics[s]['val/num_questions'], 5, `val at step ${s}`);
  assert.ok('val/test_score/kb' in metrics[3]);
  assert.ok(!('val/test_score/kb' in metrics[2]));
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')).sort(), ['step-000004', 'step-000006']);
  assert.ok(
    logs.some((l) =>
      /^step 6\/6 \| reward [\d.]+ \| EM [\d.]+ \| len [\d.]+ \| searches [\d.]+ \| \d+ tok\/s \| ETA/.test(
        l,
      ),
    ),
    logs.join('\n'),
  );
  // the policy learned something: parameters moved and rewards varied
  assert.ok(
    metrics.slice(1).some((m) => m['critic/score/max'] > m['critic/score/min']),
    'some group had reward variance',
  );
  assert.ok(metrics.slice(1).every((m) => m['actor/grad_norm'] > 0));
  // a second run in the same folder without --resume is refused
  await assert.rejects(run(dir), /already holds a run/);
  rmSync(dir, { recursive: true, force: true });
});

test('PPO run: critic metrics and a value head', async () => {
  const dir = tmp();
  const { metrics } = await run(dir, { algo: 'ppo', steps: 2, val: { every: 0, beforeTrain: false } });
  assert.equal(metrics.length, 2);
  for (const k of [
    'critic/vf_loss',
    'critic/vf_explained_var',
    'critic/values/mean',
    'critic/grad_norm',
    'critic/kl',
    'timing_s/update_critic',
  ]) {
    assert.ok(Number.isFinite(metrics[1][k]), `${k} = ${metrics[1][k]}`);
  }
  assert.ok(!('actor/kl_loss' in metrics[1]) || metrics[1]['actor/kl_loss'] === 0);
  rmSync(dir, { recursive: true, force: true });
});

test('NaN in the forward pass: the step is skipped and reported; repeated failures stop the run with a diagnosis', async () => {
  const dir = tmp();
  // forwardBackward calls: 2 mini-batches per step. Poison step 2's first one only.
  const { metrics, logs } = await run(
    dir,
    { steps: 3, val: { every: 0, beforeTrain: false } },
    { nanCalls: new Set([2]) },
  );
  assert.deepEqual(
    metrics.map((m) => m['train/skipped']),
    [0, 1, 0],
  );
  assert.ok(
    logs.some((l) => /step 2: update skipped: non-finite log-probs/.test(l)),
    logs.join('\n'),
  );
  const dir2 = tmp();
  await assert.rejects(
    run(
      dir2,
      { steps: 6, maxConsecutiveBadSteps: 2, val: { every: 0, beforeTrain: false } },
      { nanCalls: new Set([0, 1, 2, 3, 4, 5, 6, 7]) },
    ),
    (e: Error) =>
      e instanceof TrainingDivergedError &&
      /2 consecutive steps had non-finite numbers/.test(e.message) &&
      /learning rate/.test(e.message),
  );
  const m2 = readMetrics(join(dir2, 'metrics.jsonl'));
  assert.deepEqual(
    m2.map((m) => m['train/skipped']),
    [1, 1],
  );
  rmSync(dir, { recursive: true, force: true });
  rmSync(dir2, { recursive: true, force: true });
});

function comparable(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(m).filter(([k]) => !k.startsWith('timing_s/') && !k.startsWith('perf/')),
  );
}

async function killAndResume(algo: string, embeddedModel?: string) {
  const straight = tmp();
  const killed = tmp();
  const env = { ...process.env, ALGO: algo };
  const extra = embeddedModel ? [embeddedModel] : [];
  const child = (dir: string, resume: string, sleepMs: string) =>
    spawn(
      process.execPath,
      ['--import', 'tsx', 'test/rl/fixtures/run-fake-train.ts', dir, resume, sleepMs, ...extra],
      {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
  const wait = (p: ReturnType<typeof spawn>) =>
    new Promise<number | null>((res) => p.on('exit', (code, sig) => res(sig ? -1 : code)));

  assert.equal(await wait(child(straight, '0', '0')), 0, 'uninterrupted run');
  const victim = child(killed, '0', '400');
  // SIGKILL as soon as the step-2 checkpoint exists (the run is then inside step 3)
  await new Promise<void>((resolve) => {
    const iv = setInterval(() => {
      if (existsSync(join(killed, 'checkpoints', 'step-000002', 'state.json'))) {
        clearInterval(iv);
        victim.kill('SIGKILL');
        resolve();
      }
    }, 20);
  });
  assert.equal(await wait(victim), -1, 'the victim was killed');
  const before = readMetrics(join(killed, 'metrics.jsonl'));
  assert.ok(before[before.length - 1].step < 6, 'killed before the end');
  assert.equal(await wait(child(killed, '1', '0')), 0, 'resumed run');

  const a = readMetrics(join(straight, 'metrics.jsonl')).map(comparable);
  const b = readMetrics(join(killed, 'metrics.jsonl')).map(comparable);
  assert.deepEqual(b, a, 'metrics identical (bit-for-bit numbers) at every step');
  const files = embeddedModel
    ? ['model.safetensors', 'optimizer.safetensors', 'trainer_state.json']
    : ['tabular.json'];
  for (const part of algo === 'ppo' ? ['policy', 'critic'] : ['policy']) {
    for (const f of files) {
      const pa = readFileSync(join(straight, 'checkpoints', 'step-000006', part, f));
      const pb = readFileSync(join(killed, 'checkpoints', 'step-000006', part, f));
      assert.ok(pa.equals(pb), `${part}/${f}: parameters and optimiser state bit-identical`);
    }
  }
  assert.ok(!ls(join(killed, 'checkpoints')).some((n) => n.includes('.tmp-')), 'no temp folders left');
  rmSync(straight, { recursive: true, force: true });
  rmSync(killed, { recursive: true, force: true });
}

test('kill -9 after a checkpoint and --resume gives bit-identical parameters and metrics (GRPO)', async () => {
  await killAndResume('grpo');
});

test('kill -9 and resume (PPO: critic and its optimiser too)', async () => {
  await killAndResume('ppo');
});

test('DAPO dynamic sampling: only groups with reward variance are trained on, re-rolling up to maxRollouts', async () => {
  const dir = tmp();
  const { metrics } = await run(dir, {
    steps: 3,
    dynamicSampling: { enabled: true, maxRollouts: 3 },
    val: { every: 0, beforeTrain: false },
  });
  for (const m of metrics) {
    assert.ok(m['dapo/rollouts'] >= 1 && m['dapo/rollouts'] <= 3);
    assert.ok(m['dapo/kept_groups'] <= 4);
    if (m['dapo/kept_groups'] > 0) {
      assert.equal(m['train/skipped'], 0);
      // every kept group has a non-zero GRPO advantage somewhere, so the batch mean score is strictly inside (min, max)
      assert.ok(
        m['critic/score/max'] > m['critic/score/min'],
        `step ${m.step}: kept groups have reward variance`,
      );
    } else {
      assert.equal(m['train/skipped'], 1);
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

test('kill -9 and resume on the embedded engine (PPO: policy, critic, AdamW states) is bit-identical', async () => {
  const { EmbeddedTrainer } = await import('../../src/policy/embedded.ts');
  const { kbTask, tinyConfig } = await import('./kb-learning.ts');
  const task = kbTask();
  const dir = tmp();
  await EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: 9 }).saveWeights(
    join(dir, 'init'),
  );
  await killAndResume('ppo', join(dir, 'init'));
  rmSync(dir, { recursive: true, force: true });
});
