// Safetensors reader/writer (https://github.com/huggingface/safetensors, format section):
//   [u64 LE N][N bytes JSON header, space-padded][raw little-endian tensor bytes]
// Header: { name: {dtype, shape, data_offsets: [begin, end]} , "__metadata__"?: {str: str} },
// offsets relative to the start of the byte buffer after the header.
//
// We compute in fp32, so every tensor loads as a Float32Array (F16/BF16 are widened exactly).
// Files are read with positioned fd reads, tensor by tensor, so a 1 GB bf16 checkpoint never
// becomes one giant Buffer or string; every offset is checked against the file size first.
import { closeSync, fstatSync, openSync, readSync, renameSync, writeSync, rmSync } from 'node:fs';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './half.ts';

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** One tensor: row-major shape and its values as fp32. */
export interface TensorData {
  shape: number[];
  data: Float32Array;
}

export type TensorMap = Map<string, TensorData>;

export interface HeaderEntry {
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file (already offset by the header). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  path: string;
  fileSize: number;
  tensors: Map<string, HeaderEntry>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  U16: 2,
  U32: 4,
  U64: 8,
};
const SUPPORTED = new Set<string>(['F32', 'F16', 'BF16']);
/** Refuse absurd headers before allocating for them (the format caps it at 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
    readonly tensor?: string,
  ) {
    super(`${file}${tensor !== undefined ? `: tensor "${tensor}"` : ''}: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function readExactly(fd: number, buf: Uint8Array, position: number, file: string, what: string): void {
  let done = 0;
  while (done < buf.length) {
    // At most 1 GiB per call: Node refuses single reads/writes above 2 GiB.
    const n = readSync(fd, buf, done, Math.min(buf.length - done, 1 << 30), position + done);
    if (n === 0) throw new SafetensorsError(file, `unexpected end of file while reading ${what}`);
    done += n;
  }
}

/** Parses and validates the header only (cheap: reads 8 + N bytes). */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const fd = openSync(path, 'r');
  try {
    return readHeaderFd(fd, path);
  } finally {
    closeSync(fd);
  }
}

function readHeaderFd(fd: number, path: string): SafetensorsHeader {
  const fileSize = fstatSync(fd).size;
  if (fileSize < 8)
    throw new SafetensorsError(
      path,
      `file is ${fileSize} bytes: too short for a safetensors header (truncated?)`,
    );
  const lenBuf = new Uint8Array(8);
  readExactly(fd, lenBuf, 0, path, 'the header length');
  const headerLen = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
  if (headerLen > MAX_HEADER_BYTES)
    throw new SafetensorsError(path, `header length ${headerLen} is implausible (not a safetensors file?)`);
  if (8 + headerLen > fileSize) {
    throw new SafetensorsError(
      path,
      `header says ${headerLen} bytes but the file has only ${fileSize - 8} after the length (truncated?)`,
    );
  }
  const headerBuf = new Uint8Array(headerLen);
  readExactly(fd, headerBuf, 8, path, 'the header');
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(headerBuf));
  } catch (e) {
    throw new SafetensorsError(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new SafetensorsError(path, 'header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, HeaderEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null)
      throw new SafetensorsError(path, 'header entry is not an object', name);
    if (typeof e.dtype !== 'string' || !(e.dtype in BYTES))
      throw new SafetensorsError(path, `unknown dtype ${JSON.stringify(e.dtype)}`, name);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(path, `bad shape ${JSON.stringify(e.shape)}`, name);
    }
    const off = e.data_offsets;
    if (
      !Array.isArray(off) ||
      off.length !== 2 ||
      !off.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      off[0] > off[1]
    ) {
      throw new SafetensorsError(path, `bad data_offsets ${JSON.stringify(off)}`, name);
    }
    const shape = e.shape as number[];
    const expected = numel(shape) * BYTES[e.dtype];
    if (off[1] - off[0] !== expected) {
      throw new SafetensorsError(
        path,
        `data_offsets span ${off[1] - off[0]} bytes but ${e.dtype}${JSON.stringify(shape)} needs ${expected}`,
        name,
      );
    }
    if (off[1] > dataSize) {
      throw new SafetensorsError(
        path,
        `data ends at byte ${off[1]} but the file has only ${dataSize} data bytes (truncated?)`,
        name,
      );
    }
    tensors.set(name, { dtype: e.dtype, shape, begin: dataStart + off[0], end: dataStart + off[1] });
  }
  return { path, fileSize, tensors, metadata };
}

/** Read chunk for converting half-precision tensors (bounded temporary memory). */
const CHUNK_ELEMS = 1 << 22;

