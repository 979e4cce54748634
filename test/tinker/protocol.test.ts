// Requests and responses against the field tables of docs/tinker-api.md: required fields, defaults,
// ignored `type` and unknown fields, error statuses (404/409/410/422), LoRA/critic refusal,
// seq_id ordering, sessions, checkpoints, sampling sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as W from '../../src/policy/tinker/wire.ts';
import {
  builtinInput,
  crossEntropyInput,
  customLossWeights,
  ppoConfig,
} from '../../src/policy/tinker/losses.ts';
import { retryAfterMs } from '../../src/policy/tinker/http.ts';
import { mergeMetrics } from '../../src/policy/tinker/trainer.ts';
import { startTinkerServer, type TinkerServer } from '../../src/policy/tinker-server/server.ts';
import { BigramTrainer } from './bigram.ts';

// ---------------------------------------------------------------- wire schemas

test('wire: the document examples parse; defaults are filled; type and unknown fields ignored', () => {
  // §8 example request, plus a literal `type` and an unknown field.
  const fb = W.ForwardBackwardRequest.parse({
    model_id: 'sess:train:0',
    seq_id: 3,
    extra_unknown: 1,
    forward_backward_input: {
      loss_fn: 'ppo',
      loss_fn_config: { clip_low_threshold: 0.8, clip_high_threshold: 1.2 },
      data: [
        {
          model_input: { chunks: [{ type: 'encoded_text', tokens: [10, 11, 12, 13] }] },
          loss_fn_inputs: {
            target_tokens: { data: [11, 12, 13, 14], dtype: 'int64', shape: [4] },
            logprobs: { data: [0, 0, -0.52, -1.1], dtype: 'float32', shape: [4] },
            advantages: { data: [0, 0, 0.8, 0.8], dtype: 'float32', shape: [4] },
          },
        },
      ],
    },
  });
  assert.equal(fb.seq_id, 3);
  assert.ok(!('extra_unknown' in fb));
  // §6 example response.
  const sr = W.SampleResponse.parse({
    type: 'sample',
    sequences: [
      { tokens: [791, 4320, 374, 220, 19], logprobs: [-0.11, -0.02, -1.3, -0.4, -0.9], stop_reason: 'stop' },
    ],
    prompt_logprobs: [null, -3.2, -0.7],
    topk_prompt_logprobs: null,
    prompt_cache_hit_tokens: 0,
  });
  assert.equal(sr.sequences[0]!.tokens.length, 5);
  // AdamParams defaults (§4 field notes).
  assert.deepEqual(W.AdamParams.parse({}), {
    learning_rate: 1e-4,
    beta1: 0.9,
    beta2: 0.95,
    eps: 1e-12,
    weight_decay: 0,
    grad_clip_norm: 0,
  });
  // LoraConfig: rank required, train_* default true, at least one true.
  assert.deepEqual(W.LoraConfig.parse({ rank: 32 }), {
    rank: 32,
    train_mlp: true,
    train_attn: true,
    train_unembed: true,
  });
  assert.ok(!W.LoraConfig.safeParse({}).success);
  assert.ok(
    !W.LoraConfig.safeParse({ rank: 8, train_mlp: false, train_attn: false, train_unembed: false }).success,
  );
  // SamplingParams defaults; mixed stops rejected; SampleRequest needs exactly one model source.
  const sp = W.SamplingParams.parse({ max_tokens: 5 });
  assert.equal(sp.temperature, 1);
  assert.equal(sp.top_p, 1);
  assert.equal(sp.top_k, -1);
  assert.ok(!W.SamplingParams.safeParse({ stop: ['a', 3] }).success);
  const prompt = { chunks: [{ type: 'encoded_text', tokens: [1] }] };
  assert.equal(W.SampleRequest.parse({ prompt, sampling_params: {}, base_model: 'm' }).num_samples, 1);
  assert.ok(!W.SampleRequest.safeParse({ prompt, sampling_params: {} }).success, 'no model source');
  assert.ok(
    !W.SampleRequest.safeParse({
      prompt,
      sampling_params: {},
      base_model: 'm',
      model_path: 'tinker://a/sampler_weights/b',
    }).success,
  );
  assert.ok(
    !W.SampleRequest.safeParse({ prompt, sampling_params: {}, sampling_session_id: 's' }).success,
    'session needs seq_id',
  );
  // Required fields.
  assert.ok(
    !W.CreateModelRequest.safeParse({ session_id: 's', base_model: 'm' }).success,
    'model_seq_id required',
  );
  assert.ok(!W.OptimStepRequest.safeParse({ model_id: 'm' }).success, 'adam_params required');
  assert.ok(!W.LoadWeightsRequest.safeParse({ path: 'tinker://a/weights/b' }).success, 'optimizer required');
  // Futures: try_again / error / metadata bodies.
  assert.ok(
    W.TryAgain.safeParse({ type: 'try_again', request_id: 7, queue_state: 'paused_capacity' }).success,
  );
  assert.ok(!W.TryAgain.safeParse({ type: 'try_again', request_id: '7', queue_state: 'sleeping' }).success);
  assert.ok(W.FutureError.safeParse({ error: 'bad', category: 'user' }).success);
  assert.ok(W.CompleteMetadata.safeParse({ status: 'complete_metadata', response_payload_size: 10 }).success);
  // Metric keys: name:reduction with exactly one colon.
  assert.ok(W.METRIC_KEY.test('loss:sum'));
  assert.ok(!W.METRIC_KEY.test('loss'));
  assert.ok(!W.METRIC_KEY.test('a:b:sum'));
  assert.ok(!W.METRIC_KEY.test('loss:median'));
});

