// Tinker's protobuf wire (SDK ≥ 0.25.0; docs/tinker-protobuf.md): the schema
// tinker_public.proto (beside this file, copied from the SDK's descriptor) ↔ the JSON wire shapes of
// wire.ts, so client and server keep one internal representation and protobuf is only a transport.
//
// Messages carried as protobuf:
//   ForwardBackwardRequest  (POST forward_backward body; `forward_only` replaces POST forward)
//   ForwardBackwardOutput   (retrieve_future result on Accept: application/x-protobuf)
//   SampleResponse          (retrieve_future result on Accept: application/x-protobuf)
// Arrays travel as little-endian bytes: tokens int32, tensors in their dtype, CSR indices int64,
// batched outputs as one `data` blob + int64 byte `offsets` (num_datums + 1).
//
// Decoding is strict: before protobufjs decodes, `checkWire` walks the bytes against the schema so a
// truncated body or a field sent with the wrong wire type is reported by its field path (protobufjs
// would otherwise read garbage or fail with a bare offset). Every error is a ProtoError naming the
// field, which the server turns into a 400.
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import type * as W from './wire.ts';

export const PROTO_CONTENT_TYPE = 'application/x-protobuf';

/** A protobuf body that cannot be read; `field` is the path of the offending field. */
export class ProtoError extends Error {
  constructor(
    readonly field: string,
    msg: string,
  ) {
    super(`${field}: ${msg}`);
  }
}

const root = protobuf
  .parse(readFileSync(new URL('./tinker_public.proto', import.meta.url), 'utf8'), {
    keepCase: true,
  })
  .root.resolveAll();
export const protoTypes = {
  ForwardBackwardRequest: root.lookupType('tinker_public.ForwardBackwardRequest'),
  ForwardBackwardOutput: root.lookupType('tinker_public.ForwardBackwardOutput'),
  SampleResponse: root.lookupType('tinker_public.SampleResponse'),
};

// ---------- dtypes and little-endian arrays ----------

const DTYPE = { FLOAT32: 1, INT64: 2, INT32: 3, BFLOAT16: 4 } as const;
const DTYPE_NAMES: Record<number, string> = { 1: 'float32', 2: 'int64', 3: 'int32', 4: 'bfloat16' };

function itemSize(dtype: number): number {
  return dtype === DTYPE.INT64 ? 8 : dtype === DTYPE.BFLOAT16 ? 2 : 4;
}

