// On-disk layout of a BM25 index directory (format v2: block-packed postings). Every array file is a
// raw little-endian typed array, so opening an index is one large read per file into shared memory
// (no parsing); the passage store stays on disk and is read per hit with positional reads.
// Layout and codec: docs/bm25-index.md.
//
//   meta.json      IndexMeta (counts, avgdl, default k1/b and scoring, analyzer name)
//   terms.bin      u8[]      UTF-8 bytes of all terms, sorted by byte order (binary-searchable)
//   terms.idx      u32[V+1]  byte offset of term i in terms.bin
//   terms.post     f64[3V]   per sorted term: [first block, document frequency, max saturation]
//   postings.bin   u32[W]    per block of ≤ 128 postings: bit-packed (doc gap − 1) then (tf − 1)
//   blocks.last    u32[B]    last doc number of each block (skip data)
//   blocks.off     f64[B+1]  word offset of each block in postings.bin
//   blocks.bits    u8[2B]    [doc-gap bit width, tf bit width] of each block
//   blocks.max     f32[B]    per block: max saturation s(tf, dl) of its postings (block-max
//                            metadata, rounded up; under the index's default k1/b/scoring)
//   doclens.bin    u32[N]    document length in terms (after analysis), exact (not quantised)
//   store.idx      f64[N+1]  byte offset of document i in store.bin
//   store.bin      records   u32 idByteLength, id UTF-8, contents UTF-8
//
// The saturation s is the per-posting factor in [0, 1) that the query weight multiplies:
// bm25: tf / (tf + k1·(1 − b + b·dl/avgdl)); lucene: 1 − 1/(1 + tf/norm(byte(dl))) (see scoring.ts).
import { closeSync, fstatSync, fsyncSync, openSync, readSync, truncateSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

export const INDEX_FORMAT = 'search-r1-bm25';
export const INDEX_VERSION = 2;
/** Postings per block (as Lucene and PISA). */
export const BLOCK = 128;

export const FILES = {
  meta: 'meta.json',
  terms: 'terms.bin',
  termsIdx: 'terms.idx',
  termsPost: 'terms.post',
  postings: 'postings.bin',
  blockLast: 'blocks.last',
  blockOff: 'blocks.off',
  blockBits: 'blocks.bits',
  blockMax: 'blocks.max',
  docLens: 'doclens.bin',
  storeIdx: 'store.idx',
  store: 'store.bin',
} as const;

/** How a posting is scored: exact BM25 in float64, or Lucene 8's float32 BM25 with one-byte norms. */
export type Scoring = 'bm25' | 'lucene';

export interface IndexMeta {
  format: typeof INDEX_FORMAT;
  version: number;
  /** 'custom' when built with BuildOptions.analyze (queries must then come as tokens). */
  analyzer: string;
  numDocs: number;
  /** Documents with at least one term (Lucene's docCount, used by the lucene scoring). */
  docsWithTerms: number;
  numTerms: number;
  numPostings: number;
  numBlocks: number;
  /** u32 words in postings.bin. */
  postingWords: number;
  /** Sum of document lengths (terms after analysis). */
  totalLength: number;
  avgdl: number;
  /** Defaults used when the index is opened without explicit k1/b/scoring; blocks.max is for these. */
  k1: number;
  b: number;
  scoring: Scoring;
  createdAt: string;
  /** Corpus lines skipped by --skip-bad-lines (0 when none). */
  skippedLines: number;
}

export function assertLittleEndian(): void {
  if (endianness() !== 'LE')
    throw new Error('the BM25 index format is little-endian; this machine is big-endian');
}

export function indexPath(dir: string, file: keyof typeof FILES): string {
  return join(dir, FILES[file]);
}

/** Read a whole file into a fresh, aligned buffer (works beyond the 2 GiB Buffer limit). Shared
 *  memory (the default) lets query worker threads use the same bytes without copies. */
export function readWholeFile(path: string, shared = true): ArrayBuffer | SharedArrayBuffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const ab = shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size);
    const u8 = new Uint8Array(ab);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, u8, off, Math.min(size - off, 1 << 30), off);
      if (n <= 0) throw new Error(`${path}: unexpected end of file at byte ${off} of ${size}`);
      off += n;
    }
    return ab;
  } finally {
    closeSync(fd);
  }
}

