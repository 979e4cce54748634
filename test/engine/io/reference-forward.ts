// An independent, deliberately plain float64 forward pass of a Hugging Face Qwen2 / Llama decoder
// (rotate-half RoPE, GQA, SwiGLU, RMSNorm), written from the transformers modelling semantics.
// Used only by tests, to check GGUF export against llama.cpp and the engine against both.
import type { ModelConfig } from '../../../src/engine/config.ts';
import type { TensorMap } from '../../../src/engine/io/safetensors.ts';

function get(t: TensorMap, name: string): Float32Array {
  const v = t.get(name);
  if (!v) throw new Error(`reference forward: tensor ${name} missing`);
  return v.data;
}

/** y[o] = Σ_i W[o, i] x[i] (+ b[o]); W is [out, in] row-major. */
function linear(W: Float32Array, x: Float64Array, out: number, b?: Float32Array): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < n; i++) s += W[o * n + i] * x[i];
    y[o] = s;
  }
  return y;
}

function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => v * r * w[i]);
}

/** Rotate-half RoPE on one head vector (in place) at position p. */
function rope(v: Float64Array, off: number, hd: number, p: number, theta: number): void {
  const half = hd / 2;
  for (let i = 0; i < half; i++) {
    const ang = p * Math.pow(theta, (-2 * i) / hd);
    const c = Math.cos(ang);
    const s = Math.sin(ang);
    const a = v[off + i];
    const b = v[off + i + half];
    v[off + i] = a * c - b * s;
    v[off + i + half] = b * c + a * s;
  }
}

/** Logits [T][V] for one sequence. */
export function referenceLogits(c: ModelConfig, t: TensorMap, ids: number[]): Float64Array[] {
  const D = c.hiddenSize;
  const hd = c.headDim;
  const T = ids.length;
  const emb = get(t, 'model.embed_tokens.weight');
  let xs: Float64Array[] = ids.map((id) => Float64Array.from(emb.subarray(id * D, (id + 1) * D)));
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    for (let i = 0; i < T; i++) {
      const h = rmsnorm(xs[i], get(t, p + 'input_layernorm.weight'), c.rmsNormEps);
      const bias = (n: string) => (c.attentionBias ? get(t, p + `self_attn.${n}.bias`) : undefined);
      const q = linear(get(t, p + 'self_attn.q_proj.weight'), h, c.numHeads * hd, bias('q_proj'));
      const k = linear(get(t, p + 'self_attn.k_proj.weight'), h, c.numKvHeads * hd, bias('k_proj'));
      const v = linear(get(t, p + 'self_attn.v_proj.weight'), h, c.numKvHeads * hd, bias('v_proj'));
      for (let hh = 0; hh < c.numHeads; hh++) rope(q, hh * hd, hd, i, c.ropeTheta);
      for (let hh = 0; hh < c.numKvHeads; hh++) rope(k, hh * hd, hd, i, c.ropeTheta);
      qs.push(q);
      ks.push(k);
      vs.push(v);
    }
    const group = c.numHeads / c.numKvHeads;
    const next: Float64Array[] = [];
    for (let i = 0; i < T; i++) {
      const att = new Float64Array(c.numHeads * hd);
      for (let hh = 0; hh < c.numHeads; hh++) {
        const kh = Math.floor(hh / group);
        const scores = new Float64Array(i + 1);
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let d = 0; d < hd; d++) s += qs[i][hh * hd + d] * ks[j][kh * hd + d];
          scores[j] = s / Math.sqrt(hd);
          m = Math.max(m, scores[j]);
        }
        let z = 0;
        for (let j = 0; j <= i; j++) z += scores[j] = Math.exp(scores[j] - m);
        for (let j = 0; j <= i; j++)
          for (let d = 0; d < hd; d++) att[hh * hd + d] += (scores[j] / z) * vs[j][kh * hd + d];
      }
      const o = linear(get(t, p + 'self_attn.o_proj.weight'), att, D);
      const x = xs[i].map((v, d) => v + o[d]);
      const h2 = rmsnorm(x, get(t, p + 'post_attention_layernorm.weight'), c.rmsNormEps);
      const g = linear(get(t, p + 'mlp.gate_proj.weight'), h2, c.intermediateSize);
      const u = linear(get(t, p + 'mlp.up_proj.weight'), h2, c.intermediateSize);
      const a = g.map((gv, j) => (gv / (1 + Math.exp(-gv))) * u[j]);
      const dn = linear(get(t, p + 'mlp.down_proj.weight'), a, D);
      next.push(x.map((v, d) => v + dn[d]));
    }
    xs = next;
  }
  const head = c.tieWordEmbeddings ? emb : get(t, 'lm_head.weight');
  return xs.map((x) => linear(head, rmsnorm(x, get(t, 'model.norm.weight'), c.rmsNormEps), c.vocabSize));
}

export function logSoftmax(z: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.exp(z[i] - m);
  const lse = m + Math.log(s);
  return Float64Array.from({ length: z.length }, (_, i) => z[i] - lse);
}
