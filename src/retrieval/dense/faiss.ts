// Reader for FAISS index files as the Search-R1 reference distributes them (faiss/impl/
// index_write.cpp layout, little-endian):
//   header:  fourcc, d i32, ntotal i64, dummy i64, dummy i64, is_trained u8, metric_type i32
//            (+ metric_arg f32 when metric_type > 1)
//   IxFI / IxF2 (IndexFlatIP / IndexFlatL2): u64 n_floats, then ntotal·d f32 rows
//   IHNf (IndexHNSWFlat): HNSW graph — assign_probas (u64 n, f64[n]), cum_nneighbor_per_level
//            (u64 n, i32[n]), levels (u64 n, i32[n]), offsets (u64 n, u64[n]), neighbors (u64 n,
//            i32[n]), entry_point i32, max_level i32, efConstruction i32, efSearch i32,
//            upper_beam i32 — then the storage index (an IxFI / IxF2 as above).
// Nothing is loaded whole: flat rows are read block by block, HNSW neighbour lists and vectors by
// positional reads; only the per-node levels and offsets are held in memory. A file given as
// byte-split parts (e5_Flat.index is shipped that way) is read as their concatenation.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import type { RowSource } from './store.ts';

/** Several files read as one byte stream (positional reads may span part boundaries). */
export class PartedFile {
  private readonly fds: number[];
  private readonly starts: number[] = [];
  readonly size: number;
  readonly name: string;
  constructor(readonly paths: readonly string[]) {
    if (paths.length === 0) throw new Error('FAISS index: no file given');
    let size = 0;
    for (const p of paths) {
      this.starts.push(size);
      size += statSync(p).size;
    }
    this.size = size;
    this.name = paths.length === 1 ? paths[0] : `${paths[0]} (+${paths.length - 1} parts)`;
    this.fds = paths.map((p) => openSync(p, 'r'));
  }
  read(pos: number, out: Uint8Array, what: string): void {
    if (pos + out.length > this.size)
      throw new Error(
        `${this.name}: truncated FAISS file — ${what} needs bytes ${pos}..${pos + out.length} but the file has ${this.size}`,
      );
    let done = 0;
    while (done < out.length) {
      const at = pos + done;
      let p = this.starts.length - 1;
      while (this.starts[p] > at) p--;
      const n = readSync(this.fds[p], out, done, out.length - done, at - this.starts[p]);
      if (n === 0) throw new Error(`${this.paths[p]}: read past its end (file changed while reading?)`);
      done += n;
    }
  }
  close(): void {
    for (const fd of this.fds) closeSync(fd);
  }
}

/** Sequential reader over a PartedFile for the header fields. */
class Cursor {
  private readonly b8 = new Uint8Array(8);
  private readonly dv = new DataView(this.b8.buffer);
  constructor(
    readonly f: PartedFile,
    public pos = 0,
  ) {}
  private take(n: number, what: string): DataView {
    this.f.read(this.pos, this.b8.subarray(0, n), what);
    this.pos += n;
    return this.dv;
  }
  i32(what: string): number {
    return this.take(4, what).getInt32(0, true);
  }
  u8(what: string): number {
    return this.take(1, what).getUint8(0);
  }
  i64(what: string): number {
    const v = this.take(8, what).getBigInt64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < 0n)
      throw new Error(
        `${this.f.name}: ${what} = ${v} at byte ${this.pos - 8} is not a plausible size (not a FAISS file?)`,
      );
    return Number(v);
  }
  f32(what: string): number {
    return this.take(4, what).getFloat32(0, true);
  }
  fourcc(what: string): string {
    const v = this.take(4, what);
    return String.fromCharCode(v.getUint8(0), v.getUint8(1), v.getUint8(2), v.getUint8(3));
  }
  /** A vector's element count; returns the byte offset of its data and skips it. */
  vector(elemBytes: number, what: string): { count: number; offset: number } {
    const count = this.i64(`${what} size`);
    const offset = this.pos;
    this.pos += count * elemBytes;
    if (this.pos > this.f.size)
      throw new Error(
        `${this.f.name}: truncated FAISS file — ${what} (${count} × ${elemBytes} bytes from byte ${offset}) runs past the end (${this.f.size} bytes)`,
      );
    return { count, offset };
  }
  readI32Array(v: { count: number; offset: number }, what: string): Int32Array {
    const out = new Int32Array(v.count);
    this.f.read(v.offset, new Uint8Array(out.buffer), what);
    return out;
  }
}

export type FaissMetric = 'ip' | 'l2';

interface Header {
  fourcc: string;
  d: number;
  ntotal: number;
  metric: FaissMetric;
}

function readHeader(c: Cursor): Header {
  const fourcc = c.fourcc('fourcc');
  const d = c.i32('dimension');
  const ntotal = c.i64('ntotal');
  c.i64('dummy');
  c.i64('dummy');
  c.u8('is_trained');
  const mt = c.i32('metric_type');
  if (mt > 1) c.f32('metric_arg');
  if (d <= 0 || d > 65536)
    throw new Error(`${c.f.name}: dimension ${d} is not plausible (not a FAISS file?)`);
  if (mt !== 0 && mt !== 1)
    throw new Error(`${c.f.name}: metric type ${mt} is not supported (inner product or L2 only)`);
  return { fourcc, d, ntotal, metric: mt === 0 ? 'ip' : 'l2' };
}

