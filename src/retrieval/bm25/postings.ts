// Block-packed postings: the codec (bit packing of ≤ 128 values at one width, as Lucene's FOR
// blocks and PISA's "block_simple") and a cursor that decodes lazily, skips whole blocks with the
// skip data (last doc of each block) and reads block-max metadata without decoding.
//
// Block k of a term holds postings [128k, 128k + n): docs as (gap − 1) where gap = doc − previous
// doc (the previous block's last doc, or −1 before the first), then (tf − 1), each bit-packed LSB
// first into u32 words at the block's own minimal width (0..31 bits).
import { BLOCK } from './format.ts';

/** Bits needed for v (0 → 0). */
export function bitWidth(v: number): number {
  return 32 - Math.clz32(v);
}

/** Words a block of n values at width w occupies. */
export function packedWords(n: number, w: number): number {
  return (n * w + 31) >>> 5;
}

/** Pack vals[0..n) (each < 2^w) at width w into out starting at word `pos`; returns words written. */
export function pack(vals: Int32Array, n: number, w: number, out: Uint32Array, pos: number): number {
  const words = packedWords(n, w);
  out.fill(0, pos, pos + words);
  let bit = 0;
  for (let i = 0; i < n; i++) {
    const v = vals[i];
    const word = pos + (bit >>> 5);
    const off = bit & 31;
    out[word] |= v << off;
    if (off + w > 32) out[word + 1] |= v >>> (32 - off);
    bit += w;
  }
  return words;
}

/** Unpack n values of width w from src at word `pos` into out[0..n). */
export function unpack(src: Uint32Array, pos: number, n: number, w: number, out: Int32Array): void {
  if (w === 0) {
    out.fill(0, 0, n);
    return;
  }
  const mask = w === 31 ? 0x7fffffff : (1 << w) - 1;
  let bit = 0;
  for (let i = 0; i < n; i++) {
    const word = pos + (bit >>> 5);
    const off = bit & 31;
    let v = src[word] >>> off;
    if (off + w > 32) v |= src[word + 1] << (32 - off);
    out[i] = v & mask;
    bit += w;
  }
}

/** Encode one block (docs ascending, all > prevDoc; tfs ≥ 1) into out at word `pos`.
 *  Returns [words written, doc width, tf width]. `scratch` holds ≥ n values. */
export function encodeBlock(
  docs: ArrayLike<number>,
  tfs: ArrayLike<number>,
  start: number,
  n: number,
  prevDoc: number,
  out: Uint32Array,
  pos: number,
  scratch: Int32Array,
): [number, number, number] {
  let maxGap = 0;
  let prev = prevDoc;
  for (let i = 0; i < n; i++) {
    const g = docs[start + i] - prev - 1;
    scratch[i] = g;
    if (g > maxGap) maxGap = g;
    prev = docs[start + i];
  }
  const wd = bitWidth(maxGap);
  let words = pack(scratch, n, wd, out, pos);
  let maxTf = 0;
  for (let i = 0; i < n; i++) {
    const t = tfs[start + i] - 1;
    scratch[i] = t;
    if (t > maxTf) maxTf = t;
  }
  const wt = bitWidth(maxTf);
  words += pack(scratch, n, wt, out, pos + words);
  return [words, wd, wt];
}

/** The shared arrays of one index's postings. */
export interface PostingsData {
  words: Uint32Array; // postings.bin
  blockLast: Uint32Array; // [B]
  blockOff: Float64Array; // [B+1]
  blockBits: Uint8Array; // [2B]
  blockMax: Float32Array; // [B] saturation bound per block (for the scoring in use)
}

export const END = 0x7fffffff;

