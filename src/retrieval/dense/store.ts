// Dense vector store: `vectors.bin` holds `count` rows of `dim` values, little-endian, as
//   f32  — 4 bytes per value (exact);
//   f16  — 2 bytes per value (IEEE half, round to nearest even; ~1e-3 relative);
//   int8 — 1 byte per value, symmetric per row: q = round(127·v / max|v|), with the row's scale
//          max|v|/127 as f32 in `scales.bin` (inner products within ~0.5 % of the f32 ones).
// Rows are read whole into memory in segments (≤ 256 MiB each: no single huge typed array) and
// dequantised block by block into f32 for the search GEMMs. Docs: docs/dense-retrieval.md.
import { closeSync, fstatSync, openSync, readSync, writeSync, ftruncateSync, fsyncSync } from 'node:fs';
import { f16ToF32, f32ToF16 } from '../../engine/io/half.ts';

export type VectorDtype = 'f32' | 'f16' | 'int8';
export const VECTOR_DTYPES: readonly VectorDtype[] = ['f32', 'f16', 'int8'];

export function bytesPerValue(d: VectorDtype): number {
  return d === 'f32' ? 4 : d === 'f16' ? 2 : 1;
}

/** Encodes f32 rows into the store's byte layout (and int8 scales). */
export function encodeRows(
  rows: Float32Array,
  dim: number,
  dtype: VectorDtype,
): { bytes: Uint8Array; scales: Float32Array | null } {
  const n = rows.length / dim;
  if (dtype === 'f32')
    return { bytes: new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength), scales: null };
  if (dtype === 'f16') {
    const h = new Uint16Array(rows.length);
    f32ToF16(rows, h);
    return { bytes: new Uint8Array(h.buffer), scales: null };
  }
  const q = new Int8Array(rows.length);
  const scales = new Float32Array(n);
  for (let r = 0; r < n; r++) {
    let m = 0;
    for (let j = 0; j < dim; j++) m = Math.max(m, Math.abs(rows[r * dim + j]));
    const s = m > 0 ? m / 127 : 1;
    scales[r] = s;
    for (let j = 0; j < dim; j++) q[r * dim + j] = Math.round(rows[r * dim + j] / s);
  }
  return { bytes: new Uint8Array(q.buffer), scales };
}

/** Appends rows to vectors.bin (+ scales.bin), resumable: open at a known row count. */
export class VectorWriter {
  private readonly fd: number;
  private readonly sfd: number | null;
  count: number;
  constructor(
    readonly path: string,
    readonly scalesPath: string,
    readonly dim: number,
    readonly dtype: VectorDtype,
    startRows = 0,
  ) {
    this.fd = openSync(path, startRows > 0 ? 'r+' : 'w');
    ftruncateSync(this.fd, startRows * dim * bytesPerValue(dtype));
    this.sfd = dtype === 'int8' ? openSync(scalesPath, startRows > 0 ? 'r+' : 'w') : null;
    if (this.sfd !== null) ftruncateSync(this.sfd, startRows * 4);
    this.count = startRows;
  }
  append(rows: Float32Array): void {
    if (rows.length % this.dim !== 0)
      throw new Error(`vector store: ${rows.length} values is not rows of ${this.dim}`);
    const { bytes, scales } = encodeRows(rows, this.dim, this.dtype);
    const at = this.count * this.dim * bytesPerValue(this.dtype);
    writeFully(this.fd, bytes, at);
    if (this.sfd !== null && scales) writeFully(this.sfd, new Uint8Array(scales.buffer), this.count * 4);
    this.count += rows.length / this.dim;
  }
  sync(): void {
    fsyncSync(this.fd);
    if (this.sfd !== null) fsyncSync(this.sfd);
  }
  close(): void {
    closeSync(this.fd);
    if (this.sfd !== null) closeSync(this.sfd);
  }
}

