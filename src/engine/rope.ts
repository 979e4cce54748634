// Rotary position embeddings, Hugging Face "rotate half" convention: for i < hd/2,
//   y[i]        = x[i]·cos(p·f_i) − x[i+hd/2]·sin(p·f_i)
//   y[i+hd/2]   = x[i+hd/2]·cos(p·f_i) + x[i]·sin(p·f_i),   f_i = θ^(−2i/hd)
// The backward is the transposed (inverse) rotation. The rotation itself is a kernel
// (kernels.rope); this file owns the cos/sin table, kept in the kernels' memory.
import type { Kernels } from './kernels/types.ts';
import type { Buf } from './memory.ts';

export class RopeTable {
  private cosBuf: Buf | null = null;
  private sinBuf: Buf | null = null;
  private positions = 0;
  readonly half: number;
  constructor(
    private readonly kernels: Kernels,
    readonly headDim: number,
    readonly theta: number,
  ) {
    this.half = headDim / 2;
  }

  /** Makes the table cover positions [0, n). */
  ensure(n: number): void {
    if (n <= this.positions) return;
    const cap = Math.max(n, this.positions * 2, 64);
    const h = this.half;
    this.dispose();
    const cos = this.kernels.arena.alloc(cap * h);
    const sin = this.kernels.arena.alloc(cap * h);
    const c = cos.data,
      s = sin.data;
    for (let i = 0; i < h; i++) {
      // f64 angles rounded once to f32 (HF computes them in f32; the difference is far below
      // the tolerance of every forward comparison).
      const f = 1 / Math.pow(this.theta, (2 * i) / this.headDim);
      for (let p = 0; p < cap; p++) {
        c[p * h + i] = Math.cos(p * f);
        s[p * h + i] = Math.sin(p * f);
      }
    }
    this.cosBuf = cos;
    this.sinBuf = sin;
    this.positions = cap;
  }

  /**
   * Rotates `heads` heads of `rows` rows of x in place (x[xOff + r·ld + h·hd + i]); pos (int32
   * view) holds each row's position. inverse = the backward rotation.
   */
  apply(
    x: Buf,
    xOff: number,
    rows: number,
    ld: number,
    heads: number,
    pos: Buf,
    posOff: number,
    inverse: boolean,
  ): void {
    this.kernels.rope(
      x,
      xOff,
      rows,
      ld,
      heads,
      this.headDim,
      pos,
      posOff,
      this.cosBuf!,
      this.sinBuf!,
      inverse,
    );
  }

  dispose(): void {
    if (this.cosBuf) this.kernels.arena.free(this.cosBuf);
    if (this.sinBuf) this.kernels.arena.free(this.sinBuf);
    this.cosBuf = this.sinBuf = null;
    this.positions = 0;
  }
}
