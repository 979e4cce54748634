// GGUF v3 export (f32 / f16) of our Qwen2 / Llama checkpoints for llama.cpp (and node-llama-cpp).
//
// File layout (ggml/docs/gguf.md): "GGUF" u32 version=3, u64 n_tensors, u64 n_kv, then the
// key/values, then tensor infos (name, n_dims, dims innermost-first, ggml type, offset), padding
// to `general.alignment`, then the tensor data (each tensor aligned). Little-endian throughout.
//
// Rotary embedding convention: HF checkpoints use rotate-half (pairs (i, i+d/2)). llama.cpp runs
// `qwen2` with NEOX rope (the same pairing) but `llama` with NORM rope (adjacent pairs (2i, 2i+1)),
// so for `llama` the rows of Q and K (weights and biases) are permuted per head from
// [x_0..x_{d/2-1}, y_0..y_{d/2-1}] to [x_0, y_0, x_1, y_1, ...], as llama.cpp's own converter does.
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { f32ToF16 } from './half.ts';
import type { ModelConfig } from '../config.ts';
import { QWEN2_SPLIT_REGEX } from '../tokenizer.ts';
import type { HfTokenizer } from '../tokenizer.ts';
import type { TensorData, TensorMap } from './safetensors.ts';

export type GgufDtype = 'f32' | 'f16';

const enum VT {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}
const GGML_F32 = 0;
const GGML_F16 = 1;
const ALIGNMENT = 32;

/** llama.cpp token types. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export type KV =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'str'; value: string }
  | { type: 'str[]'; value: string[] }
  | { type: 'i32[]'; value: number[] };

/** Grows a byte buffer for the header part. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private readonly enc = new TextEncoder();
  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.length));
    this.buf = b;
    this.view = new DataView(b.buffer);
  }
  u32(v: number) {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number) {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  u64(v: number) {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  f32(v: number) {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  u8(v: number) {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  str(s: string) {
    const b = this.enc.encode(s);
    this.u64(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  pad(align: number) {
    while (this.length % align !== 0) this.u8(0);
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function writeKv(s: ByteSink, key: string, kv: KV): void {
  s.str(key);
  switch (kv.type) {
    case 'u32':
      s.u32(VT.UINT32);
      s.u32(kv.value);
      break;
    case 'i32':
      s.u32(VT.INT32);
      s.i32(kv.value);
      break;
    case 'f32':
      s.u32(VT.FLOAT32);
      s.f32(kv.value);
      break;
    case 'bool':
      s.u32(VT.BOOL);
      s.u8(kv.value ? 1 : 0);
      break;
    case 'str':
      s.u32(VT.STRING);
      s.str(kv.value);
      break;
    case 'str[]':
      s.u32(VT.ARRAY);
      s.u32(VT.STRING);
      s.u64(kv.value.length);
      for (const v of kv.value) s.str(v);
      break;
    case 'i32[]':
      s.u32(VT.ARRAY);
      s.u32(VT.INT32);
      s.u64(kv.value.length);
      for (const v of kv.value) s.i32(v);
      break;
  }
}

/** Per head, rows [first half | second half] → interleaved (HF rotate-half → llama.cpp NORM rope). */
export function permuteRopeRows(t: TensorData, nHeads: number): TensorData {
  const rows = t.shape[0];
  const cols = t.shape.length > 1 ? t.shape[1] : 1;
  const hd = rows / nHeads;
  if (!Number.isInteger(hd) || hd % 2 !== 0)
    throw new Error(`permuteRopeRows: ${rows} rows do not split into ${nHeads} heads of even size`);
  const half = hd / 2;
  const out = new Float32Array(t.data.length);
  for (let h = 0; h < nHeads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = h * hd + j * half + i;
        const dst = h * hd + 2 * i + j;
        out.set(t.data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
    }
  }
  return { shape: [...t.shape], data: out };
}

