// BERT forward pass on the engine's kernels (inference only): embeddings + post-LN transformer
// layers (bidirectional attention), mean/CLS pooling, and the sequence-classification head of a
// cross-encoder. Linear layers run as one GEMM over the packed [T, ·] rows of every sequence in
// the batch (no padding); attention runs per sequence and head (two GEMMs + a row softmax).
//
// GELU: transformers' BERT uses the exact erf form. llama.cpp's CPU backend uses the tanh
// approximation looked up in an f16 table (input and output rounded to f16); `gelu: 'ggml'`
// reproduces that so tests can compare with llama.cpp tightly (docs/dense-retrieval.md).
import { defaultKernels } from '../kernels/index.ts';
import type { Kernels } from '../kernels/types.ts';
import type { Buf } from '../memory.ts';
import { f16ToF32, f32ToF16 } from '../io/half.ts';
import type { TensorMap } from '../io/safetensors.ts';
import { bertTensorShapes } from './config.ts';
import type { BertConfig } from './config.ts';

export type GeluKind = 'erf' | 'ggml';

/** One input sequence: token ids and (optional, default all 0) token type ids. */
export interface BertInput {
  ids: ArrayLike<number>;
  types?: ArrayLike<number>;
}

interface Layer {
  wqkv: Buf; // [3D, D]: query, key, value rows stacked
  bqkv: Float32Array; // [3D]
  wo: Buf; // [D, D]
  bo: Float32Array;
  ln1w: Float32Array;
  ln1b: Float32Array;
  w1: Buf; // [I, D]
  b1: Float32Array;
  w2: Buf; // [D, I]
  b2: Float32Array;
  ln2w: Float32Array;
  ln2b: Float32Array;
}

/** erf(x) to ~1.2e-7 relative (Numerical Recipes' Chebyshev fit of erfc), enough for f32. */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

function geluErf(a: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const x = a[i];
    a[i] = 0.5 * x * (1 + erf(x * SQRT1_2));
  }
}

/** ggml's CPU GELU: tanh form on f16-rounded inputs, f16-rounded outputs, identity beyond ±10. */
function geluGgml(a: Float32Array, n: number): void {
  const h = new Uint16Array(n);
  const x16 = new Float32Array(n);
  f32ToF16(a.subarray(0, n), h);
  f16ToF32(h, x16);
  for (let i = 0; i < n; i++) {
    const x = x16[i];
    x16[i] = 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * x * (1 + 0.044715 * x * x)));
  }
  f32ToF16(x16, h);
  f16ToF32(h, x16);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    a[i] = x <= -10 ? 0 : x >= 10 ? x : x16[i];
  }
}

/** y = LayerNorm(x)·w + b per row of D (statistics in float64), in place. */
function layerNorm(x: Float32Array, rows: number, D: number, w: Float32Array, b: Float32Array, eps: number) {
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let mean = 0;
    for (let j = 0; j < D; j++) mean += x[o + j];
    mean /= D;
    let v = 0;
    for (let j = 0; j < D; j++) {
      const d = x[o + j] - mean;
      v += d * d;
    }
    const inv = 1 / Math.sqrt(v / D + eps);
    for (let j = 0; j < D; j++) x[o + j] = (x[o + j] - mean) * inv * w[j] + b[j];
  }
}

export class BertModel {
  readonly kernels: Kernels;
  private readonly wordEmb: Float32Array;
  private readonly posEmb: Float32Array;
  private readonly typeEmb: Float32Array;
  private readonly embLnW: Float32Array;
  private readonly embLnB: Float32Array;
  private readonly layers: Layer[] = [];
  private readonly pooler: { w: Float32Array; b: Float32Array; cw: Float32Array; cb: number } | null;
  private disposed = false;