/** Little-endian bytes → numbers in `dtype` (bfloat16 widened to float32 as the SDK does). */
function readArray(bytes: Uint8Array, dtype: number, field: string): number[] {
  const size = itemSize(dtype);
  if (bytes.length % size !== 0) {
    throw new ProtoError(
      field,
      `${bytes.length} bytes is not a whole number of ${DTYPE_NAMES[dtype]} values (${size} bytes each)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / size;
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (dtype === DTYPE.FLOAT32) out[i] = dv.getFloat32(i * 4, true);
    else if (dtype === DTYPE.INT32) out[i] = dv.getInt32(i * 4, true);
    else if (dtype === DTYPE.INT64) {
      const v = dv.getBigInt64(i * 8, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        throw new ProtoError(field, `int64 value ${v} at index ${i} is beyond 2^53`);
      out[i] = Number(v);
    } else {
      const f = new DataView(new ArrayBuffer(4));
      f.setUint32(0, dv.getUint16(i * 2, true) << 16);
      out[i] = f.getFloat32(0);
    }
  }
  return out;
}

function writeArray(values: ArrayLike<number>, dtype: number): Uint8Array {
  const size = itemSize(dtype);
  const out = new Uint8Array(values.length * size);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (dtype === DTYPE.FLOAT32) dv.setFloat32(i * 4, v, true);
    else if (dtype === DTYPE.INT32) dv.setInt32(i * 4, v, true);
    else if (dtype === DTYPE.INT64) dv.setBigInt64(i * 8, BigInt(Math.trunc(v)), true);
    else throw new Error('bfloat16 is never written');
  }
  return out;
}

function num(x: number | { toNumber(): number }): number {
  return typeof x === 'number' ? x : x.toNumber();
}

function checkDtype(d: number, field: string): number {
  if (!(d in DTYPE_NAMES)) {
    throw new ProtoError(
      field,
      `unknown dtype ${d} (DTYPE_FLOAT32 = 1, DTYPE_INT64 = 2, DTYPE_INT32 = 3, DTYPE_BFLOAT16 = 4)`,
    );
  }
  return d;
}

function wireDtype(t: W.TensorData['dtype']): number {
  return t === 'int64' ? DTYPE.INT64 : DTYPE.FLOAT32;
}

// ---------- structural check: truncation and wire types, by field path ----------

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

function expectedWireTypes(f: protobuf.Field): number[] {
  if (f.map || f.resolvedType instanceof protobuf.Type) return [LEN];
  const scalar: Record<string, number> = {
    double: FIXED64,
    fixed64: FIXED64,
    sfixed64: FIXED64,
    float: FIXED32,
    fixed32: FIXED32,
    sfixed32: FIXED32,
    string: LEN,
    bytes: LEN,
  };
  const w = scalar[f.type] ?? VARINT; // ints, bools, enums
  return f.repeated && w !== LEN ? [w, LEN] : [w]; // repeated scalars may be packed
}

function skip(r: protobuf.Reader, wt: number): void {
  if (wt === VARINT) r.uint64();
  else if (wt === FIXED64) r.skip(8);
  else if (wt === LEN) r.skip(r.uint32());
  else if (wt === FIXED32) r.skip(4);
  else throw new Error(`wire type ${wt} is not supported`);
}

/** Walks `bytes` as a `type` message; throws ProtoError naming the field that is malformed. */
function checkWire(type: protobuf.Type, bytes: Uint8Array, path: string): void {
  const r = protobuf.Reader.create(bytes);
  const seen = new Map<number, number>();
  const at = (name: string): string => (path ? `${path}.${name}` : name);
  while (r.pos < r.len) {
    let tag: number;
    try {
      tag = r.uint32();
    } catch {
      throw new ProtoError(path || 'body', 'truncated (a field tag runs past the end of the body)');
    }
    const id = tag >>> 3;
    const wt = tag & 7;
    const f = type.fieldsById[id];
    const k = seen.get(id) ?? 0;
    seen.set(id, k + 1);
    const name = f ? at(f.repeated ? `${f.name}[${k}]` : f.name) : at(`<field ${id}>`);
    if (id === 0) throw new ProtoError(path || 'body', `invalid field number 0 at byte ${r.pos}`);
    if (f && !expectedWireTypes(f).includes(wt)) {
      throw new ProtoError(
        name,
        `wrong wire type ${wt} (expected ${expectedWireTypes(f).join(' or ')} for ${f.map ? 'map' : f.type})`,
      );
    }
    const start = r.pos;
    try {
      skip(r, wt);
    } catch (err) {
      throw new ProtoError(name, `truncated (${(err as Error).message})`);
    }
    if (!f || wt !== LEN) continue;
    // Recurse into embedded messages (and map entries) to check them too.
    const inner = protobuf.Reader.create(bytes.subarray(start, r.pos));
    const payload = bytes.subarray(start + (inner.uint32(), inner.pos), r.pos);
    if (f.map) checkMapEntry(f as unknown as protobuf.MapField, payload, at(f.name));
    else if (f.resolvedType instanceof protobuf.Type) checkWire(f.resolvedType, payload, name);
  }
}

function scalarWireType(type: string): number {
  return expectedWireTypes(new protobuf.Field('x', 1, type))[0]!;
}

/** One map entry (key = 1, value = 2): wire types checked, message values recursed into. */
function checkMapEntry(f: protobuf.MapField, bytes: Uint8Array, path: string): void {
  const r = protobuf.Reader.create(bytes);
  let key = '<key>';
  while (r.pos < r.len) {
    const tag = r.uint32();
    const id = tag >>> 3;
    const wt = tag & 7;
    const start = r.pos;
    const message = f.resolvedType instanceof protobuf.Type ? f.resolvedType : null;
    const want =
      id === 1 ? scalarWireType(f.keyType) : id === 2 ? (message ? LEN : scalarWireType(f.type)) : wt;
    if (wt !== want)
      throw new ProtoError(`${path}.${key}`, `wrong wire type ${wt} in a map entry (expected ${want})`);
    try {
      skip(r, wt);
    } catch (err) {
      throw new ProtoError(`${path}.${key}`, `truncated map entry (${(err as Error).message})`);
    }
    if (wt !== LEN) continue;
    const inner = protobuf.Reader.create(bytes.subarray(start, r.pos));
    const payload = bytes.subarray(start + (inner.uint32(), inner.pos), r.pos);
    if (id === 1) key = new TextDecoder().decode(payload);
    if (id === 2 && message) checkWire(message, payload, `${path}.${key}`);
  }
}

// Decoded messages (keepCase field names; int64 arrives as number or Long).
type Int64 = number | { toNumber(): number };
interface PbTensor {
  dtype: number;
  shape: Int64[];
  encoding?: 'dense' | 'sparse_csr';
  dense: Uint8Array;
  sparse_csr: { values: Uint8Array; crow_indices: Uint8Array; col_indices: Uint8Array };
}
interface PbChunk {
  chunk?: 'encoded_text' | 'image' | 'dmel';
  encoded_text: { tokens: Uint8Array };
}
interface PbForwardBackwardRequest {
  model_id: string;
  seq_id: number;
  data: { model_input: PbChunk[]; loss_fn_inputs: Record<string, PbTensor> }[];
  loss_fn: string;
  loss_fn_config: Record<string, number>;
  forward_only: boolean;
}
interface PbBatchedTensor {
  data: Uint8Array;
  offsets: Uint8Array;
  dtype: number;
  trailing_shape: Int64[];
}
interface PbForwardBackwardOutput {
  loss_fn_output_type: string;
  loss_fn_outputs: { fields: Record<string, PbBatchedTensor>; num_datums: Int64 }[];
  metrics: Record<string, number>;
}
interface PbSampleResponse {
  sequences: { stop_reason: number; tokens: Uint8Array; logprobs?: Uint8Array }[];
  prompt_logprobs?: Uint8Array;
  prompt_cache_hit_tokens: number;
}

function decode<M>(type: protobuf.Type, bytes: Uint8Array): M {
  checkWire(type, bytes, '');
  try {
    return type.decode(bytes) as unknown as M;
  } catch (err) {
    throw new ProtoError('body', `not a valid tinker_public.${type.name}: ${(err as Error).message}`);
  }
}

// ---------- ForwardBackwardRequest ----------

/** The JSON forward_backward request plus the protobuf-only `forward_only` flag. */
export interface ProtoForwardBackward {
  request: W.ForwardBackwardRequest;
  forwardOnly: boolean;
}

function tensorToWire(t: W.TensorData): Record<string, unknown> {
  const dtype = wireDtype(t.dtype);
  const shape = t.shape ?? [t.data.length];
  if (t.sparse_crow_indices || t.sparse_col_indices) {
    return {
      dtype,
      shape,
      sparse_csr: {
        values: writeArray(t.data, dtype),
        crow_indices: writeArray(t.sparse_crow_indices ?? [], DTYPE.INT64),
        col_indices: writeArray(t.sparse_col_indices ?? [], DTYPE.INT64),
      },
    };
  }
  return { dtype, shape, dense: writeArray(t.data, dtype) };
}

function tensorFromWire(m: PbTensor, field: string): W.TensorData {
  const dtype = checkDtype(m.dtype as number, `${field}.dtype`);
  const shape = (m.shape as (number | { toNumber(): number })[]).map(num);
  const outDtype: W.TensorData['dtype'] =
    dtype === DTYPE.INT64 || dtype === DTYPE.INT32 ? 'int64' : 'float32';
  if (m.encoding === 'sparse_csr') {
    const s = m.sparse_csr as Record<string, Uint8Array>;
    if (shape.length === 0) throw new ProtoError(`${field}.shape`, 'required for sparse_csr tensors');
    return {
      data: readArray(s.values!, dtype, `${field}.sparse_csr.values`),
      dtype: outDtype,
      shape,
      sparse_crow_indices: readArray(s.crow_indices!, DTYPE.INT64, `${field}.sparse_csr.crow_indices`),
      sparse_col_indices: readArray(s.col_indices!, DTYPE.INT64, `${field}.sparse_csr.col_indices`),
    };
  }
  if (m.encoding !== 'dense') throw new ProtoError(field, 'has neither dense nor sparse_csr data');
  const data = readArray(m.dense as Uint8Array, dtype, `${field}.dense`);
  if (shape.some((d) => d < 0)) throw new ProtoError(`${field}.shape`, `negative dimension in [${shape}]`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.length > 0 && count !== data.length) {
    throw new ProtoError(
      `${field}.shape`,
      `[${shape.join(', ')}] holds ${count} values, dense has ${data.length}`,
    );
  }
  return { data, dtype: outDtype, shape: shape.length > 0 ? shape : [data.length] };
}

export function encodeForwardBackwardRequest(req: W.ForwardBackwardRequest, forwardOnly = false): Uint8Array {
  const input = req.forward_backward_input;
  const msg = {
    model_id: req.model_id,
    seq_id: req.seq_id ?? 0,
    loss_fn: input.loss_fn,
    loss_fn_config: input.loss_fn_config ?? {},
    forward_only: forwardOnly,
    data: input.data.map((d) => ({
      model_input: d.model_input.chunks.map((c) => {
        if (c.type !== 'encoded_text')
          throw new Error(`protobuf: ${c.type} chunks are not encoded by this client`);
        return { encoded_text: { tokens: writeArray((c as { tokens: number[] }).tokens, DTYPE.INT32) } };
      }),
      loss_fn_inputs: Object.fromEntries(
        Object.entries(d.loss_fn_inputs).map(([k, t]) => [k, tensorToWire(t)]),
      ),
    })),
  };
  return protoTypes.ForwardBackwardRequest.encode(protoTypes.ForwardBackwardRequest.fromObject(msg)).finish();
}

export function decodeForwardBackwardRequest(bytes: Uint8Array): ProtoForwardBackward {
  const m = decode<PbForwardBackwardRequest>(protoTypes.ForwardBackwardRequest, bytes);
  const data: W.WireDatum[] = m.data.map((d, i) => {
    const field = `data[${i}]`;
    const chunks: W.ModelInput['chunks'] = d.model_input.map((c, j) => {
      const cf = `${field}.model_input[${j}]`;
      if (c.chunk === 'encoded_text') {
        return {
          type: 'encoded_text' as const,
          tokens: readArray(c.encoded_text.tokens as Uint8Array, DTYPE.INT32, `${cf}.encoded_text.tokens`),
        };
      }
      if (c.chunk === 'image') return { type: 'image' as const };
      if (c.chunk === 'dmel') return { type: 'dmel' as const };
      throw new ProtoError(cf, 'chunk has none of encoded_text, image, dmel');
    });
    const inputs: Record<string, W.TensorData> = {};
    for (const [k, t] of Object.entries(d.loss_fn_inputs)) {
      inputs[k] = tensorFromWire(t, `${field}.loss_fn_inputs.${k}`);
    }
    return { model_input: { chunks }, loss_fn_inputs: inputs };
  });
  const config = m.loss_fn_config as Record<string, number>;
  const seq = m.seq_id as number;
  return {
    request: {
      model_id: m.model_id as string,
      ...(seq !== 0 ? { seq_id: seq } : {}),
      forward_backward_input: {
        data,
        loss_fn: m.loss_fn as string,
        ...(Object.keys(config).length ? { loss_fn_config: { ...config } } : {}),
      },
    },
    forwardOnly: m.forward_only as boolean,
  };
}

// ---------- ForwardBackwardOutput ----------

/** Datums with the same field names go into one ArrayRecord; a change of field set starts another. */
export function encodeForwardBackwardOutput(out: W.ForwardBackwardOutput): Uint8Array {
  const records: Record<string, unknown>[] = [];
  let i = 0;
  while (i < out.loss_fn_outputs.length) {
    const keys = Object.keys(out.loss_fn_outputs[i]!).sort();
    let j = i + 1;
    while (
      j < out.loss_fn_outputs.length &&
      Object.keys(out.loss_fn_outputs[j]!).sort().join() === keys.join()
    )
      j++;
    const group = out.loss_fn_outputs.slice(i, j);
    const fields: Record<string, unknown> = {};
    for (const k of keys) {
      const dtype = wireDtype(group[0]![k]!.dtype);
      const trailing = (group[0]![k]!.shape ?? [0]).slice(1);
      const parts = group.map((d) => writeArray(d[k]!.data, dtype));
      const offsets = [0];
      for (const p of parts) offsets.push(offsets[offsets.length - 1]! + p.length);
      const data = new Uint8Array(offsets[offsets.length - 1]!);
      parts.forEach((p, n) => data.set(p, offsets[n]!));
      fields[k] = { data, offsets: writeArray(offsets, DTYPE.INT64), dtype, trailing_shape: trailing };
    }
    records.push({ type_tag: out.loss_fn_output_type, fields, num_datums: group.length });
    i = j;
  }
  const msg = {
    loss_fn_output_type: out.loss_fn_output_type,
    loss_fn_outputs: records,
    metrics: out.metrics,
  };
  return protoTypes.ForwardBackwardOutput.encode(protoTypes.ForwardBackwardOutput.fromObject(msg)).finish();
}

export function decodeForwardBackwardOutput(bytes: Uint8Array): W.ForwardBackwardOutput {
  const m = decode<PbForwardBackwardOutput>(protoTypes.ForwardBackwardOutput, bytes);
  const outputs: Record<string, W.TensorData>[] = [];
  m.loss_fn_outputs.forEach((rec, r) => {
    const n = num(rec.num_datums);
    const base = outputs.length;
    for (let d = 0; d < n; d++) outputs.push({});
    for (const [k, bt] of Object.entries(rec.fields)) {
      const field = `loss_fn_outputs[${r}].fields.${k}`;
      const dtype = checkDtype(bt.dtype as number, `${field}.dtype`);
      const offsets = readArray(bt.offsets as Uint8Array, DTYPE.INT64, `${field}.offsets`);
      if (offsets.length !== n + 1)
        throw new ProtoError(
          `${field}.offsets`,
          `has ${offsets.length} entries, expected num_datums + 1 = ${n + 1}`,
        );
      const trailing = (bt.trailing_shape as (number | { toNumber(): number })[]).map(num);
      const inner = trailing.reduce((a, b) => a * b, 1);
      const blob = bt.data as Uint8Array;
      for (let d = 0; d < n; d++) {
        const [a, b] = [offsets[d]!, offsets[d + 1]!];
        if (a > b || b > blob.length)
          throw new ProtoError(`${field}.offsets`, `[${a}, ${b}) is outside data (${blob.length} bytes)`);
        const values = readArray(blob.subarray(a, b), dtype, `${field}.data`);
        outputs[base + d]![k] = {
          data: values,
          dtype: dtype === DTYPE.INT64 || dtype === DTYPE.INT32 ? 'int64' : 'float32',
          shape: [inner > 0 ? values.length / inner : 0, ...trailing],
        };
      }
    }
  });
  return {
    loss_fn_output_type: m.loss_fn_output_type as string,
    loss_fn_outputs: outputs,
    metrics: { ...(m.metrics as Record<string, number>) },
  };
}

// ---------- SampleResponse ----------

/** prompt_logprobs' leading null (no logprob for the first token) travels as NaN. */
export function encodeSampleResponse(s: W.SampleResponse): Uint8Array {
  if (s.topk_prompt_logprobs) throw new Error('protobuf: topk_prompt_logprobs is not encoded');
  const msg: Record<string, unknown> = {
    sequences: s.sequences.map((q) => ({
      stop_reason: q.stop_reason === 'length' ? 1 : 0,
      tokens: writeArray(q.tokens, DTYPE.INT32),
      ...(q.logprobs ? { logprobs: writeArray(q.logprobs, DTYPE.FLOAT32) } : {}),
    })),
    prompt_cache_hit_tokens: s.prompt_cache_hit_tokens ?? 0,
  };
  if (s.prompt_logprobs) {
    msg.prompt_logprobs = writeArray(
      s.prompt_logprobs.map((x) => (x === null ? NaN : x)),
      DTYPE.FLOAT32,
    );
  }
  return protoTypes.SampleResponse.encode(protoTypes.SampleResponse.fromObject(msg)).finish();
}

export function decodeSampleResponse(bytes: Uint8Array): W.SampleResponse {
  const m = decode<PbSampleResponse>(protoTypes.SampleResponse, bytes);
  const has = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);
  return {
    type: 'sample',
    sequences: m.sequences.map((q, i) => ({
      tokens: readArray(q.tokens as Uint8Array, DTYPE.INT32, `sequences[${i}].tokens`),
      logprobs: has(q, 'logprobs')
        ? readArray(q.logprobs as Uint8Array, DTYPE.FLOAT32, `sequences[${i}].logprobs`)
        : null,
      stop_reason: (q.stop_reason as number) === 1 ? 'length' : 'stop',
    })),
    prompt_logprobs: has(m, 'prompt_logprobs')
      ? readArray(m.prompt_logprobs as Uint8Array, DTYPE.FLOAT32, 'prompt_logprobs').map((x) =>
          Number.isNaN(x) ? null : x,
        )
      : null,
    topk_prompt_logprobs: null,
    prompt_cache_hit_tokens: m.prompt_cache_hit_tokens as number,
  };
}