/** HF tensor name → llama.cpp tensor name (null: not exported, e.g. the value head). */
export function ggufTensorName(hfName: string): string | null {
  const fixed: Record<string, string> = {
    'model.embed_tokens.weight': 'token_embd.weight',
    'model.norm.weight': 'output_norm.weight',
    'lm_head.weight': 'output.weight',
  };
  if (hfName in fixed) return fixed[hfName];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hfName);
  if (!m) return null;
  const part: Record<string, string> = {
    'input_layernorm.weight': 'attn_norm.weight',
    'self_attn.q_proj.weight': 'attn_q.weight',
    'self_attn.q_proj.bias': 'attn_q.bias',
    'self_attn.k_proj.weight': 'attn_k.weight',
    'self_attn.k_proj.bias': 'attn_k.bias',
    'self_attn.v_proj.weight': 'attn_v.weight',
    'self_attn.v_proj.bias': 'attn_v.bias',
    'self_attn.o_proj.weight': 'attn_output.weight',
    'post_attention_layernorm.weight': 'ffn_norm.weight',
    'mlp.gate_proj.weight': 'ffn_gate.weight',
    'mlp.up_proj.weight': 'ffn_up.weight',
    'mlp.down_proj.weight': 'ffn_down.weight',
  };
  const p = part[m[2]];
  return p ? `blk.${m[1]}.${p}` : null;
}

/** Llama 3's split (as Qwen2's, but digits in runs of up to three): llama.cpp pre "llama-bpe". */
const LLAMA3_SPLIT_REGEX = QWEN2_SPLIT_REGEX.replace('\\p{N}|', '\\p{N}{1,3}|');

/**
 * llama.cpp names its pre-tokenizers (regex sets) instead of storing the regex, so the split in
 * tokenizer.json must be one it knows: Qwen2's → "qwen2", Llama 3's → "llama-bpe", GPT-2's
 * (ByteLevel with use_regex) → "gpt2". Anything else is refused rather than silently tokenized
 * differently by llama.cpp.
 */
export function ggufPreTokenizer(preTokenizer: unknown): string {
  const p = (preTokenizer ?? null) as Record<string, unknown> | null;
  const parts =
    (p?.type === 'Sequence' ? (p.pretokenizers as Record<string, unknown>[]) : p ? [p] : []) ?? [];
  const byteLevel = parts.find((x) => x.type === 'ByteLevel');
  const splits = parts.filter((x) => x.type === 'Split');
  if (!byteLevel)
    throw new Error(
      'GGUF export: tokenizer.json field "pre_tokenizer" is not byte-level (only byte-level BPE is supported)',
    );
  if (splits.length === 0 && byteLevel.use_regex !== false) return 'gpt2';
  if (splits.length === 1) {
    const re = (splits[0].pattern as { Regex?: string } | undefined)?.Regex;
    if (re === QWEN2_SPLIT_REGEX) return 'qwen2';
    if (re === LLAMA3_SPLIT_REGEX) return 'llama-bpe';
  }
  throw new Error(
    `GGUF export: tokenizer.json field "pre_tokenizer" (${JSON.stringify(p).slice(0, 200)}) is not a split llama.cpp knows (Qwen2, Llama 3 or GPT-2)`,
  );
}