// Tensor bytes are little-endian and read straight into typed arrays: refuse big-endian hosts.
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * Where a tensor's fp32 values go: a caller-owned array of exactly numel elements (e.g. a view of
 * the engine's parameter memory, so a checkpoint is never held twice), or null to allocate one.
 */
export type TensorTarget = (name: string, shape: readonly number[]) => Float32Array | null;

function readTensorFd(
  fd: number,
  path: string,
  name: string,
  e: HeaderEntry,
  into?: TensorTarget,
): Float32Array {
  if (!SUPPORTED.has(e.dtype)) {
    throw new SafetensorsError(path, `dtype ${e.dtype} is not supported (only F32, F16, BF16 weights)`, name);
  }
  if (!LITTLE_ENDIAN) throw new SafetensorsError(path, 'big-endian hosts are not supported', name);
  const n = numel(e.shape);
  const given = into?.(name, e.shape) ?? null;
  if (given && given.length !== n) {
    throw new SafetensorsError(path, `target array has ${given.length} elements, the tensor ${n}`, name);
  }
  const out = given ?? new Float32Array(n);
  if (e.dtype === 'F32') {
    // Read straight into the result's memory (little-endian host, as the format).
    readExactly(fd, new Uint8Array(out.buffer, out.byteOffset, n * 4), e.begin, path, `tensor "${name}"`);
    return out;
  }
  const conv = e.dtype === 'BF16' ? bf16ToF32 : f16ToF32;
  const chunk = new Uint16Array(Math.min(n, CHUNK_ELEMS));
  for (let i = 0; i < n; i += chunk.length) {
    const m = Math.min(chunk.length, n - i);
    const view = new Uint8Array(chunk.buffer, 0, m * 2);
    readExactly(fd, view, e.begin + i * 2, path, `tensor "${name}"`);
    conv(chunk.subarray(0, m), out.subarray(i, i + m));
  }
  return out;
}

/**
 * Reads tensors of one .safetensors file as fp32. `names` limits which tensors are read (all by
 * default); `onTensor` reports progress (bytes read so far).
 */
