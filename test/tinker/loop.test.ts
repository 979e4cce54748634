// The RL loop through the Tinker client against serve-trainer on loopback must leave the
// parameters exactly where the same loop leaves them in process (fp32 tolerance), including when
// a proxy injects try_again, 408, 410, 429 + Retry-After and dropped connections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdamWParams } from '../../src/core/trainer.ts';
import { MODES, rlStep as step } from './rl-step.ts';
import { TinkerTrainer } from '../../src/policy/tinker/trainer.ts';
import { startTinkerServer, type TrainerProvider } from '../../src/policy/tinker-server/server.ts';
import { BigramTrainer } from './bigram.ts';
import { FaultProxy } from './fault-proxy.ts';

// eps 1e-6, not 1e-8: with a tiny eps Adam turns fp32 rounding noise in (near-)zero gradient
// entries (the served path rounds advantages × weights to fp32 on the wire) into visible updates
// (measured: 3e-4 max drift at eps 1e-8, < 1e-5 at eps ≥ 1e-6).
const ADAM: AdamWParams = {
  learningRate: 0.05,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-6,
  weightDecay: 0.01,
  gradClipNorm: 1.0,
};

function provider(): TrainerProvider & { made: BigramTrainer[] } {
  const made: BigramTrainer[] = [];
  return {
    made,
    baseModel: 'bigram-test',
    arch: 'bigram',
    maxContextLength: 64,
    async load(dir?: string) {
      const t = new BigramTrainer(1);
      if (dir) await t.loadWeights(dir, { optimizer: false });
      made.push(t);
      return t;
    },
  };
}

async function runInProcess(steps: number): Promise<Float32Array> {
  const t = new BigramTrainer(1);
  const ref = new BigramTrainer(1);
  for (let s = 0; s < steps; s++) await step(t, ref, s, MODES[s % MODES.length]!, ADAM);
  return t.W;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

test('RL loop through the Tinker client equals the in-process run; survives injected faults', async (t) => {
  const STEPS = MODES.length;
  const expected = await runInProcess(STEPS);
  const initial = new BigramTrainer(1).W;
  assert.ok(maxAbsDiff(expected, initial) > 1e-2, 'training moved the parameters');

  const dir = mkdtempSync(join(tmpdir(), 'tinker-loop-'));
  const prov = provider();
  const { server, url } = await startTinkerServer(prov, {
    port: 0,
    checkpointDir: join(dir, 'ckpt'),
    longPollMs: 2000,
  });
  t.after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  await t.test('clean loopback run, batches split into requests of ≤ 5 datums', async () => {
    const client = await TinkerTrainer.create({
      baseUrl: url,
      baseModel: 'bigram-test',
      tokenizer: new BigramTrainer().tokenizer,
      chunk: { maxDatums: 5 },
    });
    try {
      const ref = new BigramTrainer(1);
      for (let s = 0; s < STEPS; s++) await step(client, ref, s, MODES[s % MODES.length]!, ADAM);
    } finally {
      await client.close();
    }
    const served = prov.made.at(-1)!;
    const d = maxAbsDiff(served.W, expected);
    assert.ok(d < 1e-5, `served parameters differ from in-process by ${d}`);
    assert.equal(served.calls.optimStep, STEPS);
    // 12 datums per step → 3 requests per forward_backward (cross_entropy trains on 3: one).
    const requests = MODES.slice(0, STEPS).reduce((n, m) => n + (m === 'cross_entropy' ? 1 : 3), 0);
    assert.equal(served.calls.forwardBackward, requests, 'chunked forward_backward requests');
  });

  await t.test('same run through a fault-injecting proxy', async () => {
    const proxy = new FaultProxy(url, [
      { route: 'retrieve_future', after: 2, times: 4, fault: { kind: 'try_again' } },
      { route: 'retrieve_future', after: 9, fault: { kind: 'status', status: 408 } },
      { route: 'retrieve_future', after: 14, fault: { kind: 'status', status: 410 } },
      {
        route: 'forward_backward',
        after: 1,
        fault: { kind: 'status', status: 429, headers: { 'retry-after-ms': '120' } },
      },
      { route: 'forward', after: 3, fault: { kind: 'status', status: 429, headers: { 'retry-after': '1' } } },
      { route: 'optim_step', after: 2, fault: { kind: 'drop', forward: true } },
      { route: 'asample', after: 4, fault: { kind: 'drop', forward: false } },
      { route: 'save_weights_for_sampler', after: 1, fault: { kind: 'status', status: 503 } },
    ]);
    const purl = await proxy.start();
    const sleeps: number[] = [];
    const client = await TinkerTrainer.create({
      baseUrl: purl,
      baseModel: 'bigram-test',
      tokenizer: new BigramTrainer().tokenizer,
      http: {
        sleep: async (ms) => {
          sleeps.push(ms);
          await new Promise((r) => setTimeout(r, Math.min(ms, 5)));
        },
        log: () => {},
      },
    });
    try {
      const ref = new BigramTrainer(1);
      for (let s = 0; s < STEPS; s++) await step(client, ref, s, MODES[s % MODES.length]!, ADAM);
    } finally {
      await client.close();
      await proxy.stop();
    }
    for (const label of [
      'try_again',
      '408',
      '410',
      '429',
      '503',
      'drop_after_forward',
      'drop_before_forward',
    ]) {
      assert.ok(proxy.count(label) >= 1, `fault ${label} was injected (events: ${proxy.count(label)})`);
    }
    assert.equal(proxy.count('try_again'), 4);
    assert.equal(proxy.count('429'), 2);
    assert.ok(sleeps.includes(120), `retry-after-ms honoured (sleeps: ${sleeps.join(', ')})`);
    assert.ok(sleeps.includes(1000), `Retry-After honoured (sleeps: ${sleeps.join(', ')})`);
    // The 410 made the client resubmit the original request (the server answers the resubmission
    // with the original request_id, so nothing runs twice).
    const at410 = proxy.events.findIndex((e) => e.fault === '410');
    assert.notEqual(proxy.events[at410 + 1]!.route, 'retrieve_future', 'a 410 is followed by a resubmission');
    const served = prov.made.at(-1)!;
    assert.equal(served.calls.optimStep, STEPS, 'the dropped optim_step was retried but applied once');
    const d = maxAbsDiff(served.W, expected);
    assert.ok(d < 1e-5, `parameters after faults differ from in-process by ${d}`);
  });
});
