// Rotary position embeddings, Hugging Face "rotate half" convention: for i < hd/2,
//   y[i]        = x[i]·cos(p·f_i) − x[i+hd/2]·sin(p·f_i)
//   y[i+hd/2]   = x[i+hd/2]·cos(p·f_i) + x[i]·sin(p·f_i),   f_i = θ^(−2i/hd)
// The backward is the transposed (inverse) rotation.

export class RopeTable {
  cos = new Float32Array(0);
  sin = new Float32Array(0);
  private positions = 0;
  readonly half: number;
  constructor(
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
    this.cos = new Float32Array(cap * h);
    this.sin = new Float32Array(cap * h);
    for (let i = 0; i < h; i++) {
      // Computed in f64 then rounded, as HF computes inv_freq in f32 and the angle in f32: the
      // difference is far below the tolerance of the forward comparisons.
      const f = 1 / Math.pow(this.theta, (2 * i) / this.headDim);
      for (let p = 0; p < cap; p++) {
        const a = p * f;
        this.cos[p * h + i] = Math.cos(a);
        this.sin[p * h + i] = Math.sin(a);
      }
    }
    this.positions = cap;
  }
}

/**
 * Rotates `heads` heads of every row in place. x: [rows, ld] with head h at columns h*hd..;
 * pos[r]: position of row r. inverse = true applies the backward (transposed) rotation.
 */
export function applyRope(
  x: Float32Array,
  xOff: number,
  rows: number,
  ld: number,
  heads: number,
  pos: Int32Array,
  posOff: number,
  t: RopeTable,
  inverse: boolean,
): void {
  const h = t.half;
  const hd = t.headDim;
  const cos = t.cos,
    sin = t.sin;
  const sgn = inverse ? -1 : 1;
  for (let r = 0; r < rows; r++) {
    const tb = pos[posOff + r] * h;
    for (let hh = 0; hh < heads; hh++) {
      const o = xOff + r * ld + hh * hd;
      for (let i = 0; i < h; i++) {
        const c = cos[tb + i],
          s = sgn * sin[tb + i];
        const a = x[o + i],
          b = x[o + i + h];
        x[o + i] = a * c - b * s;
        x[o + i + h] = b * c + a * s;
      }
    }
  }
}