export function readSafetensors(
  path: string,
  opts: { names?: ReadonlySet<string>; onProgress?: (bytesDone: number) => void; into?: TensorTarget } = {},
): TensorMap {
  const fd = openSync(path, 'r');
  try {
    const header = readHeaderFd(fd, path);
    const out: TensorMap = new Map();
    let done = 0;
    for (const [name, e] of header.tensors) {
      if (opts.names && !opts.names.has(name)) continue;
      out.set(name, { shape: [...e.shape], data: readTensorFd(fd, path, name, e, opts.into) });
      done += e.end - e.begin;
      opts.onProgress?.(done);
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

export interface WriteOptions {
  /** Storage dtype for every tensor (default F32: bit-exact). */
  dtype?: SafetensorsDtype;
  /** String metadata; `format: "pt"` is added because transformers requires it. */
  metadata?: Record<string, string>;
}

function validateTensor(path: string, name: string, t: TensorData): void {
  if (!(t.data instanceof Float32Array)) throw new SafetensorsError(path, 'data is not a Float32Array', name);
  if (numel(t.shape) !== t.data.length) {
    throw new SafetensorsError(
      path,
      `shape ${JSON.stringify(t.shape)} has ${numel(t.shape)} elements but data has ${t.data.length}`,
      name,
    );
  }
}

/**
 * Writes one .safetensors file atomically (temp file + rename). Tensors are stored in the given
 * order; the header is space-padded so the data starts 8-byte aligned (as the reference writer).
 */
export function writeSafetensors(
  path: string,
  tensors: Iterable<[string, TensorData]>,
  opts: WriteOptions = {},
): void {
  const dtype = opts.dtype ?? 'F32';
  const entries = [...tensors];
  const width = dtype === 'F32' ? 4 : 2;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...opts.metadata } };
  let offset = 0;
  for (const [name, t] of entries) {
    validateTensor(path, name, t);
    const bytes = t.data.length * width;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.length / 8) * 8;
  if (padded !== headerBytes.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(headerBytes);
    headerBytes = p;
  }
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    const len = new Uint8Array(8);
    new DataView(len.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
    writeAll(fd, len);
    writeAll(fd, headerBytes);
    for (const [, t] of entries) {
      if (dtype === 'F32') {
        writeAll(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        continue;
      }
      const conv = dtype === 'BF16' ? f32ToBf16 : f32ToF16;
      const chunk = new Uint16Array(Math.min(t.data.length, CHUNK_ELEMS));
      for (let i = 0; i < t.data.length; i += chunk.length) {
        const m = Math.min(chunk.length, t.data.length - i);
        conv(t.data.subarray(i, i + m), chunk.subarray(0, m));
        writeAll(fd, new Uint8Array(chunk.buffer, 0, m * 2));
      }
    }
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, path);
}

function writeAll(fd: number, buf: Uint8Array): void {
  let done = 0;
  while (done < buf.length) done += writeSync(fd, buf, done, Math.min(buf.length - done, 1 << 30));
}

// ---- sharded checkpoints (model.safetensors.index.json) ----

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

/**
 * Writes `model.safetensors`, or shards `model-0000i-of-0000n.safetensors` plus the index when
 * the total exceeds `maxShardBytes` (a tensor is never split). Returns the file names written.
 */
export function writeCheckpoint(
  dir: string,
  tensors: Iterable<[string, TensorData]>,
  opts: WriteOptions & { maxShardBytes?: number } = {},
): string[] {
  const entries = [...tensors];
  const width = (opts.dtype ?? 'F32') === 'F32' ? 4 : 2;
  const max = opts.maxShardBytes ?? Infinity;
  const shards: [string, TensorData][][] = [[]];
  let size = 0;
  let total = 0;
  for (const e of entries) {
    const b = e[1].data.length * width;
    total += b;
    if (size > 0 && size + b > max) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(e);
    size += b;
  }
  if (shards.length === 1) {
    writeSafetensors(join(dir, SINGLE_FILE), entries, opts);
    return [SINGLE_FILE];
  }
  const n = shards.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  const names: string[] = [];
  const weightMap: Record<string, string> = {};
  shards.forEach((shard, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
    writeSafetensors(join(dir, file), shard, opts);
    for (const [name] of shard) weightMap[name] = file;
    names.push(file);
  });
  writeFileSync(
    join(dir, INDEX_FILE),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
  );
  names.push(INDEX_FILE);
  return names;
}

/** The safetensors files of a checkpoint folder and which file holds each tensor. */
export function checkpointFiles(dir: string): { files: string[]; weightMap: Map<string, string> | null } {
  const indexPath = join(dir, INDEX_FILE);
  if (existsSync(indexPath)) {
    let idx: { weight_map?: Record<string, string> };
    try {
      idx = JSON.parse(readFileSync(indexPath, 'utf8'));
    } catch (e) {
      throw new SafetensorsError(indexPath, `not valid JSON (${(e as Error).message})`);
    }
    if (!idx.weight_map || typeof idx.weight_map !== 'object')
      throw new SafetensorsError(indexPath, 'missing field "weight_map"');
    const weightMap = new Map(Object.entries(idx.weight_map));
    const files = [...new Set(weightMap.values())].map((f) => join(dir, f));
    for (const f of files)
      if (!existsSync(f))
        throw new SafetensorsError(indexPath, `weight_map names ${basename(f)}, which does not exist`);
    return { files, weightMap };
  }
  const single = join(dir, SINGLE_FILE);
  if (!existsSync(single))
    throw new SafetensorsError(dir, `no ${SINGLE_FILE} or ${INDEX_FILE} in this folder`);
  return { files: [single], weightMap: null };
}

/**
 * Reads every tensor of a checkpoint folder (single file or sharded). With an index, each tensor
 * must be in the file the weight_map names, and every mapped tensor must exist.
 */
export function readCheckpoint(
  dir: string,
  opts: { onProgress?: (bytesDone: number, bytesTotal: number) => void } = {},
): TensorMap {
  const { files, weightMap } = checkpointFiles(dir);
  const headers = files.map((f) => readSafetensorsHeader(f));
  const total = headers.reduce(
    (s, h) => s + [...h.tensors.values()].reduce((a, e) => a + e.end - e.begin, 0),
    0,
  );
  const out: TensorMap = new Map();
  let before = 0;
  for (const h of headers) {
    const part = readSafetensors(h.path, { onProgress: (b) => opts.onProgress?.(before + b, total) });
    for (const [name, t] of part) {
      if (out.has(name)) throw new SafetensorsError(h.path, 'appears in more than one shard', name);
      if (weightMap && weightMap.get(name) !== basename(h.path)) {
        throw new SafetensorsError(h.path, `is not listed for this file in ${INDEX_FILE}`, name);
      }
      out.set(name, t);
    }
    before += [...h.tensors.values()].reduce((a, e) => a + e.end - e.begin, 0);
  }
  if (weightMap) {
    for (const [name, file] of weightMap) {
      if (!out.has(name))
        throw new SafetensorsError(join(dir, file), `listed in ${INDEX_FILE} but not in the file`, name);
    }
  }
  return out;
}