type TypedCtor<T> = { new (ab: ArrayBuffer | SharedArrayBuffer): T; BYTES_PER_ELEMENT: number };

/** Read a raw typed-array file, checking its size is a whole number of elements (and `expect`). */
export function readTyped<T>(path: string, ctor: TypedCtor<T>, expectLength?: number): T {
  const ab = readWholeFile(path);
  if (ab.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
    throw new Error(
      `${path}: size ${ab.byteLength} is not a multiple of ${ctor.BYTES_PER_ELEMENT} bytes (corrupt index?)`,
    );
  }
  const n = ab.byteLength / ctor.BYTES_PER_ELEMENT;
  if (expectLength !== undefined && n !== expectLength) {
    throw new Error(`${path}: expected ${expectLength} elements, found ${n} (corrupt or mismatched index)`);
  }
  return new ctor(ab);
}

/** Buffered sequential writer of raw bytes and typed arrays to one file. */
export class BinWriter {
  private readonly fd: number;
  private readonly buf: Uint8Array;
  private pos = 0;
  /** Bytes written so far (including buffered). */
  bytes = 0;

  /** `append`: keep the file's first `append` bytes (resumed builds) and write after them. */
  constructor(
    readonly path: string,
    bufferBytes = 1 << 20,
    append?: number,
  ) {
    if (append === undefined) this.fd = openSync(path, 'w');
    else {
      truncateSync(path, append);
      this.fd = openSync(path, 'a');
      this.bytes = append;
    }
    this.buf = new Uint8Array(bufferBytes);
  }

  /** Flush buffered bytes and make them durable (checkpoints). */
  sync(): void {
    this.flush();
    fsyncSync(this.fd);
  }

  write(data: ArrayBufferView): void {
    const src = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.bytes += src.length;
    if (src.length >= this.buf.length) {
      this.flush();
      writeAll(this.fd, src);
      return;
    }
    if (this.pos + src.length > this.buf.length) this.flush();
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  private readonly scratch = new DataView(new ArrayBuffer(8));
  writeU32(v: number): void {
    this.scratch.setUint32(0, v, true);
    this.write(new Uint8Array(this.scratch.buffer, 0, 4));
  }
  writeF64(v: number): void {
    this.scratch.setFloat64(0, v, true);
    this.write(new Uint8Array(this.scratch.buffer, 0, 8));
  }

  flush(): void {
    if (this.pos > 0) writeAll(this.fd, this.buf.subarray(0, this.pos));
    this.pos = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** Buffered sequential reader of u32 values and u32 blocks from one file (spill runs). */
export class BinReader {
  private readonly fd: number;
  private readonly buf: Uint8Array;
  private start = 0;
  private end = 0;
  private filePos = 0;
  readonly size: number;

  constructor(
    readonly path: string,
    bufferBytes = 1 << 20,
  ) {
    this.fd = openSync(path, 'r');
    this.size = fstatSync(this.fd).size;
    this.buf = new Uint8Array(bufferBytes);
  }

  get done(): boolean {
    return this.start === this.end && this.filePos >= this.size;
  }

  private fill(min: number): void {
    if (this.end - this.start >= min) return;
    this.buf.copyWithin(0, this.start, this.end);
    this.end -= this.start;
    this.start = 0;
    while (this.end < min) {
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, this.filePos);
      if (n <= 0) throw new Error(`${this.path}: truncated (wanted ${min} more bytes)`);
      this.end += n;
      this.filePos += n;
    }
  }

  readU32(): number {
    this.fill(4);
    const b = this.buf;
    const s = this.start;
    this.start += 4;
    return (b[s] | (b[s + 1] << 8) | (b[s + 2] << 16)) + b[s + 3] * 0x1000000;
  }

  /** Read `count` u32 values into `out` starting at `outOffset`. */
  readU32s(out: Uint32Array, outOffset: number, count: number): void {
    const outBytes = new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, count * 4);
    let copied = 0;
    while (copied < outBytes.length) {
      if (this.start === this.end) this.fill(Math.min(4, outBytes.length - copied));
      const n = Math.min(this.end - this.start, outBytes.length - copied);
      outBytes.set(this.buf.subarray(this.start, this.start + n), copied);
      this.start += n;
      copied += n;
    }
  }

  close(): void {
    closeSync(this.fd);
  }
}
