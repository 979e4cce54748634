// The rl engineer's full training loop (src/rl/trainer.ts `train`, GRPO with the KL loss and the
// entropy bonus, checkpoints, validation) on their smoke task, once with the in-process backend
// and once through the Tinker client against serve-trainer on loopback: the policy's parameters
// must end up equal (fp32 tolerance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrainerSpec } from '../../src/policy/backends.ts';
import { train } from '../../src/rl/trainer.ts';
import { TinkerTrainer } from '../../src/policy/tinker/trainer.ts';
import { CHECKPOINT_POINTER } from '../../src/policy/tinker/index.ts';
import { startTinkerServer } from '../../src/policy/tinker-server/server.ts';
import { fakeConfig, fakeFactory, makeTask, makeTokenizer } from '../rl/task.ts';
import type { TabularPolicy } from '../rl/fakes.ts';
import { perPromptSampling } from './rl-step.ts';

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('rl train() (GRPO, smoke task) through the Tinker client equals the in-process run', async (t) => {
  const tok = makeTokenizer();
  const task = makeTask();
  const dir = mkdtempSync(join(tmpdir(), 'tinker-train-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const overrides = {
    steps: 3,
    val: { every: 3, beforeTrain: false, batchSize: 3, maxTurns: 2 },
    checkpoint: { every: 2, keepLast: 1 },
  };
  const data = { train: task.examples, val: task.examples.slice(0, 3) };
  const logs: string[] = [];

  // In process.
  const local: TabularPolicy[] = [];
  const factory = fakeFactory(tok);
  await train(fakeConfig({ runDir: join(dir, 'local'), ...overrides }), {
    createTrainer: async (spec: TrainerSpec) => {
      const p = (await factory(spec)) as TabularPolicy;
      local.push(p);
      return perPromptSampling(p);
    },
    retriever: task.retriever,
    data,
    log: (s) => logs.push(s),
  });

  // Through the client against serve-trainer.
  const served: TabularPolicy[] = [];
  const { server, url } = await startTinkerServer(
    {
      baseModel: 'tabular',
      async load(ckpt?: string) {
        const p = (await factory({ backend: 'embedded', model: 'fake' })) as TabularPolicy;
        if (ckpt) await p.loadWeights(ckpt, { optimizer: false });
        served.push(p);
        return p;
      },
    },
    { port: 0, checkpointDir: join(dir, 'ckpt') },
  );
  t.after(() => server.close());
  const clients: TinkerTrainer[] = [];
  try {
    await train(fakeConfig({ runDir: join(dir, 'remote'), backend: 'tinker', ...overrides }), {
      createTrainer: async (spec: TrainerSpec) => {
        assert.ok(!spec.valueHead, 'GRPO needs no critic');
        const c = await TinkerTrainer.create({
          baseUrl: url,
          baseModel: 'tabular',
          tokenizer: tok,
          http: { log: () => {} },
        });
        clients.push(c);
        return c;
      },
      retriever: task.retriever,
      data,
      log: (s) => logs.push(s),
    });
  } finally {
    for (const c of clients) await c.close();
  }

  assert.equal(served.length, local.length, 'same models (policy + reference) created on the server');
  const policyLocal = local[0]!;
  const policyServed = served[0]!;
  const moved = maxAbsDiff(policyLocal.W, await makeFreshW(factory));
  assert.ok(moved > 1e-3, `training moved the parameters (${moved})`);
  const dW = maxAbsDiff(policyServed.W, policyLocal.W);
  const db = maxAbsDiff(policyServed.b, policyLocal.b);
  assert.ok(dW < 1e-5 && db < 1e-5, `served vs in-process: max |ΔW| = ${dW}, |Δb| = ${db}`);
  // The reference model was never trained on either side.
  assert.ok(maxAbsDiff(served[1]!.W, local[1]!.W) === 0);
  // Checkpoints of the remote run hold a pointer to the tinker:// checkpoint.
  const ckDirs = readdirSync(join(dir, 'remote', 'checkpoints'), { recursive: true }) as string[];
  assert.ok(
    ckDirs.some((p) => p.endsWith(CHECKPOINT_POINTER)),
    `a ${CHECKPOINT_POINTER} in ${ckDirs.join(', ')}`,
  );
});

async function makeFreshW(factory: ReturnType<typeof fakeFactory>): Promise<Float32Array> {
  const p = (await factory({ backend: 'embedded', model: 'fake' })) as TabularPolicy;
  return p.W;
}

test('rl train() with PPO: the critic through serve-trainer (critic extension) equals the in-process run; refused elsewhere', async (t) => {
  const tok = makeTokenizer();
  const task = makeTask();
  const dir = mkdtempSync(join(tmpdir(), 'tinker-ppo-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const overrides = {
    algo: 'ppo',
    steps: 2,
    val: { every: 0, beforeTrain: false, batchSize: 3, maxTurns: 2 },
    checkpoint: { every: 2, keepLast: 1 },
  };
  const data = { train: task.examples, val: task.examples.slice(0, 3) };
  const factory = fakeFactory(tok);
  const quiet = { log: () => {} };

  const local: TabularPolicy[] = [];
  await train(fakeConfig({ runDir: join(dir, 'local'), ...overrides }), {
    ...quiet,
    createTrainer: async (spec: TrainerSpec) => {
      const p = (await factory(spec)) as TabularPolicy;
      local.push(p);
      return perPromptSampling(p);
    },
    retriever: task.retriever,
    data,
  });

  const served: TabularPolicy[] = [];
  const provider = {
    baseModel: 'tabular',
    supportsValueHead: true,
    async load(ckpt?: string, opts?: { valueHead?: boolean }) {
      const p = (await factory({
        backend: 'embedded',
        model: 'fake',
        valueHead: opts?.valueHead,
      })) as TabularPolicy;
      if (ckpt) await p.loadWeights(ckpt, { optimizer: false });
      served.push(p);
      return p;
    },
  };
  const { server, url } = await startTinkerServer(provider, { port: 0, checkpointDir: join(dir, 'ckpt') });
  t.after(() => server.close());
  const clients: TinkerTrainer[] = [];
  try {
    await train(fakeConfig({ runDir: join(dir, 'remote'), backend: 'tinker', ...overrides }), {
      ...quiet,
      createTrainer: async (spec: TrainerSpec) => {
        const c = await TinkerTrainer.create({
          baseUrl: url,
          baseModel: 'tabular',
          tokenizer: tok,
          role: spec.valueHead ? 'critic' : 'policy',
          http: { log: () => {} },
        });
        clients.push(c);
        return c;
      },
      retriever: task.retriever,
      data,
    });
  } finally {
    for (const c of clients) await c.close();
  }
  const localCritic = local.find((p) => p.valueHead)!;
  const servedCritic = served.find((p) => p.valueHead)!;
  assert.ok(localCritic && servedCritic, 'a critic on both sides');
  const fresh = (await factory({ backend: 'embedded', model: 'fake', valueHead: true })) as TabularPolicy;
  assert.ok(maxAbsDiff(localCritic.vh, fresh.vh) > 1e-3, 'the value head trained');
  const dV = maxAbsDiff(servedCritic.vh, localCritic.vh);
  const dW = maxAbsDiff(served[0]!.W, local[0]!.W);
  assert.ok(dV < 1e-5 && dW < 1e-5, `served vs in-process: critic |Δvh| = ${dV}, policy |ΔW| = ${dW}`);

  // A server without the critic extension: PPO is refused with a clear message.
  const plain = await startTinkerServer(
    { ...provider, supportsValueHead: false },
    { port: 0, checkpointDir: join(dir, 'ck2') },
  );
  t.after(() => plain.server.close());
  await assert.rejects(
    TinkerTrainer.create({
      baseUrl: plain.url,
      baseModel: 'tabular',
      tokenizer: tok,
      role: 'critic',
      http: { log: () => {} },
    }),
    /PPO needs a critic .* Use GRPO with --backend tinker, or PPO with the embedded backend/,
  );
});