export function writeFully(fd: number, b: Uint8Array, pos: number): void {
  let done = 0;
  while (done < b.length) done += writeSync(fd, b, done, Math.min(b.length - done, 1 << 30), pos + done);
}

export function readFully(fd: number, b: Uint8Array, pos: number, what: string): void {
  let done = 0;
  while (done < b.length) {
    const n = readSync(fd, b, done, Math.min(b.length - done, 1 << 30), pos + done);
    if (n === 0) throw new Error(`${what}: file ends early (truncated?)`);
    done += n;
  }
}

/** Anything that can hand out f32 blocks of rows (our store, a FAISS flat file). */
export interface RowSource {
  readonly count: number;
  readonly dim: number;
  /** Rows [start, start+n) as f32 into out[0 .. n·dim). */
  readRows(start: number, n: number, out: Float32Array): void;
}

const SEGMENT_BYTES = 256 * 2 ** 20;

/** The whole store in memory (segments), dequantised on demand. */
export class VectorStore implements RowSource {
  private readonly segs: Uint8Array[] = [];
  private readonly rowsPerSeg: number;
  private readonly scales: Float32Array | null;
  constructor(
    readonly path: string,
    readonly dim: number,
    readonly count: number,
    readonly dtype: VectorDtype,
    scalesPath: string,
  ) {
    const rowBytes = dim * bytesPerValue(dtype);
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size !== count * rowBytes)
        throw new Error(
          `${path}: ${size} bytes, expected ${count} vectors × ${dim} × ${bytesPerValue(dtype)} bytes = ${count * rowBytes} (truncated, or a different dimension/dtype than meta.json says)`,
        );
      this.rowsPerSeg = Math.max(1, Math.floor(SEGMENT_BYTES / rowBytes));
      for (let r = 0; r < count; r += this.rowsPerSeg) {
        const n = Math.min(this.rowsPerSeg, count - r);
        // 8-byte aligned copies so f32/f16 views need no copy.
        const seg = new Uint8Array(new ArrayBuffer(Math.ceil((n * rowBytes) / 8) * 8), 0, n * rowBytes);
        readFully(fd, seg, r * rowBytes, path);
        this.segs.push(seg);
      }
    } finally {
      closeSync(fd);
    }
    if (dtype === 'int8') {
      const sfd = openSync(scalesPath, 'r');
      try {
        if (fstatSync(sfd).size !== count * 4) throw new Error(`${scalesPath}: expected ${count} f32 scales`);
        this.scales = new Float32Array(count);
        readFully(sfd, new Uint8Array(this.scales.buffer), 0, scalesPath);
      } finally {
        closeSync(sfd);
      }
    } else this.scales = null;
  }

  readRows(start: number, n: number, out: Float32Array): void {
    const dim = this.dim;
    let done = 0;
    while (done < n) {
      const r = start + done;
      const s = Math.floor(r / this.rowsPerSeg);
      const inSeg = r - s * this.rowsPerSeg;
      const m = Math.min(n - done, this.rowsPerSeg - inSeg);
      const seg = this.segs[s];
      const dst = out.subarray(done * dim, (done + m) * dim);
      if (this.dtype === 'f32') dst.set(new Float32Array(seg.buffer, inSeg * dim * 4, m * dim));
      else if (this.dtype === 'f16') f16ToF32(new Uint16Array(seg.buffer, inSeg * dim * 2, m * dim), dst);
      else {
        const q = new Int8Array(seg.buffer, inSeg * dim, m * dim);
        const sc = this.scales as Float32Array;
        for (let i = 0; i < m; i++) {
          const f = sc[r + i];
          for (let j = 0; j < dim; j++) dst[i * dim + j] = q[i * dim + j] * f;
        }
      }
      done += m;
    }
  }

  /** Memory held (bytes). */
  get bytes(): number {
    return this.segs.reduce((a, s) => a + s.byteLength, 0) + (this.scales?.byteLength ?? 0);
  }
}
