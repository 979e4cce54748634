// AdamW (decoupled weight decay, PyTorch semantics) with global-norm gradient clipping.
// Moments live on the JS heap (Float32Array), not in the kernels' 4 GiB WASM memory.
//   g ← g·min(1, clip/‖g‖)         (when clip > 0; ‖g‖ over all parameters)
//   p ← p·(1 − lr·wd)              (decay: matrices only, see Param.decay)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + eps)
import type { Param } from './model.ts';
import type { AdamWParams } from '../policy/types.ts';

export interface AdamWState {
  step: number;
  /** name → first/second moments. */
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export class AdamW {
  step = 0;
  private m = new Map<string, Float32Array>();
  private v = new Map<string, Float32Array>();

  constructor(private readonly params: readonly Param[]) {}

  /** L2 norm of all gradients (float64 accumulation). */
  gradNorm(): number {
    let s = 0;
    for (const p of this.params) {
      if (!p.g) continue;
      const g = p.g.data;
      for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    }
    return Math.sqrt(s);
  }

  /** One update from the accumulated gradients; zeroes them. Returns grad_norm (before clipping). */
  update(h: AdamWParams): { grad_norm: number; clip_scale: number } {
    checkParams(h);
    const norm = this.gradNorm();
    if (!Number.isFinite(norm)) throw new Error(`AdamW: gradient norm is ${norm}; refusing to update (non-finite loss?)`);
    const clip = h.gradClipNorm > 0 && norm > h.gradClipNorm ? h.gradClipNorm / norm : 1;
    this.step++;
    const t = this.step;
    const b1 = h.beta1, b2 = h.beta2, lr = h.learningRate, eps = h.eps;
    const bc1 = 1 - Math.pow(b1, t), bc2 = 1 - Math.pow(b2, t);
    const stepSize = lr / bc1;
    const invSqrtBc2 = 1 / Math.sqrt(bc2);
    for (const p of this.params) {
      if (!p.g) continue;
      let m = this.m.get(p.name), v = this.v.get(p.name);
      if (!m || !v) {
        m = new Float32Array(p.size);
        v = new Float32Array(p.size);
        this.m.set(p.name, m);
        this.v.set(p.name, v);
      }
      const w = p.w.data, g = p.g.data;
      const decay = p.decay ? 1 - lr * h.weightDecay : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i] * clip;
        const mi = (m[i] = b1 * m[i] + (1 - b1) * gi);
        const vi = (v[i] = b2 * v[i] + (1 - b2) * gi * gi);
        w[i] = w[i] * decay - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
      }
      g.fill(0);
    }
    return { grad_norm: norm, clip_scale: clip };
  }

  getState(): AdamWState {
    const copy = (src: Map<string, Float32Array>) => new Map([...src].map(([k, a]) => [k, a.slice()]));
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
        if (a.length !== n) throw new Error(`optimizer state: moment ${what} of "${k}" has ${a.length} values, expected ${n}`);
      }
    this.step = s.step;
    this.m = new Map([...s.m].map(([k, a]) => [k, a.slice()]));
    this.v = new Map([...s.v].map(([k, a]) => [k, a.slice()]));
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