  /** `tensors`: internal names (bertTensorShapes), shapes already checked by the loader. */
  constructor(
    readonly config: BertConfig,
    tensors: TensorMap,
    readonly gelu: GeluKind = 'erf',
    kernels: Kernels = defaultKernels(),
  ) {
    this.kernels = kernels;
    const get = (n: string): Float32Array => {
      const t = tensors.get(n);
      if (!t) throw new Error(`bert: tensor "${n}" missing`);
      return t.data;
    };
    for (const { name, shape } of bertTensorShapes(config)) {
      const t = tensors.get(name);
      if (!t) throw new Error(`bert: tensor "${name}" missing`);
      if (t.shape.join() !== shape.join())
        throw new Error(`bert: tensor "${name}" has shape [${t.shape}], expected [${shape}]`);
    }
    const A = kernels.arena;
    const buf = (...parts: Float32Array[]): Buf => {
      const b = A.alloc(parts.reduce((s, p) => s + p.length, 0));
      let o = 0;
      for (const p of parts) {
        b.data.set(p, o);
        o += p.length;
      }
      return b;
    };
    const cat = (...parts: Float32Array[]): Float32Array => {
      const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
      let o = 0;
      for (const p of parts) {
        out.set(p, o);
        o += p.length;
      }
      return out;
    };
    this.wordEmb = get('embeddings.word_embeddings.weight');
    this.posEmb = get('embeddings.position_embeddings.weight');
    this.typeEmb = get('embeddings.token_type_embeddings.weight');
    this.embLnW = get('embeddings.LayerNorm.weight');
    this.embLnB = get('embeddings.LayerNorm.bias');
    for (let l = 0; l < config.numLayers; l++) {
      const p = `encoder.layer.${l}.`;
      const s = `${p}attention.self.`;
      this.layers.push({
        wqkv: buf(get(`${s}query.weight`), get(`${s}key.weight`), get(`${s}value.weight`)),
        bqkv: cat(get(`${s}query.bias`), get(`${s}key.bias`), get(`${s}value.bias`)),
        wo: buf(get(`${p}attention.output.dense.weight`)),
        bo: get(`${p}attention.output.dense.bias`),
        ln1w: get(`${p}attention.output.LayerNorm.weight`),
        ln1b: get(`${p}attention.output.LayerNorm.bias`),
        w1: buf(get(`${p}intermediate.dense.weight`)),
        b1: get(`${p}intermediate.dense.bias`),
        w2: buf(get(`${p}output.dense.weight`)),
        b2: get(`${p}output.dense.bias`),
        ln2w: get(`${p}output.LayerNorm.weight`),
        ln2b: get(`${p}output.LayerNorm.bias`),
      });
    }
    this.pooler =
      config.head === 'classifier'
        ? {
            w: get('pooler.dense.weight'),
            b: get('pooler.dense.bias'),
            cw: get('classifier.weight'),
            cb: get('classifier.bias')[0],
          }
        : null;
  }

