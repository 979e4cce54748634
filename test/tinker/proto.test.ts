// The SDK ≥ 0.25 protobuf wire (docs/tinker-protobuf.md):
// - interop with Debian's python3-protobuf through committed fixtures (scripts/tinker-proto-fixtures.sh
//   made them; this test needs no Python): Python's bytes decode to the case, Python read our bytes as
//   the case, and our encoder still produces the bytes Python read;
// - serve-trainer: protobuf (and zstd) forward_backward bodies train exactly as JSON ones, forward_only
//   is a forward, results come back as protobuf on Accept: application/x-protobuf;
// - bad bodies → 400 naming the field, and the server keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import * as W from '../../src/policy/tinker/wire.ts';
import {
  PROTO_CONTENT_TYPE,
  decodeForwardBackwardOutput,
  decodeForwardBackwardRequest,
  decodeSampleResponse,
  encodeForwardBackwardOutput,
  encodeForwardBackwardRequest,
  encodeSampleResponse,
  protoTypes,
} from '../../src/policy/tinker/proto.ts';
import { zstdCompress } from '../../src/policy/tinker/zstd.ts';
import { startTinkerServer } from '../../src/policy/tinker-server/server.ts';
import { BigramTrainer } from './bigram.ts';
import { PROTO_CASES, type ProtoCase } from './proto-cases.ts';

const FIX = new URL('./fixtures/proto/', import.meta.url);
const fixture = (p: string) => new Uint8Array(readFileSync(new URL(p, FIX)));

function encodeCase(c: ProtoCase): Uint8Array {
  if (c.message === 'ForwardBackwardRequest') return encodeForwardBackwardRequest(c.value, c.forward_only);
  if (c.message === 'ForwardBackwardOutput') return encodeForwardBackwardOutput(c.value);
  return encodeSampleResponse(c.value);
}

function decodeCase(c: ProtoCase, bytes: Uint8Array): { value: unknown; forward_only?: boolean } {
  if (c.message === 'ForwardBackwardRequest') {
    const r = decodeForwardBackwardRequest(bytes);
    return { value: r.request, forward_only: r.forwardOnly };
  }
  if (c.message === 'ForwardBackwardOutput') return { value: decodeForwardBackwardOutput(bytes) };
  return { value: decodeSampleResponse(bytes) };
}

test('interop: the committed cases are the cases in proto-cases.ts', () => {
  assert.deepEqual(JSON.parse(readFileSync(new URL('cases.json', FIX), 'utf8')), PROTO_CASES);
});

for (const c of PROTO_CASES) {
  test(`interop ${c.name}: Python's encoding decodes to the case; Python decodes ours to the case`, () => {
    const expected =
      c.message === 'ForwardBackwardRequest'
        ? { value: c.value, forward_only: c.forward_only }
        : { value: c.value };
    assert.deepEqual(decodeCase(c, fixture(`py/${c.name}.bin`)), expected);
    const pyRead = JSON.parse(readFileSync(new URL(`py-decoded/${c.name}.json`, FIX), 'utf8'));
    assert.deepEqual(pyRead, expected);
    // The bytes Python read are what our encoder writes today (the fixtures are not stale).
    assert.deepEqual(new Uint8Array(encodeCase(c)), fixture(`ts/${c.name}.bin`));
  });
}

const tok = (s: string) => [...s].map((ch) => 'abcdefghij <>/?'.indexOf(ch) + 1);

function fbRequest(modelId: string, seq: number, loss = 'cross_entropy'): W.ForwardBackwardRequest {
  const data = ['abcab', 'jihgf d'].map((s) => {
    const t = tok(s);
    return {
      model_input: { chunks: [{ type: 'encoded_text' as const, tokens: t.slice(0, -1) }] },
      loss_fn_inputs: {
        target_tokens: { data: t.slice(1), dtype: 'int64' as const, shape: [t.length - 1] },
        weights: {
          data: t.slice(1).map((_, i) => (i % 2 ? 1 : 0.5)),
          dtype: 'float32' as const,
          shape: [t.length - 1],
        },
      },
    };
  });
  return { model_id: modelId, seq_id: seq, forward_backward_input: { loss_fn: loss, data } };
}