test('wire: tinker:// paths', () => {
  assert.deepEqual(W.parseTinkerPath('tinker://run1/weights/step-3'), {
    runId: 'run1',
    kind: 'weights',
    name: 'step-3',
  });
  assert.deepEqual(W.parseTinkerPath('tinker://run1/sampler_weights/s'), {
    runId: 'run1',
    kind: 'sampler_weights',
    name: 's',
  });
  assert.deepEqual(
    W.parseTinkerPath('tinker://run1/s'),
    { runId: 'run1', kind: 'sampler_weights', name: 's' },
    'SkyRL form',
  );
  assert.throws(() => W.parseTinkerPath('http://x/weights/a'), /tinker:\/\//);
  assert.throws(() => W.parseTinkerPath('tinker://r/other/a'), /weights/);
  assert.throws(() => W.parseTinkerPath('tinker://r/weights/a b'), /name/);
  assert.equal(W.formatTinkerPath({ runId: 'r', kind: 'weights', name: 'n' }), 'tinker://r/weights/n');
});

test('client mapping: LossSpec → forward_backward inputs', () => {
  const d = {
    inputTokens: [1, 2, 3, 4],
    targetTokens: [2, 3, 4, 5],
    weights: Float32Array.from([0, 0, 0.5, 0.25]),
    logprobs: Float32Array.from([-9, -9, -0.5, -1]),
    advantages: Float32Array.from([7, 7, 2, -4]),
  };
  const ce = crossEntropyInput([d]);
  assert.equal(ce.loss_fn, 'cross_entropy');
  assert.deepEqual(ce.data[0]!.loss_fn_inputs.weights!.data, [0, 0, 0.5, 0.25]);
  assert.deepEqual(ce.data[0]!.loss_fn_inputs.target_tokens, {
    data: [2, 3, 4, 5],
    dtype: 'int64',
    shape: [4],
  });
  const ppo = builtinInput([d], { type: 'ppo', clipLow: 0.8, clipHigh: 1.2 });
  assert.deepEqual(ppo.loss_fn_config, { clip_low_threshold: 0.8, clip_high_threshold: 1.2 });
  // Masked tokens: advantage 0 and logprob 0; weights folded into the advantages; no weights key.
  assert.deepEqual(ppo.data[0]!.loss_fn_inputs.advantages!.data, [0, 0, 1, -1]);
  assert.deepEqual(ppo.data[0]!.loss_fn_inputs.logprobs!.data, [0, 0, -0.5, -1]);
  assert.ok(!('weights' in ppo.data[0]!.loss_fn_inputs));
  assert.throws(
    () => builtinInput([{ ...d, advantages: undefined }], { type: 'importance_sampling' }),
    /advantages/,
  );
  assert.throws(() => builtinInput([{ ...d, targetTokens: [1] }], { type: 'cross_entropy' }), /targetTokens/);
  assert.throws(() => ppoConfig({ clipLow: 0.2, clipHigh: 0.2 }), /thresholds/);
  // forward_backward_custom: weights = −∂L/∂p; entropy gradients refused without the extension.
  const out = [{ logprobs: Float32Array.from([-1, -2, -3, -4]), entropy: new Float32Array(4) }];
  const r = customLossWeights(() => ({ loss: 1, dLogprobs: [Float32Array.from([1, -2, 0, 3])] }), out, [d]);
  assert.deepEqual(Array.from(r.weights[0]!), [-1, 2, -0, -3]);
  assert.equal(r.entropyWeights, null);
  const withEnt = () => ({
    loss: 1,
    dLogprobs: [new Float32Array(4)],
    dEntropy: [Float32Array.from([0, 0, 0.1, 0])],
  });
  assert.throws(() => customLossWeights(withEnt, out, [d]), /entropy coefficient/);
  assert.ok(Math.abs(customLossWeights(withEnt, out, [d], true).entropyWeights![0]![2]! + 0.1) < 1e-7);
  assert.throws(
    () =>
      customLossWeights(
        () => ({ loss: 0, dLogprobs: [new Float32Array(4)], dValues: [Float32Array.from([1, 0, 0, 0])] }),
        out,
        [d],
      ),
    /critic/,
  );
  // Zero dEntropy (entropy only for metrics) is fine.
  assert.doesNotThrow(() =>
    customLossWeights(
      () => ({ loss: 0, dLogprobs: [new Float32Array(4)], dEntropy: [new Float32Array(4)] }),
      out,
      [d],
    ),
  );
});

test('client: Retry-After / retry-after-ms parsing (≤ 60 s honoured)', () => {
  assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' })), 250);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
  assert.equal(retryAfterMs(new Headers({ 'retry-after': '120' })), null, 'over 60 s: use own backoff');
  assert.equal(retryAfterMs(new Headers({})), null);
  const date = new Date(Date.now() + 5000).toUTCString();
  const ms = retryAfterMs(new Headers({ 'retry-after': date }))!;
  assert.ok(ms > 3000 && ms <= 5000, `HTTP-date form: ${ms}`);
});

// ---------------------------------------------------------------- server over HTTP

// Response bodies are checked field by field below; `any` keeps those checks short.
/* eslint-disable @typescript-eslint/no-explicit-any */

async function withServer(
  fn: (
    api: (route: string, body?: unknown) => Promise<{ status: number; body: any }>,
    server: TinkerServer,
    made: BigramTrainer[],
  ) => Promise<void>,
  opts: { sessionTtlMs?: number; futureTtlMs?: number; seqGapMs?: number; apiKey?: string } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-proto-'));
  const made: BigramTrainer[] = [];
  const { server, url } = await startTinkerServer(
    {
      baseModel: 'bigram',
      async load(ckpt?: string) {
        const t = new BigramTrainer(1);
        if (ckpt) await t.loadWeights(ckpt, { optimizer: false });
        made.push(t);
        return t;
      },
    },
    { port: 0, checkpointDir: join(dir, 'ck'), longPollMs: 500, ...opts },
  );
  const api = async (route: string, body?: unknown) => {
    const res = await fetch(`${url}/api/v1/${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', ...(opts.apiKey ? { 'x-api-key': opts.apiKey } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  try {
    await fn(api, server, made);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function result(
  api: (r: string, b?: unknown) => Promise<{ status: number; body: any }>,
  ack: { status: number; body: any },
) {
  assert.equal(ack.status, 200, JSON.stringify(ack.body));
  for (;;) {
    const r = await api('retrieve_future', { request_id: ack.body.request_id });
    if (r.status === 200 && r.body?.type === 'try_again') continue;
    return r;
  }
}

const datum = (tokens: number[], extra: Record<string, W.TensorData> = {}) => ({
  model_input: { chunks: [{ type: 'encoded_text', tokens: tokens.slice(0, -1) }] },
  loss_fn_inputs: {
    target_tokens: { data: tokens.slice(1), dtype: 'int64', shape: [tokens.length - 1] },
    ...extra,
  },
});

test('server: service endpoints and response shapes', async () => {
  await withServer(async (api) => {
    assert.deepEqual((await api('healthz')).body, { status: 'ok' });
    const caps = W.ServerCapabilities.parse((await api('get_server_capabilities')).body);
    assert.equal(caps.supported_models[0]!.model_name, 'bigram');
    W.ClientConfigResponse.parse((await api('client/config', { sdk_version: '0.24.1' })).body);
    assert.deepEqual(
      (await api('telemetry', { events: [], platform: 'x', sdk_version: 'y', session_id: 'z' })).body,
      { status: 'accepted' },
    );
    const s = await api('create_session', { tags: [], sdk_version: '0.24.1', type: 'create_session' });
    const sid = W.CreateSessionResponse.parse(s.body).session_id;
    assert.deepEqual((await api('session_heartbeat', { session_id: sid, type: 'session_heartbeat' })).body, {
      type: 'session_heartbeat',
    });
    assert.equal((await api('session_heartbeat', { session_id: 'nope' })).status, 404);
    const cm = await result(
      api,
      await api('create_model', {
        session_id: sid,
        model_seq_id: 0,
        base_model: 'bigram',
        type: 'create_model',
        unknown_field: true,
      }),
    );
    const modelId = W.CreateModelResponse.parse(cm.body).model_id;
    const info = W.GetInfoResponse.parse(
      (await api('get_info', { model_id: modelId, type: 'get_info' })).body,
    );
    assert.equal(info.model_data.model_name, 'bigram');
    assert.equal(info.is_lora, false);

    // forward_backward: one output per datum with logprobs [N], metrics name:reduction.
    const toks = [1, 2, 3, 4, 5];
    const fb = await result(
      api,
      await api('forward_backward', {
        model_id: modelId,
        seq_id: 1,
        forward_backward_input: { loss_fn: 'cross_entropy', data: [datum(toks), datum([3, 3, 1])] },
      }),
    );
    const out = W.ForwardBackwardOutput.parse(fb.body);
    assert.equal(out.loss_fn_outputs.length, 2);
    assert.equal(out.loss_fn_outputs[0]!.logprobs!.data.length, 4);
    assert.equal(out.loss_fn_outputs[0]!.logprobs!.dtype, 'float32');
    for (const k of Object.keys(out.metrics)) assert.match(k, W.METRIC_KEY);
    // The returned logprobs are the model's: check against the fake's own forward.
    const [ref] = await new BigramTrainer(1).forward([
      { inputTokens: toks.slice(0, -1), targetTokens: toks.slice(1) },
    ]);
    out.loss_fn_outputs[0]!.logprobs!.data.forEach((x, i) =>
      assert.ok(Math.abs(x - ref!.logprobs[i]!) < 1e-6),
    );
    // CE with default weights 1: loss:sum = −Σ p.
    const expect = -[
      ...out.loss_fn_outputs[0]!.logprobs!.data,
      ...out.loss_fn_outputs[1]!.logprobs!.data,
    ].reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(out.metrics['loss:sum']! - expect) < 1e-4);
    const opt = await result(
      api,
      await api('optim_step', { model_id: modelId, seq_id: 2, adam_params: {}, type: 'optim_step' }),
    );
    assert.ok(W.OptimStepResponse.parse(opt.body).metrics);

    // Checkpoints: named save, sampler save, load (legacy and create-via-load), weights_info.
    const sv = await result(
      api,
      await api('save_weights', { model_id: modelId, path: 'first', seq_id: 3, type: 'save_weights' }),
    );
    assert.equal(W.SaveWeightsResponse.parse(sv.body).path, `tinker://${modelId}/weights/first`);
    const dup = await api('save_weights', { model_id: modelId, path: 'first', seq_id: 4 });
    assert.equal(dup.status, 409, 'name conflict');
    const ss = await result(
      api,
      await api('save_weights_for_sampler', { model_id: modelId, path: 'samp', seq_id: 4 }),
    );
    const samplerPath = W.SaveWeightsForSamplerResponse.parse(ss.body).path!;
    assert.equal(samplerPath, `tinker://${modelId}/sampler_weights/samp`);
    assert.equal(
      (await api('weights_info', { tinker_path: `tinker://${modelId}/weights/first` })).body.is_lora,
      false,
    );
    assert.equal(
      (await api('weights_info', { tinker_path: `tinker://${modelId}/weights/none` })).status,
      404,
    );
    const lw = await result(
      api,
      await api('load_weights', {
        path: `tinker://${modelId}/weights/first`,
        optimizer: true,
        session_id: sid,
        model_seq_id: 1,
        type: 'load_weights',
      }),
    );
    const loaded = W.LoadWeightsResponse.parse(lw.body).model_id!;
    assert.notEqual(loaded, modelId);
    const lw2 = await result(
      api,
      await api('load_weights', {
        path: `tinker://${modelId}/weights/first`,
        optimizer: false,
        model_id: modelId,
        seq_id: 5,
      }),
    );
    assert.equal(lw2.body.model_id, modelId);

    // Sampling: by model_path, base_model, sampling session (named and unnamed).
    const prompt = { chunks: [{ type: 'encoded_text', tokens: [1, 2] }] };
    const params = { max_tokens: 4, temperature: 1, seed: 3, stop: ['>'] };
    for (const source of [{ model_path: samplerPath }, { base_model: 'bigram' }]) {
      const r = await result(
        api,
        await api('asample', {
          prompt,
          sampling_params: params,
          num_samples: 3,
          prompt_logprobs: true,
          ...source,
          type: 'sample',
        }),
      );
      const sr = W.SampleResponse.parse(r.body);
      assert.equal(sr.sequences.length, 3);
      for (const q of sr.sequences) assert.equal(q.logprobs!.length, q.tokens.length);
      assert.equal(sr.prompt_logprobs!.length, 2);
      assert.equal(sr.prompt_logprobs![0], null);
    }
    const cs = W.CreateSamplingSessionResponse.parse(
      (
        await api('create_sampling_session', {
          session_id: sid,
          sampling_session_seq_id: 0,
          model_path: samplerPath,
        })
      ).body,
    );
    const sampler = await api(`samplers/${cs.sampling_session_id}`);
    assert.equal(sampler.body.model_path, samplerPath);
    const r1 = await result(
      api,
      await api('asample', {
        prompt,
        sampling_params: params,
        sampling_session_id: cs.sampling_session_id,
        seq_id: 0,
      }),
    );
    assert.equal(W.SampleResponse.parse(r1.body).sequences.length, 1);
    // Same seq_id + same body → the same request; another body → 409.
    const a1 = await api('asample', {
      prompt,
      sampling_params: params,
      sampling_session_id: cs.sampling_session_id,
      seq_id: 1,
    });
    const a2 = await api('asample', {
      prompt,
      sampling_params: params,
      sampling_session_id: cs.sampling_session_id,
      seq_id: 1,
      type: 'sample',
    });
    assert.equal(a1.body.request_id, a2.body.request_id);
    assert.equal(
      (
        await api('asample', {
          prompt,
          sampling_params: { ...params, seed: 4 },
          sampling_session_id: cs.sampling_session_id,
          seq_id: 1,
        })
      ).status,
      409,
    );

    // Unnamed sampler save: a view of the live weights, refused once they changed.
    const live = await result(
      api,
      await api('save_weights_for_sampler', { model_id: modelId, sampling_session_seq_id: 1, seq_id: 6 }),
    );
    const liveId = W.SaveWeightsForSamplerResponse.parse(live.body).sampling_session_id!;
    assert.equal(live.body.path, null);
    const ok = await result(
      api,
      await api('asample', { prompt, sampling_params: params, sampling_session_id: liveId, seq_id: 0 }),
    );
    assert.equal(ok.status, 200);
    await result(
      api,
      await api('forward_backward', {
        model_id: modelId,
        seq_id: 7,
        forward_backward_input: { loss_fn: 'cross_entropy', data: [datum(toks)] },
      }),
    );
    await result(
      api,
      await api('optim_step', { model_id: modelId, seq_id: 8, adam_params: { learning_rate: 0.1 } }),
    );
    const stale = await result(
      api,
      await api('asample', { prompt, sampling_params: params, sampling_session_id: liveId, seq_id: 1 }),
    );
    assert.equal(stale.body.category, 'user');
    assert.match(stale.body.error, /save_weights_for_sampler again/);

    const un = await result(api, await api('unload_model', { model_id: loaded, type: 'unload_model' }));
    assert.equal(un.body.model_id, loaded);
    assert.equal((await api('get_info', { model_id: loaded })).status, 404);
  });
});

