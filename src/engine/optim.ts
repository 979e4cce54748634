// AdamW (decoupled weight decay, PyTorch semantics) with global-norm gradient clipping.
// Moments live next to the weights in the kernels' memory; the update is one SIMD kernel call
// per tensor (the plain-TS kernel on the reference path).
//   g ← g·min(1, clip/‖g‖)         (when clip > 0; ‖g‖ over all parameters)
//   p ← p·(1 − lr·wd)              (decay: matrices only, see Param.decay)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps)
import type { Param } from './model.ts';
import type { Kernels } from './kernels/types.ts';
import type { Buf } from './memory.ts';
import type { AdamWParams } from '../core/trainer.ts';

/** Tensors of at least this many elements are split across the kernel lanes. */
const LANE_SPLIT = 1 << 15;

export interface AdamWState {
  step: number;
  /** name → first/second moments. */
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  step = 0;
  private m = new Map<string, Buf>();
  private v = new Map<string, Buf>();

  constructor(
    private readonly params: readonly Param[],
    private readonly kernels: Kernels,
  ) {}

  /** L2 norm of all gradients (float64 accumulation across tensors). */
  gradNorm(): number {
    let s = 0;
    for (const p of this.params) if (p.g) s += this.kernels.sumSquares(p.g, p.size);
    return Math.sqrt(s);
  }

  private moments(p: Param): [Buf, Buf] {
    let m = this.m.get(p.name),
      v = this.v.get(p.name);
    if (!m || !v) {
      m = this.kernels.arena.alloc(p.size);
      v = this.kernels.arena.alloc(p.size);
      m.data.fill(0);
      v.data.fill(0);
      this.m.set(p.name, m);
      this.v.set(p.name, v);
    }
    return [m, v];
  }

  /** Frees the moment buffers. */
  dispose(): void {
    for (const b of [...this.m.values(), ...this.v.values()]) this.kernels.arena.free(b);
    this.m.clear();
    this.v.clear();
  }

  /** One update from the accumulated gradients; zeroes them. Returns grad_norm (before clipping). */
  update(h: AdamWParams): { grad_norm: number; clip_scale: number } {
    checkParams(h);
    const norm = this.gradNorm();
    if (!Number.isFinite(norm)) {
      // Drop the poisoned gradients so the caller can skip this batch and carry on.
      for (const p of this.params) p.g?.data.fill(0);
      throw new Error(
        `AdamW: gradient norm is ${norm}; update skipped and gradients cleared (non-finite loss?)`,
      );
    }
    const clip = h.gradClipNorm > 0 && norm > h.gradClipNorm ? h.gradClipNorm / norm : 1;
    this.step++;
    const t = this.step;
    const b1 = h.beta1,
      b2 = h.beta2,
      lr = h.learningRate,
      eps = h.eps;
    const bc1 = 1 - Math.pow(b1, t),
      bc2 = 1 - Math.pow(b2, t);
    const stepSize = lr / bc1;
    const invSqrtBc2 = 1 / Math.sqrt(bc2);
    // Element-wise, so any split gives the same result: big tensors are cut into one range per
    // kernel lane (multiples of 8, the kernel's vector step), small ones go whole to the least-loaded lane.
    const K = this.kernels;
    const load = new Float64Array(K.lanes);
    for (const p of this.params) {
      if (!p.g) continue;
      const [m, v] = this.moments(p);
      const decay = p.decay ? 1 - lr * h.weightDecay : 1;
      const run = (t: number, lo: number, hi: number) => {
        const whole = lo === 0 && hi === p.size;
        const [w, g, mm, vv] = whole ? [p.w, p.g!, m, v] : [p.w, p.g!, m, v].map((b) => b.slice(lo, hi));
        K.lane(t).adamw(w, g, mm, vv, hi - lo, b1, b2, eps, stepSize, invSqrtBc2, decay, clip);
        load[t] += hi - lo;
      };
      if (K.lanes > 1 && p.size >= LANE_SPLIT) {
        let lo = 0;
        for (let t = 0; t < K.lanes; t++) {
          const hi = t === K.lanes - 1 ? p.size : Math.round((p.size * (t + 1)) / K.lanes / 8) * 8;
          if (hi > lo) run(t, lo, hi);
          lo = Math.max(lo, hi);
        }
      } else run(load.indexOf(Math.min(...load)), 0, p.size);
    }
    K.sync();
    return { grad_norm: norm, clip_scale: clip };
  }

  getState(): AdamWState {
    const copy = (src: Map<string, Buf>) => new Map([...src].map(([k, b]) => [k, Float32Array.from(b.data)]));
    return { step: this.step, m: copy(this.m), v: copy(this.v) };
  }

  setState(s: AdamWState): void {
    const sizes = new Map(this.params.map((p) => [p.name, p.size]));
    for (const [what, src] of [
      ['m', s.m],
      ['v', s.v],
    ] as const)
      for (const [k, a] of src) {
        const n = sizes.get(k);
        if (n === undefined) throw new Error(`optimizer state: moment ${what} for unknown parameter "${k}"`);
        if (a.length !== n)
          throw new Error(`optimizer state: moment ${what} of "${k}" has ${a.length} values, expected ${n}`);
      }
    this.dispose();
    this.step = s.step;
    for (const p of this.params) {
      const m = s.m.get(p.name),
        v = s.v.get(p.name);
      if (!m && !v) continue;
      if (!m || !v) throw new Error(`optimizer state: "${p.name}" has only one of its two moments`);
      const [bm, bv] = this.moments(p);
      bm.data.set(m);
      bv.data.set(v);
    }
  }
}

function checkParams(h: AdamWParams): void {
  const bad = (k: keyof AdamWParams, ok: boolean) => {
    if (!ok) throw new Error(`AdamW: invalid ${k} = ${String(h[k])}`);
  };
  bad('learningRate', Number.isFinite(h.learningRate) && h.learningRate >= 0);
  bad('beta1', h.beta1 >= 0 && h.beta1 < 1);
  bad('beta2', h.beta2 >= 0 && h.beta2 < 1);
  bad('eps', h.eps >= 0);
  bad('weightDecay', Number.isFinite(h.weightDecay) && h.weightDecay >= 0);
  bad('gradClipNorm', Number.isFinite(h.gradClipNorm) && h.gradClipNorm >= 0);
}