/** A cursor over one term's postings (reused across queries: `reset` before each). */
export class Cursor {
  readonly docs = new Int32Array(BLOCK);
  readonly tfs = new Int32Array(BLOCK);
  /** Current doc, END when exhausted. */
  doc = END;
  weight = 0;
  /** Bound on this term's contribution to any document (weight-scaled, see termBound). */
  maxScore = 0;
  /** Canonical (query order) slot of this term, for order-independent score sums. */
  slot = 0;
  private first = 0;
  /** One past the term's last block. */
  end = 0;
  private lastBlockLen = 0;
  /** The decoded block. */
  block = 0;
  private n = 0; // postings in the decoded block
  private i = 0;
  private tfReady = false;
  private shallow = 0; // block of the last blockMaxAt probe (moves forward only)

  constructor(private readonly p: PostingsData) {}

  /** Saturation bounds of all blocks (indexed by absolute block number). */
  get blockMaxes(): Float32Array {
    return this.p.blockMax;
  }

  /** Is the cursor on the last posting of its decoded block? */
  atBlockEnd(): boolean {
    return this.i === this.n - 1;
  }

  reset(firstBlock: number, df: number, weight: number, maxScore: number, slot: number): void {
    this.first = firstBlock;
    this.end = firstBlock + Math.ceil(df / BLOCK);
    this.lastBlockLen = df - (this.end - firstBlock - 1) * BLOCK;
    this.weight = weight;
    this.maxScore = maxScore;
    this.slot = slot;
    this.shallow = firstBlock;
    this.load(firstBlock);
  }

  /** Decode block b (≥ the current one) and stand on its first posting. */
  load(b: number): void {
    const p = this.p;
    this.block = b;
    this.n = b === this.end - 1 ? this.lastBlockLen : BLOCK;
    const docs = this.docs;
    unpack(p.words, p.blockOff[b], this.n, p.blockBits[2 * b], docs);
    let prev = b === this.first ? -1 : p.blockLast[b - 1];
    for (let j = 0; j < this.n; j++) {
      prev += docs[j] + 1;
      docs[j] = prev;
    }
    this.tfReady = false;
    this.i = 0;
    this.doc = docs[0];
  }

  /** Term frequency of the current posting (tfs are decoded on first use per block). */
  tf(): number {
    if (!this.tfReady) {
      const p = this.p;
      const b = this.block;
      const wd = p.blockBits[2 * b];
      unpack(p.words, p.blockOff[b] + ((this.n * wd + 31) >>> 5), this.n, p.blockBits[2 * b + 1], this.tfs);
      this.tfReady = true;
    }
    return this.tfs[this.i] + 1;
  }

  next(): void {
    if (++this.i < this.n) this.doc = this.docs[this.i];
    else if (this.block + 1 < this.end) this.load(this.block + 1);
    else this.doc = END;
  }

  /** Advance to the first posting with doc ≥ target (skips whole blocks with the skip data). */
  nextGeq(target: number): void {
    if (this.doc >= target) return;
    const last = this.p.blockLast;
    if (last[this.block] < target) {
      let b = this.block + 1;
      while (b < this.end && last[b] < target) b++;
      if (b >= this.end) {
        this.i = this.n;
        this.doc = END;
        return;
      }
      this.load(b);
    }
    const docs = this.docs;
    let i = this.i;
    while (docs[i] < target) i++;
    this.i = i;
    this.doc = docs[i];
  }

  /** Saturation bound of the current block. */
  blockMax(): number {
    return this.p.blockMax[this.block];
  }

  /** Last doc of the current block. */
  blockLastDoc(): number {
    return this.p.blockLast[this.block];
  }

  /** Exhaust the cursor (after skipping past its last block). */
  finish(): void {
    this.i = this.n;
    this.doc = END;
  }

  /** Saturation bound of the block that would hold `target` (no decoding); 0 past the last block. */
  blockMaxAt(target: number): number {
    const last = this.p.blockLast;
    let b = this.shallow;
    while (b < this.end && last[b] < target) b++;
    this.shallow = b;
    return b < this.end ? this.p.blockMax[b] : 0;
  }
}
