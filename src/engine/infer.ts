// Inference with a KV cache: one call processes new tokens for many sequences at once (prefill
// of whole prompts, or one token per sequence when decoding) and returns the next-token logits
// of each sequence. Linear layers run on the packed [T, ·] rows of all sequences; attention runs
// per sequence against its own cache.
import { shapeNames } from './config.ts';
import type { Model } from './model.ts';
import type { Buf } from './memory.ts';
import { RopeTable } from './rope.ts';
import { linear } from './forward.ts';
import { assignLanes } from './kernels/lanes.ts';

/** Per-sequence key/value cache: slot s, layer l → [cap_s, KD] keys and values. */
export class KvCache {
  readonly k: Buf[][];
  readonly v: Buf[][];
  readonly len: Int32Array;
  private disposed = false;
  constructor(
    private readonly model: Model,
    readonly caps: readonly number[],
  ) {
    const c = model.config;
    const KD = c.numKvHeads * c.headDim;
    const A = model.kernels.arena;
    this.k = caps.map((cap) => Array.from({ length: c.numLayers }, () => A.alloc(Math.max(1, cap) * KD)));
    this.v = caps.map((cap) => Array.from({ length: c.numLayers }, () => A.alloc(Math.max(1, cap) * KD)));
    this.len = new Int32Array(caps.length);
  }
  get slots(): number {
    return this.caps.length;
  }
  /** Copies the first `len[from]` cached positions of slot `from` into slot `to` (shared prompts). */
  copySlot(from: number, to: number): void {
    const KD = this.model.config.numKvHeads * this.model.config.headDim;
    const n = this.len[from];
    if (n > this.caps[to])
      throw new Error(`kv cache: slot ${to} (cap ${this.caps[to]}) cannot hold ${n} positions`);
    for (let l = 0; l < this.k[from].length; l++) {
      this.k[to][l].data.set(this.k[from][l].data.subarray(0, n * KD));
      this.v[to][l].data.set(this.v[from][l].data.subarray(0, n * KD));
    }
    this.len[to] = n;
  }
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const A = this.model.kernels.arena;
    for (const per of [this.k, this.v]) for (const slot of per) for (const b of slot) A.free(b);
  }
}

export interface StepItem {
  slot: number;
  tokens: readonly number[];
}

interface InferPlan {
  cap: number; // tokens
  scap: number; // attention score floats
  bcap: number; // sequences
  bufs: Buf[];
  x: Buf;
  h: Buf;
  q: Buf;
  k: Buf;
  v: Buf;
  att: Buf;
  g: Buf;
  u: Buf;
  a: Buf;
  S: Buf[]; // per kernel lane: [scap] attention scores (scratch)
  last: Buf; // [B, D]
  inv: Buf; // [T]
  lastN: Buf; // [B, D]
  logits: Buf; // [B, V]
}

export class Inference {
  private plan: InferPlan | null = null;
  private rope: RopeTable;
  private pos: Buf | null = null; // int32 positions of the packed rows

  constructor(private readonly model: Model) {
    this.rope = new RopeTable(model.kernels, model.config.headDim, model.config.ropeTheta);
  }

  dispose(): void {
    this.releasePlan();
    if (this.pos) this.model.kernels.arena.free(this.pos);
    this.pos = null;
    this.rope.dispose();
  }

  private releasePlan(): void {
    if (this.plan) for (const b of this.plan.bufs) this.model.kernels.arena.free(b);
    this.plan = null;
  }

  private ensurePlan(T: number, sNeed: number, B: number): InferPlan {
    const p = this.plan;
    if (p && p.cap >= T && p.scap >= sNeed && p.bcap >= B) return p;
    this.releasePlan();
    const c = this.model.config;
    const D = c.hiddenSize,
      QD = c.numHeads * c.headDim,
      KD = c.numKvHeads * c.headDim,
      I = c.intermediateSize;
    const cap = Math.max(T, p?.cap ?? 0, 16);
    const scap = Math.max(sNeed, p?.scap ?? 0, 256);
    const bcap = Math.max(B, p?.bcap ?? 0, 1);
    const bufs: Buf[] = [];
    const A = (n: number) => {
      const b = this.model.kernels.arena.alloc(Math.max(1, n));
      bufs.push(b);
      return b;
    };
    this.plan = {
      cap,
      scap,
      bcap,
      bufs,
      x: A(cap * D),
      h: A(cap * D),
      q: A(cap * QD),
      k: A(cap * KD),
      v: A(cap * KD),
      att: A(cap * QD),
      g: A(cap * I),
      u: A(cap * I),
      a: A(cap * I),
      S: Array.from({ length: this.model.kernels.lanes }, () => A(scap)),
      last: A(bcap * D),
      inv: A(Math.max(cap, bcap)),
      lastN: A(bcap * D),
      logits: A(bcap * c.vocabSize),
    };
    return this.plan;
  }