/** The tokenizer.ggml.* metadata of a byte-level BPE tokenizer, padded to the model's vocab. */
export function ggufTokenizerMetadata(tok: HfTokenizer, modelVocab: number): [string, KV][] {
  const tj = tok.files.tokenizerJson;
  const model = tj.model as {
    type?: string;
    vocab?: Record<string, number>;
    merges?: (string | [string, string])[];
  };
  if (model.type !== 'BPE')
    throw new Error(
      `GGUF export: tokenizer model type "${model.type}" is not supported (byte-level BPE only)`,
    );
  const pre = ggufPreTokenizer(tj.pre_tokenizer);
  if (tok.vocabSize > modelVocab)
    throw new Error(
      `GGUF export: tokenizer has ${tok.vocabSize} tokens but the model's vocab_size is ${modelVocab}`,
    );
  const tokens = new Array<string>(modelVocab);
  const types = new Array<number>(modelVocab).fill(TokenType.NORMAL);
  for (const [t, id] of Object.entries(model.vocab ?? {})) tokens[id] = t;
  const added = (tj.added_tokens ?? []) as { id: number; content: string; special: boolean }[];
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  for (let i = 0; i < modelVocab; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`; // rows beyond the tokenizer (as llama.cpp's converter pads)
      types[i] = TokenType.UNUSED;
    }
  }
  const merges = (model.merges ?? []).map((m) => (Array.isArray(m) ? `${m[0]} ${m[1]}` : m));
  const eos = tok.eosTokenIds[0];
  const imEnd = tok.tokenToId('<|im_end|>');
  const cfg = tok.files.tokenizerConfig;
  const padName = typeof cfg.pad_token === 'string' ? cfg.pad_token : null;
  const pad = padName !== null ? tok.tokenToId(padName) : undefined;
  const kv: [string, KV][] = [
    ['tokenizer.ggml.model', { type: 'str', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'str', value: pre }],
    ['tokenizer.ggml.tokens', { type: 'str[]', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.merges', { type: 'str[]', value: merges }],
  ];
  // No BOS in our tokenizers: point it at EOS (as Qwen2 GGUFs do) and never add it.
  const bos = tok.bosTokenId ?? eos;
  if (bos !== undefined) kv.push(['tokenizer.ggml.bos_token_id', { type: 'u32', value: bos }]);
  if (eos !== undefined) kv.push(['tokenizer.ggml.eos_token_id', { type: 'u32', value: eos }]);
  if (imEnd !== undefined && imEnd !== eos)
    kv.push(['tokenizer.ggml.eot_token_id', { type: 'u32', value: imEnd }]);
  if (pad !== undefined) kv.push(['tokenizer.ggml.padding_token_id', { type: 'u32', value: pad }]);
  kv.push([
    'tokenizer.ggml.add_bos_token',
    { type: 'bool', value: tok.files.tokenizerConfig.add_bos_token === true },
  ]);
  if (tok.chatTemplate) kv.push(['tokenizer.chat_template', { type: 'str', value: tok.chatTemplate }]);
  return kv;
}

export interface GgufExportOptions {
  dtype?: GgufDtype;
  name?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes `config` + `tensors` (HF names) + tokenizer as a GGUF v3 file, atomically.
 * f16 stores 2-D weights in f16 and keeps 1-D tensors (norms, biases) in f32, as llama.cpp expects.
 */
export function writeGguf(
  outPath: string,
  config: ModelConfig,
  tensors: TensorMap,
  tokenizer: HfTokenizer,
  opts: GgufExportOptions = {},
): void {
  const dtype = opts.dtype ?? 'f32';
  const arch = config.arch;
  const kvs: [string, KV][] = [
    ['general.architecture', { type: 'str', value: arch }],
    ['general.name', { type: 'str', value: opts.name ?? basename(outPath).replace(/\.gguf$/, '') }],
    ['general.alignment', { type: 'u32', value: ALIGNMENT }],
    ['general.file_type', { type: 'u32', value: dtype === 'f16' ? 1 : 0 }],
    [`${arch}.vocab_size`, { type: 'u32', value: config.vocabSize }],
    [`${arch}.context_length`, { type: 'u32', value: config.maxPositionEmbeddings }],
    [`${arch}.embedding_length`, { type: 'u32', value: config.hiddenSize }],
    [`${arch}.block_count`, { type: 'u32', value: config.numLayers }],
    [`${arch}.feed_forward_length`, { type: 'u32', value: config.intermediateSize }],
    [`${arch}.attention.head_count`, { type: 'u32', value: config.numHeads }],
    [`${arch}.attention.head_count_kv`, { type: 'u32', value: config.numKvHeads }],
    [`${arch}.attention.key_length`, { type: 'u32', value: config.headDim }],
    [`${arch}.attention.value_length`, { type: 'u32', value: config.headDim }],
    [`${arch}.rope.dimension_count`, { type: 'u32', value: config.headDim }],
    [`${arch}.rope.freq_base`, { type: 'f32', value: config.ropeTheta }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: config.rmsNormEps }],
    ...ggufTokenizerMetadata(tokenizer, config.vocabSize),
  ];

  // Tensors in llama.cpp naming, with the llama rope permutation applied.
  const out: GgufTensor[] = [];
  for (const [hf, t] of tensors) {
    const name = ggufTensorName(hf);
    if (name === null) {
      if (hf.startsWith('value_head.')) continue; // the PPO critic head has no llama.cpp counterpart
      throw new Error(`GGUF export: tensor "${hf}" has no llama.cpp name`);
    }
    if (name === 'output.weight' && config.tieWordEmbeddings) continue; // llama.cpp falls back to token_embd
    let data = t;
    if (arch === 'llama' && /\.attn_q\./.test(name)) data = permuteRopeRows(t, config.numHeads);
    if (arch === 'llama' && /\.attn_k\./.test(name)) data = permuteRopeRows(t, config.numKvHeads);
    out.push({ name, t: data, type: ggufTensorType(dtype, t.shape) });
  }

  writeGgufFile(outPath, kvs, out, opts.onProgress);
}

/** One tensor to write: llama.cpp name, fp32 data (HF row-major shape), stored type. */
export interface GgufTensor {
  name: string;
  t: TensorData;
  type: typeof GGML_F32 | typeof GGML_F16;
}

/** ggml type of a tensor for an export dtype: f16 for 2-D weights, 1-D tensors stay f32. */
export function ggufTensorType(
  dtype: GgufDtype,
  shape: readonly number[],
): typeof GGML_F32 | typeof GGML_F16 {
  return dtype === 'f16' && shape.length === 2 ? GGML_F16 : GGML_F32;
}

/** Writes a GGUF v3 file (header, key/values, tensor infos, aligned data), atomically. */
export function writeGgufFile(
  outPath: string,
  kvs: [string, KV][],
  out: GgufTensor[],
  onProgress?: (done: number, total: number) => void,
): void {
  const s = new ByteSink();
  s.u32(0x46554747); // "GGUF"
  s.u32(3);
  s.u64(out.length);
  s.u64(kvs.length);
  for (const [k, v] of kvs) writeKv(s, k, v);
  let offset = 0;
  for (const o of out) {
    s.str(o.name);
    s.u32(o.t.shape.length);
    for (let i = o.t.shape.length - 1; i >= 0; i--) s.u64(o.t.shape[i]); // ggml: innermost first
    s.u32(o.type);
    s.u64(offset);
    offset += Math.ceil((o.t.data.length * (o.type === GGML_F16 ? 2 : 4)) / ALIGNMENT) * ALIGNMENT;
  }
  s.pad(ALIGNMENT);

  const tmp = join(dirname(outPath), `.${basename(outPath)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, s.bytes());
    const zeros = new Uint8Array(ALIGNMENT);
    let done = 0;
    for (const o of out) {
      let bytes: Uint8Array;
      if (o.type === GGML_F16) {
        const h = new Uint16Array(o.t.data.length);
        f32ToF16(o.t.data, h);
        bytes = new Uint8Array(h.buffer);
      } else bytes = new Uint8Array(o.t.data.buffer, o.t.data.byteOffset, o.t.data.byteLength);
      writeAll(fd, bytes);
      const padN = (ALIGNMENT - (bytes.length % ALIGNMENT)) % ALIGNMENT;
      if (padN) writeAll(fd, zeros.subarray(0, padN));
      done++;
      onProgress?.(done, out.length);
    }
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, outPath);
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, Math.min(buf.length - done, 1 << 30));
}