async function withServer(fn: (base: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-pb-'));
  const { server, url } = await startTinkerServer(
    { baseModel: 'bigram', load: async () => new BigramTrainer(1) },
    { port: 0, checkpointDir: join(dir, 'ck'), longPollMs: 2000 },
  );
  try {
    await fn(`${url}/api/v1/`);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function post(base: string, route: string, body: unknown, headers: Record<string, string> = {}) {
  const bytes = body instanceof Uint8Array;
  const res = await fetch(base + route, {
    method: 'POST',
    headers: { 'content-type': bytes ? PROTO_CONTENT_TYPE : 'application/json', ...headers },
    body: bytes ? Buffer.from(body) : JSON.stringify(body),
  });
  const buf = new Uint8Array(await res.arrayBuffer());
  const ctype = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    ctype,
    bytes: buf,
    json: ctype.includes('json') ? JSON.parse(new TextDecoder().decode(buf)) : null,
  };
}

async function await_(base: string, requestId: string, proto: boolean) {
  for (;;) {
    const r = await post(
      base,
      'retrieve_future',
      { request_id: requestId },
      proto ? { accept: PROTO_CONTENT_TYPE } : {},
    );
    assert.equal(r.status, 200);
    if (r.json?.type === 'try_again') continue;
    return r;
  }
}

async function newModel(base: string): Promise<string> {
  const s = await post(base, 'create_session', { tags: [], sdk_version: '0.25.0', user_metadata: {} });
  const ack = await post(base, 'create_model', {
    session_id: s.json.session_id,
    model_seq_id: 0,
    base_model: 'bigram',
  });
  return (await await_(base, ack.json.request_id, false)).json.model_id;
}

test('serve-trainer: protobuf and zstd forward_backward train exactly as JSON; results as protobuf on Accept', async () => {
  await withServer(async (base) => {
    const cfg = W.ClientConfigResponse.parse(
      (await post(base, 'client/config', { sdk_version: '0.25.0' })).json,
    );
    assert.equal(cfg.proto_compress_fwdbwd, true);
    assert.equal(cfg.create_model_via_load_weights, false);
    const getCfg = await fetch(base + 'client/config');
    assert.equal(getCfg.status, 200);

    const [a, b, c] = [await newModel(base), await newModel(base), await newModel(base)];
    const results: W.ForwardBackwardOutput[] = [];
    // a: JSON, b: protobuf, c: protobuf + zstd; two steps each.
    for (const seq of [1, 3]) {
      const ja = await post(base, 'forward_backward', fbRequest(a, seq));
      const pb = await post(base, 'forward_backward', encodeForwardBackwardRequest(fbRequest(b, seq)));
      const zc = await post(
        base,
        'forward_backward',
        await zstdCompress(encodeForwardBackwardRequest(fbRequest(c, seq))),
        {
          'content-encoding': 'zstd',
        },
      );
      for (const r of [ja, pb, zc]) assert.equal(r.status, 200, JSON.stringify(r.json));
      const outA = W.ForwardBackwardOutput.parse((await await_(base, ja.json.request_id, false)).json);
      const rb = await await_(base, pb.json.request_id, true);
      assert.equal(rb.ctype, PROTO_CONTENT_TYPE);
      const outB = decodeForwardBackwardOutput(rb.bytes);
      const outC = decodeForwardBackwardOutput((await await_(base, zc.json.request_id, true)).bytes);
      assert.deepEqual(outB, outA);
      assert.deepEqual(outC, outA);
      results.push(outA);
      for (const m of [a, b, c]) {
        const o = await post(base, 'optim_step', {
          model_id: m,
          seq_id: seq + 1,
          adam_params: { learning_rate: 0.05 },
        });
        assert.equal((await await_(base, o.json.request_id, true)).json.metrics !== undefined, true);
      }
    }
    assert.notDeepEqual(
      results[0]!.loss_fn_outputs,
      results[1]!.loss_fn_outputs,
      'the step changed the model',
    );

    // forward_only: a forward (no gradient: a following optim_step leaves the forward unchanged).
    const fwd = async () => {
      const r = await post(base, 'forward_backward', encodeForwardBackwardRequest(fbRequest(b, 0), true));
      return decodeForwardBackwardOutput((await await_(base, r.json.request_id, true)).bytes);
    };
    const f1 = await fwd();
    assert.deepEqual(f1.loss_fn_outputs[0]!.logprobs, (await fwd()).loss_fn_outputs[0]!.logprobs);
    const viaJson = await post(base, 'forward', {
      model_id: b,
      forward_input: fbRequest(b, 0).forward_backward_input,
    });
    assert.deepEqual(
      W.ForwardBackwardOutput.parse((await await_(base, viaJson.json.request_id, false)).json),
      f1,
    );

    // asample: protobuf on Accept, the same answer as JSON.
    const sv = await post(base, 'save_weights_for_sampler', {
      model_id: b,
      seq_id: 5,
      sampling_session_seq_id: 0,
    });
    const sid = (await await_(base, sv.json.request_id, true)).json.sampling_session_id;
    const sreq = (seq: number) => ({
      sampling_session_id: sid,
      seq_id: seq,
      prompt: { chunks: [{ type: 'encoded_text', tokens: tok('abc') }] },
      sampling_params: { max_tokens: 6, seed: 7 },
      num_samples: 2,
      prompt_logprobs: true,
    });
    // The same finished future read both ways.
    const sa = await post(base, 'asample', sreq(0));
    const sp = await await_(base, sa.json.request_id, true);
    const sj = await await_(base, sa.json.request_id, false);
    assert.equal(sp.ctype, PROTO_CONTENT_TYPE);
    // Protobuf carries log-probs as float32 (the bigram double computes them in float64).
    const j = W.SampleResponse.parse(sj.json);
    const f32 = (xs: (number | null)[] | null | undefined) =>
      xs?.map((x) => (x === null ? null : Math.fround(x)));
    assert.deepEqual(decodeSampleResponse(sp.bytes), {
      ...j,
      sequences: j.sequences.map((q) => ({ ...q, logprobs: f32(q.logprobs) })),
      prompt_logprobs: f32(j.prompt_logprobs),
    });
  });
});

test('serve-trainer: bad protobuf bodies → 400 naming the field, and the server keeps serving', async () => {
  await withServer(async (base) => {
    const m = await newModel(base);
    const good = encodeForwardBackwardRequest(fbRequest(m, 1));
    const expect400 = async (body: Uint8Array, field: RegExp, headers: Record<string, string> = {}) => {
      const r = await post(base, 'forward_backward', body, headers);
      assert.equal(r.status, 400, JSON.stringify(r.json));
      assert.match(r.json.detail, field);
    };
    // Truncated: cut inside data[1].
    await expect400(good.subarray(0, good.length - 5), /^loss_fn: truncated/);
    await expect400(good.subarray(0, 150), /^data\[1\]: truncated/);
    // Wrong wire type: model_id (string, field 1) sent as a varint; a datum's chunk list as a varint.
    await expect400(Uint8Array.from([0x08, 0x05]), /^model_id: wrong wire type 0/);
    const w = protobuf.Writer.create();
    w.uint32((3 << 3) | 2)
      .fork()
      .uint32((1 << 3) | 0)
      .uint32(7)
      .ldelim();
    await expect400(w.finish(), /^data\[0\]\.model_input\[0\]: wrong wire type 0/);
    // Unknown dtype and mismatched shapes.
    const withTensor = (t: Record<string, unknown>) =>
      protoTypes.ForwardBackwardRequest.encode(
        protoTypes.ForwardBackwardRequest.fromObject({
          model_id: m,
          seq_id: 1,
          loss_fn: 'cross_entropy',
          data: [
            {
              model_input: [{ encoded_text: { tokens: new Uint8Array(new Int32Array([1, 2, 3]).buffer) } }],
              loss_fn_inputs: {
                target_tokens: {
                  dtype: 2,
                  shape: [3],
                  dense: new Uint8Array(new BigInt64Array([2n, 3n, 4n]).buffer),
                },
                weights: t,
              },
            },
          ],
        }),
      ).finish();
    const f32 = new Uint8Array(new Float32Array([1, 1, 1]).buffer);
    await expect400(
      withTensor({ dtype: 9, shape: [3], dense: f32 }),
      /^data\[0\]\.loss_fn_inputs\.weights\.dtype: unknown dtype 9/,
    );
    await expect400(
      withTensor({ dtype: 0, shape: [3], dense: f32 }),
      /^data\[0\]\.loss_fn_inputs\.weights\.dtype: unknown dtype 0/,
    );
    await expect400(
      withTensor({ dtype: 1, shape: [2, 2], dense: f32 }),
      /^data\[0\]\.loss_fn_inputs\.weights\.shape: \[2, 2\] holds 4 values, dense has 3/,
    );
    await expect400(
      withTensor({ dtype: 1, shape: [3], dense: f32.subarray(0, 10) }),
      /^data\[0\]\.loss_fn_inputs\.weights\.dense: 10 bytes/,
    );
    // Shapes agree with themselves but not with the tokens: the JSON path's check names the field.
    await expect400(
      withTensor({ dtype: 1, shape: [2], dense: f32.subarray(0, 8) }),
      /forward_backward_input\.data\[0\]\.loss_fn_inputs\.weights: has 2 values, model_input has 3 tokens/,
    );
    // Not zstd, though labelled so; and an encoding we do not speak.
    await expect400(good, /^body: Content-Encoding is zstd but the body is a not a zstd frame/, {
      'content-encoding': 'zstd',
    });
    const corrupt = await zstdCompress(good);
    corrupt[corrupt.length - 3]! ^= 0xff;
    corrupt[8]! ^= 0x55;
    await expect400(corrupt, /^body: Content-Encoding is zstd/, { 'content-encoding': 'zstd' });
    assert.equal((await post(base, 'forward_backward', good, { 'content-encoding': 'br' })).status, 415);
    assert.equal((await post(base, 'optim_step', good)).status, 415);
    // Still serving: the good body trains.
    const ok = await post(base, 'forward_backward', good);
    assert.equal(ok.status, 200);
    const out = decodeForwardBackwardOutput((await await_(base, ok.json.request_id, true)).bytes);
    assert.equal(out.loss_fn_outputs.length, 2);
  });
});