  /**
   * Appends `tokens` to each item's slot (positions continue from cache.len[slot]) and returns the
   * logits after each item's last token: [items.length, V] (a view valid until the next call).
   */
  step(cache: KvCache, items: readonly StepItem[]): Float32Array {
    const m = this.model;
    const c = m.config;
    const K = m.kernels;
    const { D, hd, Hq, Hkv, I, V, QD, KD } = shapeNames(c);
    const rep = Hq / Hkv;
    let T = 0,
      sNeed = 0;
    const starts: number[] = [];
    for (const it of items) {
      if (it.tokens.length === 0) throw new Error(`inference step: slot ${it.slot} has no new tokens`);
      const ctx = cache.len[it.slot] + it.tokens.length;
      if (ctx > cache.caps[it.slot])
        throw new Error(
          `inference step: slot ${it.slot} would hold ${ctx} positions, its cache holds ${cache.caps[it.slot]}`,
        );
      starts.push(T);
      T += it.tokens.length;
      sNeed = Math.max(sNeed, it.tokens.length * ctx, rep * ctx);
    }
    const B = items.length;
    const P = this.ensurePlan(T, sNeed, B);
    if (!this.pos || this.pos.len < P.cap) {
      if (this.pos) this.model.kernels.arena.free(this.pos);
      this.pos = this.model.kernels.arena.alloc(P.cap);
    }
    const pos = this.pos.i32;
    let maxPos = 0;
    {
      const x = P.x.data,
        E = m.embed.w.data;
      for (let i = 0; i < B; i++) {
        const it = items[i];
        const p0 = cache.len[it.slot];
        for (let j = 0; j < it.tokens.length; j++) {
          const tok = it.tokens[j];
          if (!Number.isInteger(tok) || tok < 0 || tok >= V)
            throw new Error(`token ${tok} is outside the vocabulary [0, ${V})`);
          x.set(E.subarray(tok * D, tok * D + D), (starts[i] + j) * D);
          pos[starts[i] + j] = p0 + j;
        }
        maxPos = Math.max(maxPos, p0 + it.tokens.length);
      }
    }
    this.rope.ensure(maxPos);
    const scale = 1 / Math.sqrt(hd);
    // Attention pieces: (item, KV head) with its `rep` query heads, spread over the kernel lanes.
    const pieceCost: number[] = [];
    for (const it of items)
      for (let g = 0; g < Hkv; g++)
        pieceCost.push(it.tokens.length * (cache.len[it.slot] + it.tokens.length));
    const pieceLane = assignLanes(pieceCost, K.lanes);
    for (let l = 0; l < c.numLayers; l++) {
      const W = m.layers[l];
      K.rmsnorm(P.x, W.ln1.w, P.h, P.inv, T, D, c.rmsNormEps);
      linear(m, P.h, T, D, W.wq, W.bq, P.q, QD);
      linear(m, P.h, T, D, W.wk, W.bk, P.k, KD);
      linear(m, P.h, T, D, W.wv, W.bv, P.v, KD);
      this.rope.apply(P.q, 0, T, QD, Hq, this.pos, 0, false);
      this.rope.apply(P.k, 0, T, KD, Hkv, this.pos, 0, false);
      for (let i = 0; i < B; i++) {
        const it = items[i];
        const n = it.tokens.length,
          s0 = starts[i],
          p0 = cache.len[it.slot];
        cache.k[it.slot][l].data.set(P.k.data.subarray(s0 * KD, (s0 + n) * KD), p0 * KD);
        cache.v[it.slot][l].data.set(P.v.data.subarray(s0 * KD, (s0 + n) * KD), p0 * KD);
      }
      for (let i = 0; i < B; i++) {
        const it = items[i];
        const n = it.tokens.length,
          s0 = starts[i],
          p0 = cache.len[it.slot];
        const ctx = p0 + n;
        const kc = cache.k[it.slot][l],
          vc = cache.v[it.slot][l];
        for (let g = 0; g < Hkv; g++) {
          const t = pieceLane[i * Hkv + g];
          const Kl = K.lane(t),
            S = P.S[t]; // this lane's score scratch
          if (n === 1) {
            // Decode: the `rep` query heads sharing a KV head, fused scores/softmax/values.
            const qo = s0 * QD + g * rep * hd;
            Kl.attnDecode(P.q, qo, rep, hd, kc, g * hd, vc, g * hd, KD, ctx, scale, P.att, qo, S);
            continue;
          }
          // Prefill: causal GEMMs over the whole new block, as in training (gemmTri skips the
          // tiles above the diagonal, which sits p0 columns to the right here).
          for (let h = g * rep; h < (g + 1) * rep; h++) {
            const qo = s0 * QD + h * hd;
            Kl.gemmTri(1, p0, false, true, n, ctx, hd, scale, P.q, qo, QD, kc, g * hd, KD, 0, S, 0, ctx);
            Kl.causalSoftmax(S, 0, n, ctx, ctx, p0);
            Kl.gemmTri(2, p0, false, false, n, hd, ctx, 1, S, 0, ctx, vc, g * hd, KD, 0, P.att, qo, QD);
          }
        }
      }
      K.sync();
      K.gemm(false, true, T, D, QD, 1, P.att, 0, QD, W.wo.w, 0, QD, 1, P.x, 0, D);
      K.rmsnorm(P.x, W.ln2.w, P.h, P.inv, T, D, c.rmsNormEps);
      K.gemm(false, true, T, I, D, 1, P.h, 0, D, W.wg.w, 0, D, 0, P.g, 0, I);
      K.gemm(false, true, T, I, D, 1, P.h, 0, D, W.wu.w, 0, D, 0, P.u, 0, I);
      K.swiglu(P.g, P.u, P.a, T * I);
      K.gemm(false, true, T, D, I, 1, P.a, 0, I, W.wd.w, 0, I, 1, P.x, 0, D);
    }
    for (let i = 0; i < B; i++) {
      cache.len[items[i].slot] += items[i].tokens.length;
      const r = starts[i] + items[i].tokens.length - 1;
      P.last.data.set(P.x.data.subarray(r * D, r * D + D), i * D);
    }
    K.rmsnorm(P.last, m.norm.w, P.lastN, P.inv, B, D, c.rmsNormEps);
    K.gemm(false, true, B, V, D, 1, P.lastN, 0, D, m.lmHead.w, 0, D, 0, P.logits, 0, V);
    // A LoRA unembedding of a tied model cannot be merged (./lora.ts): applied here.
    m.lora?.unembedHook()?.(P.lastN, 0, B, P.logits, 0);
    return P.logits.data.subarray(0, B * V);
  }
}