  /**
   * Final hidden states of every token of every sequence, packed: rows [starts[s], starts[s]+len_s)
   * belong to sequence s. Returns a fresh array [T, D].
   */
  hidden(batch: readonly BertInput[]): { h: Float32Array; starts: number[] } {
    if (this.disposed) throw new Error('bert: model disposed');
    const c = this.config;
    const D = c.hiddenSize;
    const I = c.intermediateSize;
    const H = c.numHeads;
    const hd = D / H;
    const starts: number[] = [];
    let T = 0;
    let Lmax = 0;
    for (const s of batch) {
      if (s.ids.length === 0) throw new Error('bert: empty sequence');
      if (s.ids.length > c.maxPositionEmbeddings)
        throw new Error(
          `bert: sequence of ${s.ids.length} tokens exceeds max_position_embeddings ${c.maxPositionEmbeddings}`,
        );
      starts.push(T);
      T += s.ids.length;
      Lmax = Math.max(Lmax, s.ids.length);
    }
    const K = this.kernels;
    const A = K.arena;
    const x = A.alloc(T * D);
    const qkv = A.alloc(T * 3 * D);
    const ctx = A.alloc(T * D);
    const tmp = A.alloc(T * D);
    const inter = A.alloc(T * I);
    const S = A.alloc(Lmax * Lmax);
    try {
      // Embeddings: word + position + token type, then LayerNorm.
      const xd = x.data;
      for (let s = 0; s < batch.length; s++) {
        const { ids, types } = batch[s];
        for (let i = 0; i < ids.length; i++) {
          const id = ids[i];
          const ty = types ? types[i] : 0;
          if (!(id >= 0 && id < c.vocabSize))
            throw new Error(`bert: token id ${id} outside vocab ${c.vocabSize}`);
          if (!(ty >= 0 && ty < c.typeVocabSize))
            throw new Error(`bert: token type ${ty} outside type_vocab_size ${c.typeVocabSize}`);
          const o = (starts[s] + i) * D;
          for (let j = 0; j < D; j++)
            xd[o + j] = this.wordEmb[id * D + j] + this.posEmb[i * D + j] + this.typeEmb[ty * D + j];
        }
      }
      layerNorm(x.data, T, D, this.embLnW, this.embLnB, c.layerNormEps);
      const scale = 1 / Math.sqrt(hd);
      for (const L of this.layers) {
        this.linear(x, T, D, L.wqkv, L.bqkv, qkv, 3 * D);
        // Attention per sequence and head: S = scale·Q·Kᵀ, softmax rows, ctx = S·V.
        for (let s = 0; s < batch.length; s++) {
          const n = batch[s].ids.length;
          const r0 = starts[s];
          for (let h = 0; h < H; h++) {
            const qo = r0 * 3 * D + h * hd;
            K.gemm(false, true, n, n, hd, scale, qkv, qo, 3 * D, qkv, qo + D, 3 * D, 0, S, 0, n);
            K.causalSoftmax(S, 0, n, n, n, n); // offset n: every row sees every column
            K.gemm(false, false, n, hd, n, 1, S, 0, n, qkv, qo + 2 * D, 3 * D, 0, ctx, r0 * D + h * hd, D);
          }
        }
        this.linear(ctx, T, D, L.wo, L.bo, tmp, D);
        addInto(tmp.data, x.data, T * D);
        layerNorm(tmp.data, T, D, L.ln1w, L.ln1b, c.layerNormEps);
        this.linear(tmp, T, D, L.w1, L.b1, inter, I);
        if (this.gelu === 'erf') geluErf(inter.data, T * I);
        else geluGgml(inter.data, T * I);
        this.linear(inter, T, I, L.w2, L.b2, x, D);
        addInto(x.data, tmp.data, T * D);
        layerNorm(x.data, T, D, L.ln2w, L.ln2b, c.layerNormEps);
      }
      return { h: x.data.slice(0, T * D), starts };
    } finally {
      for (const b of [x, qkv, ctx, tmp, inter, S]) A.free(b);
    }
  }

  /** y[T, nOut] = x[T, nIn]·Wᵀ + b (rows start as the bias; the GEMM accumulates onto them). */
  private linear(x: Buf, T: number, nIn: number, W: Buf, b: Float32Array, y: Buf, nOut: number): void {
    const yd = y.data;
    for (let t = 0; t < T; t++) yd.set(b, t * nOut);
    this.kernels.gemm(false, true, T, nOut, nIn, 1, x, 0, nIn, W, 0, nIn, 1, y, 0, nOut);
  }

  /** Pooled vector per sequence: mean over all its tokens or its first ([CLS]) token. */
  pool(batch: readonly BertInput[], pooling: 'mean' | 'cls'): Float32Array[] {
    const D = this.config.hiddenSize;
    const { h, starts } = this.hidden(batch);
    return batch.map((s, i) => {
      const o = starts[i] * D;
      if (pooling === 'cls') return h.slice(o, o + D);
      const v = new Float64Array(D);
      for (let t = 0; t < s.ids.length; t++) for (let j = 0; j < D; j++) v[j] += h[o + t * D + j];
      const out = new Float32Array(D);
      for (let j = 0; j < D; j++) out[j] = v[j] / s.ids.length;
      return out;
    });
  }

  /** Cross-encoder relevance logit per sequence: classifier(tanh(pooler(h_CLS))). */
  classify(batch: readonly BertInput[]): number[] {
    const P = this.pooler;
    if (!P) throw new Error('bert: this model has no classification head (not a cross-encoder)');
    const D = this.config.hiddenSize;
    return this.pool(batch, 'cls').map((cls) => {
      let logit = P.cb;
      for (let i = 0; i < D; i++) {
        let z = P.b[i];
        for (let j = 0; j < D; j++) z += P.w[i * D + j] * cls[j];
        logit += P.cw[i] * Math.tanh(z);
      }
      return logit;
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const L of this.layers) for (const b of [L.wqkv, L.wo, L.w1, L.w2]) this.kernels.arena.free(b);
  }
}

function addInto(y: Float32Array, x: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) y[i] += x[i];
}