test('server: validation errors name the field (422 / 400), LoRA and critic refused', async () => {
  await withServer(async (api) => {
    const sid = (await api('create_session', { tags: [], sdk_version: 'x' })).body.session_id;
    const bad = await api('create_model', { session_id: sid, base_model: 'bigram' });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.body.detail[0].loc, ['body', 'model_seq_id']);
    const lora = await api('create_model', {
      session_id: sid,
      model_seq_id: 0,
      base_model: 'bigram',
      lora_config: { rank: 32 },
    });
    assert.equal(lora.status, 400);
    assert.match(lora.body.detail, /^lora_config: this engine does not train LoRA adapters/);
    const critic = await api('create_model', {
      session_id: sid,
      model_seq_id: 0,
      base_model: 'bigram',
      model_role: 'critic',
    });
    assert.equal(critic.status, 400);
    assert.match(critic.body.detail, /^model_role: .*critic/);
    assert.match(
      (await api('create_model', { session_id: sid, model_seq_id: 0, base_model: 'Qwen/Qwen3-8B' })).body
        .detail,
      /^base_model:/,
    );
    const modelId = (
      await result(api, await api('create_model', { session_id: sid, model_seq_id: 0, base_model: 'bigram' }))
    ).body.model_id;
    const fbErr = async (input: unknown) =>
      (await api('forward_backward', { model_id: modelId, forward_backward_input: input })).body
        .detail as string;
    assert.match(
      await fbErr({ loss_fn: 'nope', data: [] }),
      /forward_backward_input\.loss_fn: unsupported loss/,
    );
    assert.match(
      await fbErr({ loss_fn: 'ppo', loss_fn_config: { eps: 0.2 }, data: [] }),
      /loss_fn_config\.eps: not a config key of ppo/,
    );
    assert.match(
      await fbErr({ loss_fn: 'ppo', data: [datum([1, 2, 3])] }),
      /data\[0\]\.loss_fn_inputs\.logprobs: required by the ppo loss/,
    );
    assert.match(
      await fbErr({
        loss_fn: 'cross_entropy',
        data: [datum([1, 2, 3], { weights: { data: [1], dtype: 'float32' } })],
      }),
      /data\[0\]\.loss_fn_inputs\.weights: has 1 values, model_input has 2 tokens/,
    );
    assert.match(
      await fbErr({
        loss_fn: 'cross_entropy',
        data: [
          { model_input: { chunks: [{ type: 'image', data: 'AA', format: 'png' }] }, loss_fn_inputs: {} },
        ],
      }),
      /data\[0\]\.model_input\.chunks\[0\]\.type: image chunks are not supported/,
    );
    const v = await api('forward_backward', {
      model_id: modelId,
      forward_backward_input: { loss_fn: 'cross_entropy', data: [{ model_input: {}, loss_fn_inputs: {} }] },
    });
    assert.equal(v.status, 422);
    assert.deepEqual(v.body.detail[0].loc, [
      'body',
      'forward_backward_input',
      'data',
      0,
      'model_input',
      'chunks',
    ]);
    assert.equal(
      (
        await api('forward', {
          model_id: 'model_nope',
          forward_input: { loss_fn: 'cross_entropy', data: [] },
        })
      ).status,
      404,
    );
    assert.equal((await api('retrieve_future', { request_id: '99999' })).status, 404);
    assert.equal(
      (await api('asample', { prompt: { chunks: [] }, sampling_params: {}, base_model: 'bigram' })).status,
      400,
    );
    assert.match(
      (
        await api('asample', {
          prompt: { chunks: [{ type: 'encoded_text', tokens: [1] }] },
          sampling_params: {},
          base_model: 'bigram',
          topk_prompt_logprobs: 3,
        })
      ).body.detail,
      /^topk_prompt_logprobs/,
    );
    assert.equal(
      (await api('load_weights', { path: 'tinker://x/weights/y', optimizer: false, model_id: modelId }))
        .status,
      404,
    );
  });
});

