// Client behaviour that the loop tests do not pin down: pipelining (optim_step is submitted before
// the forward_backward result exists), heartbeats (sent periodically, stopped on close), clear
// errors for terminal failures, and checkpoints through the pointer file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Datum, LossSpec, Metrics } from '../../src/core/trainer.ts';
import { TinkerTrainer, CHECKPOINT_POINTER } from '../../src/policy/tinker/index.ts';
import { startTinkerServer } from '../../src/policy/tinker-server/server.ts';
import { BigramTrainer } from './bigram.ts';
import { FaultProxy } from './fault-proxy.ts';

/** A BigramTrainer whose forwardBackward takes a while and records when it finished. */
class SlowBigram extends BigramTrainer {
  fbDoneAt = 0;
  override async forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics> {
    await new Promise((r) => setTimeout(r, 300));
    const m = await super.forwardBackward(batch, loss);
    this.fbDoneAt = Date.now();
    return m;
  }
}

async function setup(t: import('node:test').TestContext, seqGapMs = 2000) {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-client-'));
  const made: SlowBigram[] = [];
  const { server, url } = await startTinkerServer(
    {
      baseModel: 'bigram',
      async load(ckpt?: string) {
        const b = new SlowBigram(1);
        if (ckpt) await b.loadWeights(ckpt, { optimizer: true });
        made.push(b);
        return b;
      },
    },
    { port: 0, checkpointDir: join(dir, 'ck'), longPollMs: 1000, seqGapMs },
  );
  const proxy = new FaultProxy(url);
  const times: { route: string; at: number }[] = [];
  const purl = await proxy.start();
  const origPush = proxy.events.push.bind(proxy.events);
  proxy.events.push = (...e) => {
    for (const x of e) times.push({ route: x.route, at: Date.now() });
    return origPush(...e);
  };
  t.after(async () => {
    await proxy.stop();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, made, proxy, times, purl };
}

const datum = (): Datum => ({ inputTokens: [1, 2, 3], targetTokens: [2, 3, 4] });

test('pipelining: optim_step is submitted before forward_backward has finished', async (t) => {
  const { made, times, purl } = await setup(t);
  const client = await TinkerTrainer.create({
    baseUrl: purl,
    baseModel: 'bigram',
    tokenizer: new BigramTrainer().tokenizer,
    http: { log: () => {} },
  });
  const fb = client.forwardBackward([datum()], { type: 'cross_entropy' });
  const opt = client.optimStep({
    learningRate: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: 0,
    gradClipNorm: 0,
  });
  await Promise.all([fb, opt]);
  await client.close();
  const served = made[0]!;
  const optPost = times.find((x) => x.route === 'optim_step')!;
  assert.ok(optPost, 'optim_step was posted');
  assert.ok(optPost.at < served.fbDoneAt, 'optim_step was posted while forward_backward was still running');
  assert.equal(served.calls.optimStep, 1);
  assert.ok(
    served.W.some((w, i) => w !== new BigramTrainer(1).W[i]),
    'the step was applied',
  );
});

test('heartbeats every heartbeatMs, none after close', async (t) => {
  const { proxy, purl } = await setup(t);
  const client = await TinkerTrainer.create({
    baseUrl: purl,
    baseModel: 'bigram',
    tokenizer: new BigramTrainer().tokenizer,
    heartbeatMs: 50,
  });
  await new Promise((r) => setTimeout(r, 300));
  await client.close();
  await new Promise((r) => setTimeout(r, 100)); // let a heartbeat already on the wire arrive
  const beats = proxy.events.filter((e) => e.route === 'session_heartbeat').length;
  assert.ok(beats >= 2, `heartbeats sent (${beats})`);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(proxy.events.filter((e) => e.route === 'session_heartbeat').length, beats, 'stopped on close');
  assert.ok(
    proxy.events.some((e) => e.route === 'unload_model'),
    'close unloads the model',
  );
  await assert.rejects(client.forward([datum()]), /closed/);
});

test('terminal errors are clear: user errors, refused LoRA (an engine without LoRA), 4xx without retries', async (t) => {
  const { proxy, purl } = await setup(t);
  const tok = new BigramTrainer().tokenizer;
  await assert.rejects(
    TinkerTrainer.create({
      baseUrl: purl,
      baseModel: 'bigram',
      tokenizer: tok,
      lora: { rank: 8 },
      http: { log: () => {} },
    }),
    /lora_config: this engine does not train LoRA adapters/,
  );
  await assert.rejects(
    TinkerTrainer.create({
      baseUrl: purl,
      baseModel: 'Qwen/Qwen3-8B',
      tokenizer: tok,
      http: { log: () => {} },
    }),
    /base_model: this server serves "bigram"/,
  );
  const before = proxy.events.length;
  const client = await TinkerTrainer.create({
    baseUrl: purl,
    baseModel: 'bigram',
    tokenizer: tok,
    http: { log: () => {} },
  });
  // A token outside the vocabulary fails inside the engine: surfaced as a failed future.
  await assert.rejects(
    client.forward([{ inputTokens: [1, 999], targetTokens: [2, 3] }]),
    /tinker forward failed \(server error\): token 999 out of range/,
  );
  // A bad datum is refused at submission (400), without retrying.
  const n = proxy.events.length;
  await assert.rejects(
    client.forwardBackward([{ ...datum(), advantages: new Float32Array(3) }], {
      type: 'importance_sampling',
    }),
    /logprobs/,
  );
  assert.equal(proxy.events.length, n, 'refused on the client before any request');
  assert.ok(proxy.events.length > before);
  await client.close();
});

test('saveWeights writes a pointer; loadWeights restores (create-via-load after other requests)', async (t) => {
  const { dir, made, purl } = await setup(t);
  const client = await TinkerTrainer.create({
    baseUrl: purl,
    baseModel: 'bigram',
    tokenizer: new BigramTrainer().tokenizer,
    http: { log: () => {} },
  });
  const adam = { learningRate: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 0 };
  await client.forwardBackward([datum()], { type: 'cross_entropy' });
  await client.optimStep(adam);
  await client.saveWeights(join(dir, 'step-1'));
  const pointer = JSON.parse(readFileSync(join(dir, 'step-1', CHECKPOINT_POINTER), 'utf8')) as {
    tinker_path: string;
  };
  assert.match(pointer.tinker_path, /^tinker:\/\/model_[0-9a-f]{8}\/weights\/step-1-\d+$/);
  const saved = Float32Array.from(made[0]!.W);
  await client.forwardBackward([datum()], { type: 'cross_entropy' });
  await client.optimStep(adam);
  assert.notDeepEqual(Array.from(made[0]!.W), Array.from(saved));
  const oldModel = client.modelId;
  await client.loadWeights(join(dir, 'step-1'));
  assert.notEqual(client.modelId, oldModel, 'a new model was created from the checkpoint');
  assert.deepEqual(Array.from(made.at(-1)!.W), Array.from(saved));
  // Sampling after the load uses the loaded weights.
  const [[c]] = await client.sample({
    prompts: [[1, 2]],
    maxTokens: 3,
    stop: [],
    temperature: 1,
    topP: 1,
    seed: 5,
  });
  const [[expected]] = await made
    .at(-1)!
    .sample({ prompts: [[1, 2]], maxTokens: 3, stop: [], temperature: 1, topP: 1, seed: 5 });
  assert.deepEqual(c!.tokens, expected!.tokens);
  await assert.rejects(client.loadWeights(join(dir, 'nowhere')), /tinker-checkpoint\.json: cannot read/);
  await client.close();
});

test('a failed custom loss leaves no hole in the seq_id order (a no-op takes its number)', async (t) => {
  // A server that would wait (practically) forever for a missing seq_id.
  const { made, proxy, purl } = await setup(t, 600_000);
  const client = await TinkerTrainer.create({
    baseUrl: purl,
    baseModel: 'bigram',
    tokenizer: new BigramTrainer().tokenizer,
    http: { log: () => {} },
  });
  const failing: LossSpec = {
    type: 'custom',
    fn: () => {
      throw new Error('loss exploded');
    },
  };
  const fb = client.forwardBackward([datum()], failing);
  const opt = client.optimStep({
    learningRate: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-8,
    weightDecay: 0,
    gradClipNorm: 0,
  });
  await assert.rejects(fb, /loss exploded/);
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new Error('optim_step never ran: the failed seq_id left a hole')),
      20_000,
    );
  });
  try {
    await Promise.race([opt, stuck]);
  } finally {
    clearTimeout(timer);
  }
  assert.equal(made[0]!.calls.optimStep, 1);
  assert.deepEqual(
    proxy.events
      .filter((e) => ['forward', 'forward_backward', 'optim_step'].includes(e.route))
      .map((e) => e.route),
    ['forward', 'forward', 'optim_step'],
    'the loss forward, the filler forward, then optim_step',
  );
  await client.close();
});