/** The f32 rows of an IndexFlat (standalone or as HNSW storage), read block by block. */
export class FaissFlat implements RowSource {
  constructor(
    readonly file: PartedFile,
    readonly dim: number,
    readonly count: number,
    readonly metric: FaissMetric,
    /** Byte offset of row 0. */
    readonly dataOffset: number,
  ) {}
  readRows(start: number, n: number, out: Float32Array): void {
    if (start < 0 || start + n > this.count)
      throw new Error(`${this.file.name}: rows ${start}..${start + n} out of range`);
    this.file.read(
      this.dataOffset + start * this.dim * 4,
      new Uint8Array(out.buffer, out.byteOffset, n * this.dim * 4),
      `vectors ${start}..${start + n}`,
    );
  }
}

function readFlatBody(c: Cursor, h: Header): FaissFlat {
  const v = c.vector(4, 'flat codes');
  if (v.count !== h.ntotal * h.d)
    throw new Error(
      `${c.f.name}: flat index holds ${v.count} floats, but ntotal ${h.ntotal} × d ${h.d} = ${h.ntotal * h.d} (corrupt file)`,
    );
  return new FaissFlat(c.f, h.d, h.ntotal, h.metric, v.offset);
}

/** FAISS's HNSW graph: per-node level counts and neighbour-list offsets in memory, lists on disk. */
export interface HnswGraphSource {
  readonly count: number;
  readonly entryPoint: number;
  readonly maxLevel: number;
  /** Neighbours of `node` at `level` (−1 entries removed). */
  neighbors(node: number, level: number): Int32Array;
}

export class FaissHnswGraph implements HnswGraphSource {
  constructor(
    private readonly file: PartedFile,
    readonly count: number,
    readonly entryPoint: number,
    readonly maxLevel: number,
    readonly efSearch: number,
    readonly cum: Int32Array,
    readonly levels: Int32Array,
    readonly offsets: Float64Array,
    /** Byte offset and entry count of the neighbours array in the file. */
    readonly neighborsOffset: number,
    readonly neighborsCount: number,
  ) {}
  /** Neighbour entries [start, start+n) as stored (−1 = empty slot). */
  readNeighbors(start: number, out: Int32Array): void {
    this.file.read(
      this.neighborsOffset + start * 4,
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength),
      'neighbors',
    );
  }
  neighbors(node: number, level: number): Int32Array {
    if (level >= this.levels[node]) return new Int32Array(0);
    const begin = this.offsets[node] + this.cum[level];
    const n = this.cum[level + 1] - this.cum[level];
    const out = new Int32Array(n);
    this.file.read(
      this.neighborsOffset + begin * 4,
      new Uint8Array(out.buffer),
      `neighbours of node ${node}`,
    );
    let m = 0;
    while (m < n && out[m] >= 0) m++;
    return out.subarray(0, m);
  }
}

export interface FaissIndex {
  kind: 'flat' | 'hnsw';
  file: PartedFile;
  dim: number;
  count: number;
  metric: FaissMetric;
  /** The vectors (flat rows or the HNSW storage). */
  vectors: FaissFlat;
  hnsw: FaissHnswGraph | null;
  close(): void;
}

/** Opens a FAISS IndexFlatIP/L2 or IndexHNSWFlat file (or its byte-split parts, in order). */
export function openFaissIndex(paths: string | readonly string[]): FaissIndex {
  const file = new PartedFile(typeof paths === 'string' ? [paths] : paths);
  try {
    const c = new Cursor(file);
    const h = readHeader(c);
    if (h.fourcc === 'IxFI' || h.fourcc === 'IxF2') {
      const vectors = readFlatBody(c, h);
      return {
        kind: 'flat',
        file,
        dim: h.d,
        count: h.ntotal,
        metric: h.metric,
        vectors,
        hnsw: null,
        close: () => file.close(),
      };
    }
    if (h.fourcc === 'IHNf') {
      c.vector(8, 'assign_probas');
      const cumV = c.vector(4, 'cum_nneighbor_per_level');
      const cum = c.readI32Array(cumV, 'cum_nneighbor_per_level');
      const levV = c.vector(4, 'levels');
      if (levV.count !== h.ntotal)
        throw new Error(
          `${file.name}: HNSW levels has ${levV.count} entries for ${h.ntotal} vectors (corrupt file)`,
        );
      const levels = c.readI32Array(levV, 'levels');
      const offV = c.vector(8, 'offsets');
      const offRaw = new BigUint64Array(offV.count);
      file.read(offV.offset, new Uint8Array(offRaw.buffer), 'offsets');
      const offsets = Float64Array.from(offRaw, (x) => Number(x));
      const nbV = c.vector(4, 'neighbors');
      const entryPoint = c.i32('entry_point');
      const maxLevel = c.i32('max_level');
      c.i32('efConstruction');
      const efSearch = c.i32('efSearch');
      c.i32('upper_beam');
      const sh = readHeader(c);
      if (sh.fourcc !== 'IxFI' && sh.fourcc !== 'IxF2')
        throw new Error(`${file.name}: HNSW storage "${sh.fourcc}" is not supported (IndexHNSWFlat only)`);
      const vectors = readFlatBody(c, sh);
      if (sh.ntotal !== h.ntotal)
        throw new Error(`${file.name}: HNSW storage has ${sh.ntotal} vectors, the graph ${h.ntotal}`);
      const graph = new FaissHnswGraph(
        file,
        h.ntotal,
        entryPoint,
        maxLevel,
        efSearch,
        cum,
        levels,
        offsets,
        nbV.offset,
        nbV.count,
      );
      return {
        kind: 'hnsw',
        file,
        dim: h.d,
        count: h.ntotal,
        metric: h.metric,
        vectors,
        hnsw: graph,
        close: () => file.close(),
      };
    }
    throw new Error(
      `${file.name}: FAISS index type "${h.fourcc}" is not supported (IndexFlatIP "IxFI", IndexFlatL2 "IxF2", IndexHNSWFlat "IHNf")`,
    );
  } catch (e) {
    file.close();
    throw e;
  }
}