test('server: seq_id order, idempotency (same body → same id, other → 409), seq_id gaps', async () => {
  await withServer(
    async (api, _server, made) => {
      const sid = (await api('create_session', { tags: [], sdk_version: 'x' })).body.session_id;
      const ack = await api('create_model', { session_id: sid, model_seq_id: 0, base_model: 'bigram' });
      const again = await api('create_model', { session_id: sid, model_seq_id: 0, base_model: 'bigram' });
      assert.equal(
        again.body.request_id,
        ack.body.request_id,
        'create_model is idempotent on (session, model_seq_id)',
      );
      const modelId = (await result(api, ack)).body.model_id;
      assert.equal(made.length, 1);
      const trainer = made[0]!;
      const fbBody = (seq: number) => ({
        model_id: modelId,
        seq_id: seq,
        forward_backward_input: { loss_fn: 'cross_entropy', data: [datum([1, 2, 3, 4])] },
      });
      // Submit seq 2 (optim) BEFORE seq 1 (forward_backward): it must wait for seq 1.
      const optAck = await api('optim_step', {
        model_id: modelId,
        seq_id: 2,
        adam_params: { learning_rate: 0.1 },
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(trainer.calls.optimStep, 0, 'seq 2 waits for seq 1');
      const fbAck = await api('forward_backward', fbBody(1));
      const dupe = await api('forward_backward', { ...fbBody(1), type: 'ignored' });
      assert.equal(
        dupe.body.request_id,
        fbAck.body.request_id,
        'retry with the same body gets the original request_id',
      );
      const conflict = await api('forward_backward', {
        ...fbBody(1),
        forward_backward_input: { loss_fn: 'cross_entropy', data: [datum([1, 2])] },
      });
      assert.equal(conflict.status, 409);
      const opt = await result(api, optAck);
      assert.ok(opt.body.metrics.grad_norm > 0, 'optim_step ran after forward_backward (non-zero gradient)');
      assert.equal(trainer.calls.forwardBackward, 1);
      assert.equal(trainer.calls.optimStep, 1);
      // A gap: seq 4 without seq 3 still runs after seqGapMs.
      const gap = await result(
        api,
        await api('optim_step', { model_id: modelId, seq_id: 4, adam_params: {} }),
      );
      assert.equal(gap.status, 200);
    },
    // Long enough that seq 2 cannot be released early on a loaded machine.
    { seqGapMs: 1500 },
  );
});

test('server: finished results expire (410); sessions without heartbeats expire and unload their models', async () => {
  await withServer(
    async (api) => {
      const sid = (await api('create_session', { tags: [], sdk_version: 'x' })).body.session_id;
      const modelId = (
        await result(
          api,
          await api('create_model', { session_id: sid, model_seq_id: 0, base_model: 'bigram' }),
        )
      ).body.model_id;
      const ack = await api('forward', {
        model_id: modelId,
        forward_input: { loss_fn: 'cross_entropy', data: [datum([1, 2, 3])] },
      });
      assert.equal((await result(api, ack)).status, 200);
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal((await api('retrieve_future', { request_id: ack.body.request_id })).status, 410);
      await new Promise((r) => setTimeout(r, 1300)); // > sessionTtlMs since creation, plus a sweep
      assert.equal((await api('get_info', { model_id: modelId })).status, 404);
      assert.equal((await api('session_heartbeat', { session_id: sid })).status, 404);
    },
    { futureTtlMs: 1000, sessionTtlMs: 1500 },
  );
});

test('server: X-API-Key enforced when configured', async () => {
  await withServer(
    async (api) => {
      assert.equal((await api('create_session', { tags: [], sdk_version: 'x' })).status, 200, 'with the key');
    },
    { apiKey: 'tml-secret' },
  );
  const dir = mkdtempSync(join(tmpdir(), 'tinker-auth-'));
  const { server, url } = await startTinkerServer(
    { baseModel: 'b', load: async () => new BigramTrainer() },
    { port: 0, checkpointDir: dir, apiKey: 'tml-secret' },
  );
  try {
    const r = await fetch(`${url}/api/v1/create_session`, {
      method: 'POST',
      body: JSON.stringify({ tags: [], sdk_version: 'x' }),
    });
    assert.equal(r.status, 401);
    assert.equal((await fetch(`${url}/api/v1/healthz`)).status, 200);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('client http: x-should-retry overrides the status rule; gives up after maxAttempts naming the last error', async () => {
  const { createServer } = await import('node:http');
  const { TinkerHttp, TinkerHttpError } = await import('../../src/policy/tinker/http.ts');
  const { z } = await import('zod');
  let hits = 0;
  const plan: { status: number; headers?: Record<string, string> }[] = [];
  const srv = createServer((req, res) => {
    hits++;
    const step = plan.shift() ?? { status: 200 };
    res.writeHead(step.status, { 'content-type': 'application/json', ...(step.headers ?? {}) });
    res.end(JSON.stringify(step.status === 200 ? { ok: true } : { detail: `status ${step.status}` }));
  });
  await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', () => ok()));
  const port = (srv.address() as import('node:net').AddressInfo).port;
  const sleeps: number[] = [];
  const http = new TinkerHttp({
    baseUrl: `http://127.0.0.1:${port}`,
    maxAttempts: 3,
    sleep: async (ms) => void sleeps.push(ms),
    log: () => {},
  });
  const Ok = z.object({ ok: z.boolean() });
  try {
    plan.push({ status: 500, headers: { 'x-should-retry': 'false' } });
    await assert.rejects(
      http.post('x', {}, Ok),
      (e: unknown) => e instanceof TinkerHttpError && e.status === 500,
    );
    assert.equal(hits, 1, 'not retried');
    plan.push({ status: 400, headers: { 'x-should-retry': 'true' } });
    assert.deepEqual(await http.post('x', {}, Ok), { ok: true });
    assert.equal(hits, 3, '400 retried because the server asked');
    plan.push({ status: 503 }, { status: 503 }, { status: 503 });
    await assert.rejects(http.post('x', {}, Ok), /gave up after 3 attempts: HTTP 503: status 503/);
    assert.equal(sleeps.length, 1 + 2, 'backoff between attempts, none after the last');
    for (const ms of sleeps)
      assert.ok(ms >= 375 && ms <= 2500, `exponential backoff from 0.5 s with jitter: ${ms}`);
    plan.push({ status: 200 });
    await assert.rejects(http.post('x', {}, z.object({ ok: z.string() })), /unexpected response: ok:/);
  } finally {
    await new Promise<void>((ok) => srv.close(() => ok()));
  }
});

test('client: metrics of chunked requests merge by their name:reduction suffix', () => {
  const m = mergeMetrics(
    [
      { 'loss:sum': 1, 'frac:mean': 0.5, 'lo:min': 3, 'hi:max': 1, grad_norm: 7 },
      { 'loss:sum': 2, 'frac:mean': 0.2, 'lo:min': 2, 'hi:max': 4, grad_norm: 9 },
    ],
    [
      [0, 1],
      [1, 4],
    ],
  );
  assert.equal(m['loss:sum'], 3);
  assert.ok(Math.abs(m['frac:mean']! - (0.5 * 1 + 0.2 * 3) / 4) < 1e-12);
  assert.equal(m['lo:min'], 2);
  assert.equal(m['hi:max'], 4);
  assert.equal(m.grad_norm, 9);
});
