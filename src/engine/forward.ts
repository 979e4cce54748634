// The training pass over a packed batch: sequences of different lengths are concatenated into
// one [T, ·] token stream (no padding); attention is block-diagonal causal (each sequence sees
// only itself), RoPE positions restart at 0 per sequence. Forward returns per-token log-probs of
// the targets, entropy and values; backward takes ∂L/∂(logprobs, entropy, values) and accumulates
// parameter gradients. Every op's backward sits next to its forward, llm.c style.
//
// Shapes: T tokens, D hidden, QD = Hq·hd, KD = Hkv·hd, I intermediate, V vocab.
import { shapeNames } from './config.ts';
import type { Model, Param } from './model.ts';
import type { Buf } from './memory.ts';
import { RopeTable } from './rope.ts';
import { assignLanes } from './kernels/lanes.ts';
import type { LaneKernels } from './kernels/types.ts';

export interface SeqIn {
  inputs: readonly number[];
  targets: readonly number[];
}

export interface PassOutputs {
  logprobs: Float32Array[];
  entropy: Float32Array[];
  values: Float32Array[] | null;
}

export interface PassGrads {
  dLogprobs: (Float32Array | null)[];
  dEntropy?: (Float32Array | null)[] | null;
  dValues?: (Float32Array | null)[] | null;
}

/** Attention probabilities of every layer/sequence/head are kept for backward up to this many floats. */
const MAX_KEPT_PROBS = 32 * 1024 * 1024;

/** Max logits held at once ([rows, V] chunks of the LM head), in floats. */
const HEAD_CHUNK_FLOATS = 4 * 1024 * 1024;

interface LayerActs {
  xIn: Buf; // [T,D] residual stream into the layer
  inv1: Buf; // [T]
  h1: Buf; // [T,D]
  q: Buf; // [T,QD] after RoPE
  k: Buf; // [T,KD] after RoPE
  v: Buf; // [T,KD]
  att: Buf; // [T,QD] attention output before o_proj
  xMid: Buf; // [T,D] residual after attention
  inv2: Buf; // [T]
  h2: Buf; // [T,D]
  g: Buf; // [T,I]
  u: Buf; // [T,I]
  a: Buf; // [T,I] silu(g)·u
}

/** One buffer plan: every activation and scratch buffer for up to `cap` tokens, `lcap` per sequence. */
class Plan {
  readonly bufs: Buf[] = [];
  readonly layers: LayerActs[] = [];
  readonly xOut: Buf; // [T,D] residual after the last layer
  readonly invF: Buf; // [T]
  readonly xf: Buf; // [T,D] final-normed hidden
  readonly tgt: Buf; // [T] int32 targets
  readonly lse: Buf; // [T]
  readonly lp: Buf; // [T]
  readonly ent: Buf; // [T]
  readonly gLp: Buf; // [T]
  readonly gEnt: Buf; // [T]
  readonly Z: Buf; // [R,V] logits chunk
  readonly S: Buf; // [lanes][lcap, lcap] attention probabilities (scratch per kernel lane)
  readonly dP: Buf; // [lanes][lcap, lcap]
  // gradient scratch
  readonly dx: Buf;
  readonly dh: Buf;
  readonly dxf: Buf;
  readonly dq: Buf;
  readonly dk: Buf;
  readonly dv: Buf;
  readonly datt: Buf;
  readonly dg: Buf;
  readonly du: Buf;
  readonly da: Buf;
  readonly ones: Buf; // [T] of 1: bias gradients as a GEMM (1ᵀ·dy)
  readonly rowsPerChunk: number;
  constructor(
    private readonly model: Model,
    readonly cap: number,
    readonly lcap: number,
    readonly training: boolean,
  ) {
    const c = model.config;
    const D = c.hiddenSize,
      QD = c.numHeads * c.headDim,
      KD = c.numKvHeads * c.headDim,
      I = c.intermediateSize;
    const T = cap;
    const A = (n: number) => {
      const b = model.kernels.arena.alloc(Math.max(1, n));
      this.bufs.push(b);
      return b;
    };
    const mkLayer = (): LayerActs => ({
      xIn: A(T * D),
      inv1: A(T),
      h1: A(T * D),
      q: A(T * QD),
      k: A(T * KD),
      v: A(T * KD),
      att: A(T * QD),
      xMid: A(T * D),
      inv2: A(T),
      h2: A(T * D),
      g: A(T * I),
      u: A(T * I),
      a: A(T * I),
    });
    // Without backward, every layer reuses one set of activation buffers.
    const first = mkLayer();
    for (let l = 0; l < c.numLayers; l++) this.layers.push(l === 0 || !training ? first : mkLayer());
    if (!training) {
      // Inference still needs distinct residual buffers in and out of each layer.
      const other = A(T * D);
      for (let l = 0; l < c.numLayers; l++) if (l % 2 === 1) this.layers[l] = { ...first, xIn: other };
    }
    this.xOut = A(T * D);
    this.invF = A(T);
    this.xf = A(T * D);
    this.tgt = A(T);
    this.lse = A(T);
    this.lp = A(T);
    this.ent = A(T);
    this.gLp = A(T);
    this.gEnt = A(T);
    this.rowsPerChunk = Math.max(1, Math.min(T, Math.floor(HEAD_CHUNK_FLOATS / c.vocabSize)));
    this.Z = A(this.rowsPerChunk * c.vocabSize);
    const lanes = model.kernels.lanes;
    this.S = A(lanes * lcap * lcap);
    const g = training ? A : (_: number) => this.S; // unused without backward
    this.dP = g(lanes * lcap * lcap);
    this.dx = g(T * D);
    this.dh = g(T * D);
    this.dxf = g(T * D);
    this.dq = g(T * QD);
    this.dk = g(T * KD);
    this.dv = g(T * KD);
    this.datt = g(T * QD);
    this.dg = g(T * I);
    this.du = g(T * I);
    this.da = g(T * I);
    this.ones = A(T);
    this.ones.data.fill(1);
  }
  dispose(): void {
    for (const b of this.bufs) this.model.kernels.arena.free(b);
    this.bufs.length = 0;
  }
}

/** A forward pass whose activations are kept for `backward`. */
export class TrainingPass {
  private plan: Plan | null = null;
  private rope: RopeTable;
  /** State of the last forward. */
  private T = 0;
  private starts: number[] = [];
  private lens: number[] = [];
  private pos: Buf | null = null; // [cap] int32 positions
  private tokens = new Int32Array(0);
  private headCached = false;
  private hasForward = false;
  /** Kept attention probabilities: [layer][seq][head] blocks of Ls×Ls (training, when small). */
  private probs: Buf | null = null;
  private probsKept = false;
  private probBase: number[] = []; // per sequence: offset of its [head] blocks within a layer
  private probLayer = 0; // floats per layer

  constructor(
    private readonly model: Model,
    /** Keep attention probabilities for backward up to this many floats (else recompute). */
    private readonly maxKeptProbs = MAX_KEPT_PROBS,
  ) {
    this.rope = new RopeTable(model.kernels, model.config.headDim, model.config.ropeTheta);
  }

  dispose(): void {
    this.plan?.dispose();
    this.plan = null;
    if (this.probs) this.model.kernels.arena.free(this.probs);
    this.probs = null;
    if (this.pos) this.model.kernels.arena.free(this.pos);
    this.pos = null;
    this.rope.dispose();
  }

  /** Engine memory held by the buffer plan and kept attention probabilities, in bytes. */
  bytes(): number {
    let n = this.probs ? this.probs.len : 0;
    if (this.plan) for (const b of this.plan.bufs) n += b.len;
    return 4 * n;
  }

  /** Where the probabilities of (layer, seq, head) live: the kept store, or lane t's scratch S. */
  private probsAt(P: Plan, l: number, s: number, h: number, t: number): [Buf, number] {
    if (this.probsKept)
      return [this.probs!, l * this.probLayer + this.probBase[s] + h * this.lens[s] * this.lens[s]];
    return [P.S, t * P.lcap * P.lcap];
  }

  /**
   * The attention pieces of the batch — (sequence, KV head), each with its `rep` query heads, so
   * dK/dV of a KV head accumulate on one lane — and the lane each runs on.
   */
  private attentionLanes(): { seq: number[]; group: number[]; lane: Int32Array } {
    const Hkv = this.model.config.numKvHeads;
    const seq: number[] = [],
      group: number[] = [],
      cost: number[] = [];
    for (let s = 0; s < this.starts.length; s++)
      for (let g = 0; g < Hkv; g++) {
        seq.push(s);
        group.push(g);
        cost.push(this.lens[s] * this.lens[s]);
      }
    return { seq, group, lane: assignLanes(cost, this.model.kernels.lanes) };
  }

  /** Decides whether to keep attention probabilities for this batch, and sizes their store. */
  private planProbs(keep: boolean): void {
    const c = this.model.config;
    this.probBase = [];
    let per = 0;
    for (const n of this.lens) {
      this.probBase.push(per);
      per += c.numHeads * n * n;
    }
    this.probLayer = per;
    const total = per * c.numLayers;
    this.probsKept = keep && total <= this.maxKeptProbs;
    if (this.probsKept && (!this.probs || this.probs.len < total)) {
      if (this.probs) this.model.kernels.arena.free(this.probs);
      this.probs = this.model.kernels.arena.alloc(Math.max(total, Math.min(this.maxKeptProbs, total * 2)));
    }
  }

  private ensurePlan(T: number, L: number, training: boolean): Plan {
    const p = this.plan;
    if (p && p.cap >= T && p.lcap >= L && (p.training || !training)) return p;
    p?.dispose();
    // Round capacities up so nearby batch shapes reuse the plan.
    const cap = Math.max(T, p?.cap ?? 0, 16);
    const lcap = Math.max(L, p?.lcap ?? 0, 16);
    this.plan = new Plan(this.model, roundUp(cap), roundUp(lcap), training || (p?.training ?? false));
    return this.plan;
  }

  /**
   * Forward over sequences; returns per-sequence log p(target), entropy and (critic) values.
   * `keep` = true keeps the activations for `backward` (training plan).
   */
  forward(seqs: readonly SeqIn[], keep: boolean): PassOutputs {
    const m = this.model;
    const c = m.config;
    const K = m.kernels;
    const V = c.vocabSize,
      D = c.hiddenSize;
    let T = 0,
      L = 0;
    this.starts = [];
    this.lens = [];
    for (let s = 0; s < seqs.length; s++) {
      const n = seqs[s].inputs.length;
      if (seqs[s].targets.length !== n)
        throw new Error(`sequence ${s}: ${n} input tokens but ${seqs[s].targets.length} targets`);
      this.starts.push(T);
      this.lens.push(n);
      T += n;
      L = Math.max(L, n);
    }
    this.T = T;
    const out: PassOutputs = { logprobs: [], entropy: [], values: m.valueW ? [] : null };
    if (T === 0) {
      for (let s = 0; s < seqs.length; s++) {
        out.logprobs.push(new Float32Array(0));
        out.entropy.push(new Float32Array(0));
        out.values?.push(new Float32Array(0));
      }
      this.hasForward = keep;
      return out;
    }
    const P = this.ensurePlan(T, L, keep);
    this.planProbs(keep);
    this.rope.ensure(L);
    if (!this.pos || this.pos.len < T) {
      if (this.pos) this.model.kernels.arena.free(this.pos);
      this.pos = this.model.kernels.arena.alloc(P.cap);
      this.tokens = new Int32Array(P.cap);
    }
    const tgt = P.tgt.i32;
    const pos = this.pos!.i32;
    for (let s = 0; s < seqs.length; s++) {
      const { inputs, targets } = seqs[s];
      const b = this.starts[s];
      for (let i = 0; i < inputs.length; i++) {
        const tok = inputs[i],
          tt = targets[i];
        if (!Number.isInteger(tok) || tok < 0 || tok >= V)
          throw new Error(
            `sequence ${s}: input token ${tok} at position ${i} is outside the vocabulary [0, ${V})`,
          );
        if (!Number.isInteger(tt) || tt < 0 || tt >= V)
          throw new Error(
            `sequence ${s}: target token ${tt} at position ${i} is outside the vocabulary [0, ${V})`,
          );
        this.tokens[b + i] = tok;
        tgt[b + i] = tt;
        pos[b + i] = i;
      }
    }
    // Embedding lookup → layers[0].xIn
    {
      const x = P.layers[0].xIn.data,
        E = m.embed.w.data;
      for (let t = 0; t < T; t++) x.set(E.subarray(this.tokens[t] * D, this.tokens[t] * D + D), t * D);
    }
    for (let l = 0; l < c.numLayers; l++) {
      const next = l + 1 < c.numLayers ? P.layers[l + 1].xIn : P.xOut;
      this.layerForward(l, P, next);
    }
    // Final norm, head
    K.rmsnorm(P.xOut, m.norm.w, P.xf, P.invF, T, D, c.rmsNormEps);
    const R = P.rowsPerChunk;
    const F = floatArrayOf(P.lp); // Float64Array on the float64 reference path
    const lpAll = new F(T),
      entAll = new F(T);
    for (let r0 = 0; r0 < T; r0 += R) {
      const rows = Math.min(R, T - r0);
      this.headChunk(P, r0, rows);
      K.logsoftmaxStats(P.Z, rows, V, P.tgt, r0, P.gLp, P.lp, P.ent); // gLp used as lse scratch
      P.lse.data.set(P.gLp.data.subarray(0, rows), r0);
      lpAll.set(P.lp.data.subarray(0, rows), r0);
      entAll.set(P.ent.data.subarray(0, rows), r0);
    }
    this.headCached = T <= R;
    // keep entropy per row for backward
    P.ent.data.set(entAll.subarray(0, T));
    let values: Float32Array | null = null;
    if (m.valueW && m.valueB) {
      values = new F(T);
      const xf = P.xf.data,
        w = m.valueW.w.data,
        bias = m.valueB.w.data[0];
      for (let t = 0; t < T; t++) {
        let s = bias;
        for (let j = 0; j < D; j++) s += xf[t * D + j] * w[j];
        values[t] = s;
      }
    }
    for (let s = 0; s < seqs.length; s++) {
      const b = this.starts[s],
        n = this.lens[s];
      out.logprobs.push(lpAll.slice(b, b + n));
      out.entropy.push(entAll.slice(b, b + n));
      if (values) out.values!.push(values.slice(b, b + n));
    }
    this.hasForward = keep;
    return out;
  }

  /** logits chunk Z[rows, V] = xf[r0..r0+rows] · Wlmᵀ */
  private headChunk(P: Plan, r0: number, rows: number): void {
    const m = this.model;
    const D = m.config.hiddenSize,
      V = m.config.vocabSize;
    m.kernels.gemm(false, true, rows, V, D, 1, P.xf, r0 * D, D, m.lmHead.w, 0, D, 0, P.Z, 0, V);
    m.lora?.forward(-1, 'lm_head', P.xf, r0 * D, rows, P.Z, 0, r0, this.T);
  }

  /** Pb[po..] as [Ls, Ls] = causal softmax(scale · q·kᵀ) of one (sequence, head); zeros above the diagonal. */
  private scores(
    K: LaneKernels,
    Pb: Buf,
    po: number,
    q: Buf,
    qo: number,
    k: Buf,
    ko: number,
    Ls: number,
    scale: number,
  ): void {
    const c = this.model.config;
    const QD = c.numHeads * c.headDim,
      KD = c.numKvHeads * c.headDim;
    K.gemmTri(1, 0, false, true, Ls, Ls, c.headDim, scale, q, qo, QD, k, ko, KD, 0, Pb, po, Ls);
    K.causalSoftmax(Pb, po, Ls, Ls, Ls, 0);
  }

  private layerForward(l: number, P: Plan, xNext: Buf): void {
    const m = this.model;
    const c = m.config;
    const K = m.kernels;
    const T = this.T;
    const { D, hd, Hq, Hkv, I, QD, KD } = shapeNames(c);
    const W = m.layers[l];
    const a = P.layers[l];
    // h1 = rmsnorm(x)
    K.rmsnorm(a.xIn, W.ln1.w, a.h1, a.inv1, T, D, c.rmsNormEps);
    // q,k,v = h1·Wᵀ + b ; RoPE on q,k
    linear(m, a.h1, T, D, W.wq, W.bq, a.q, QD);
    linear(m, a.h1, T, D, W.wk, W.bk, a.k, KD);
    linear(m, a.h1, T, D, W.wv, W.bv, a.v, KD);
    const lora = m.lora;
    lora?.forward(l, 'q_proj', a.h1, 0, T, a.q, 0);
    lora?.forward(l, 'k_proj', a.h1, 0, T, a.k, 0);
    lora?.forward(l, 'v_proj', a.h1, 0, T, a.v, 0);
    this.rope.apply(a.q, 0, T, QD, Hq, this.pos!, 0, false);
    this.rope.apply(a.k, 0, T, KD, Hkv, this.pos!, 0, false);
    // att = softmax(q·kᵀ/√hd, causal per sequence)·v, the (sequence, KV head) pieces spread over lanes
    const scale = 1 / Math.sqrt(hd);
    const rep = Hq / Hkv;
    const pieces = this.attentionLanes();
    for (let u = 0; u < pieces.seq.length; u++) {
      const s = pieces.seq[u],
        g = pieces.group[u],
        t = pieces.lane[u];
      const Kl = K.lane(t);
      const s0 = this.starts[s],
        Ls = this.lens[s];
      for (let h = g * rep; h < (g + 1) * rep; h++) {
        const qo = s0 * QD + h * hd,
          ko = s0 * KD + g * hd;
        const [Pb, po] = this.probsAt(P, l, s, h, t);
        // Causal GEMMs (gemmTri) skip the register tiles above the diagonal: one call per
        // (sequence, head) instead of row blocks that each repack K and V.
        this.scores(Kl, Pb, po, a.q, qo, a.k, ko, Ls, scale); // P[Ls,Ls] = causal softmax(q·kᵀ·scale)
        Kl.gemmTri(2, 0, false, false, Ls, hd, Ls, 1, Pb, po, Ls, a.v, ko, KD, 0, a.att, qo, QD); // P·V
      }
    }
    K.sync();
    // xMid = x + att·Woᵀ
    a.xMid.data.set(a.xIn.data.subarray(0, T * D));
    K.gemm(false, true, T, D, QD, 1, a.att, 0, QD, W.wo.w, 0, QD, 1, a.xMid, 0, D);
    lora?.forward(l, 'o_proj', a.att, 0, T, a.xMid, 0);
    // MLP: h2 = rmsnorm(xMid); a = silu(h2·Wgᵀ)·(h2·Wuᵀ); xNext = xMid + a·Wdᵀ
    K.rmsnorm(a.xMid, W.ln2.w, a.h2, a.inv2, T, D, c.rmsNormEps);
    K.gemm(false, true, T, I, D, 1, a.h2, 0, D, W.wg.w, 0, D, 0, a.g, 0, I);
    K.gemm(false, true, T, I, D, 1, a.h2, 0, D, W.wu.w, 0, D, 0, a.u, 0, I);
    lora?.forward(l, 'gate_proj', a.h2, 0, T, a.g, 0);
    lora?.forward(l, 'up_proj', a.h2, 0, T, a.u, 0);
    K.swiglu(a.g, a.u, a.a, T * I);
    xNext.data.set(a.xMid.data.subarray(0, T * D));
    K.gemm(false, true, T, D, I, 1, a.a, 0, I, W.wd.w, 0, I, 1, xNext, 0, D);
    lora?.forward(l, 'down_proj', a.a, 0, T, xNext, 0);
  }

  /** Accumulates parameter gradients of L given ∂L/∂outputs of the last forward(keep = true). */
  backward(grads: PassGrads): void {
    if (!this.hasForward) throw new Error('backward() needs a preceding forward(…, keep = true)');
    this.hasForward = false;
    const m = this.model;
    const T = this.T;
    if (T === 0) return;
    m.ensureGrads();
    const c = m.config;
    const K = m.kernels;
    const P = this.plan!;
    const D = c.hiddenSize,
      V = c.vocabSize;
    // Gather per-token upstream gradients.
    const F = floatArrayOf(P.lp);
    const gLpAll = new F(T),
      gEntAll = new F(T),
      gVal = new F(T);
    let anyEnt = false,
      anyVal = false;
    for (let s = 0; s < this.starts.length; s++) {
      const b = this.starts[s],
        n = this.lens[s];
      const chk = (arr: Float32Array | null | undefined, what: string, dst: Float32Array): boolean => {
        if (!arr) return false;
        if (arr.length !== n)
          throw new Error(`sequence ${s}: ${what} has length ${arr.length}, expected ${n}`);
        dst.set(arr, b);
        return true;
      };
      chk(grads.dLogprobs[s], 'dLogprobs', gLpAll);
      if (chk(grads.dEntropy?.[s], 'dEntropy', gEntAll)) anyEnt = true;
      if (chk(grads.dValues?.[s], 'dValues', gVal)) anyVal = true;
    }
    if (anyVal && !m.valueW) throw new Error('dValues given but the model has no value head');
    // Head backward → dxf
    const entAll = P.ent.data.slice(0, T);
    const R = P.rowsPerChunk;
    const gW = m.lmHead.g; // null when frozen (LoRA)
    for (let r0 = 0; r0 < T; r0 += R) {
      const rows = Math.min(R, T - r0);
      if (!this.headCached) this.headChunk(P, r0, rows);
      P.gLp.data.set(gLpAll.subarray(r0, r0 + rows));
      if (anyEnt) P.gEnt.data.set(gEntAll.subarray(r0, r0 + rows));
      else P.gEnt.data.fill(0, 0, rows);
      // lse/ent for this chunk live in P.lse[r0..], P.ent[r0..]: copy into chunk-local slots.
      P.lp.data.set(P.lse.data.subarray(r0, r0 + rows));
      P.dx.data.set(entAll.subarray(r0, r0 + rows)); // dx is free scratch here
      K.logsoftmaxBackward(P.Z, rows, V, P.tgt, r0, P.lp, P.dx, P.gLp, P.gEnt);
      K.gemm(false, false, rows, D, V, 1, P.Z, 0, V, m.lmHead.w, 0, D, 0, P.dxf, r0 * D, D);
      if (gW) K.gemm(true, false, V, D, rows, 1, P.Z, 0, V, P.xf, r0 * D, D, 1, gW, 0, D);
      m.lora?.backward(-1, 'lm_head', P.xf, r0 * D, rows, P.Z, 0, P.dxf, r0 * D, r0);
    }
    if (anyVal && m.valueW && m.valueB) {
      const xf = P.xf.data,
        dxf = P.dxf.data,
        w = m.valueW.w.data;
      const gw = m.valueW.g!.data,
        gb = m.valueB.g!.data;
      for (let t = 0; t < T; t++) {
        const dv = gVal[t];
        if (dv === 0) continue;
        gb[0] += dv;
        for (let j = 0; j < D; j++) {
          dxf[t * D + j] += dv * w[j];
          gw[j] += dv * xf[t * D + j];
        }
      }
    }
    // Final norm backward → dx = ∂L/∂xOut
    // A frozen norm's gain gradient goes to scratch (da is free here) and is discarded.
    K.rmsnormBackward(P.xOut, m.norm.w, P.invF, P.dxf, P.dx, m.norm.g ?? P.da, T, D, false);
    for (let l = c.numLayers - 1; l >= 0; l--) this.layerBackward(l, P);
    // Embedding backward
    if (!m.embed.g) return;
    const gE = m.embed.g.data,
      dx = P.dx.data;
    for (let t = 0; t < T; t++) {
      const o = this.tokens[t] * D;
      for (let j = 0; j < D; j++) gE[o + j] += dx[t * D + j];
    }
  }

  /** P.dx: ∂L/∂(layer output) in, ∂L/∂(layer input) out. */
  private layerBackward(l: number, P: Plan): void {
    const m = this.model;
    const c = m.config;
    const K = m.kernels;
    const T = this.T;
    const { D, hd, Hq, Hkv, I, QD, KD } = shapeNames(c);
    const W = m.layers[l];
    const a = P.layers[l];
    // MLP: out = xMid + a·Wdᵀ
    const lora = m.lora; // adapters add their input gradients after the base ones (./lora.ts)
    K.gemm(false, false, T, I, D, 1, P.dx, 0, D, W.wd.w, 0, I, 0, P.da, 0, I); // da = dx·Wd
    if (W.wd.g) K.gemm(true, false, D, I, T, 1, P.dx, 0, D, a.a, 0, I, 1, W.wd.g, 0, I); // gWd += dxᵀ·a
    lora?.backward(l, 'down_proj', a.a, 0, T, P.dx, 0, P.da, 0);
    K.swigluBackward(a.g, a.u, P.da, P.dg, P.du, T * I);
    K.gemm(false, false, T, D, I, 1, P.dg, 0, I, W.wg.w, 0, D, 0, P.dh, 0, D); // dh = dg·Wg + du·Wu
    K.gemm(false, false, T, D, I, 1, P.du, 0, I, W.wu.w, 0, D, 1, P.dh, 0, D);
    if (W.wg.g) K.gemm(true, false, I, D, T, 1, P.dg, 0, I, a.h2, 0, D, 1, W.wg.g, 0, D);
    if (W.wu.g) K.gemm(true, false, I, D, T, 1, P.du, 0, I, a.h2, 0, D, 1, W.wu.g, 0, D);
    lora?.backward(l, 'gate_proj', a.h2, 0, T, P.dg, 0, P.dh, 0);
    lora?.backward(l, 'up_proj', a.h2, 0, T, P.du, 0, P.dh, 0);
    // dx = ∂L/∂xMid (a frozen gain's gradient goes to scratch da and is discarded)
    K.rmsnormBackward(a.xMid, W.ln2.w, a.inv2, P.dh, P.dx, W.ln2.g ?? P.da, T, D, true);
    // Attention: xMid = xIn + att·Woᵀ
    K.gemm(false, false, T, QD, D, 1, P.dx, 0, D, W.wo.w, 0, QD, 0, P.datt, 0, QD);
    if (W.wo.g) K.gemm(true, false, D, QD, T, 1, P.dx, 0, D, a.att, 0, QD, 1, W.wo.g, 0, QD);
    lora?.backward(l, 'o_proj', a.att, 0, T, P.dx, 0, P.datt, 0);
    P.dk.data.fill(0, 0, T * KD);
    P.dv.data.fill(0, 0, T * KD);
    const scale = 1 / Math.sqrt(hd);
    const rep = Hq / Hkv;
    const pieces = this.attentionLanes();
    for (let u = 0; u < pieces.seq.length; u++) {
      const s = pieces.seq[u],
        g = pieces.group[u],
        t = pieces.lane[u];
      const Kl = K.lane(t);
      const s0 = this.starts[s],
        Ls = this.lens[s];
      const dPo = t * P.lcap * P.lcap; // this lane's dP scratch
      for (let h = g * rep; h < (g + 1) * rep; h++) {
        const qo = s0 * QD + h * hd,
          ko = s0 * KD + g * hd;
        const [Pb, po] = this.probsAt(P, l, s, h, t);
        // Recompute P when the probabilities were not kept (too large).
        if (!this.probsKept) this.scores(Kl, Pb, po, a.q, qo, a.k, ko, Ls, scale);
        // dP[Ls,Ls] = dO·Vᵀ (lower triangle; above it finite values that meet P = 0)
        Kl.gemmTri(1, 0, false, true, Ls, Ls, hd, 1, P.datt, qo, QD, a.v, ko, KD, 0, P.dP, dPo, Ls);
        // dV += Pᵀ·dO (P lower-triangular: key row j sums over queries i ≥ j)
        Kl.gemmTri(3, 0, true, false, Ls, hd, Ls, 1, Pb, po, Ls, P.datt, qo, QD, 1, P.dv, ko, KD);
        Kl.softmaxBackward(Pb, po, P.dP, dPo, Ls, Ls, Ls, scale); // dS (scaled, lower-triangular), in dP
        Kl.gemmTri(2, 0, false, false, Ls, hd, Ls, 1, P.dP, dPo, Ls, a.k, ko, KD, 0, P.dq, qo, QD); // dQ = dS·K
        Kl.gemmTri(3, 0, true, false, Ls, hd, Ls, 1, P.dP, dPo, Ls, a.q, qo, QD, 1, P.dk, ko, KD); // dK += dSᵀ·Q
      }
    }
    K.sync();
    this.rope.apply(P.dq, 0, T, QD, Hq, this.pos!, 0, true);
    this.rope.apply(P.dk, 0, T, KD, Hkv, this.pos!, 0, true);
    linearBackward(m, P.ones, a.h1, T, D, W.wq, W.bq, P.dq, QD, P.dh, false);
    linearBackward(m, P.ones, a.h1, T, D, W.wk, W.bk, P.dk, KD, P.dh, true);
    linearBackward(m, P.ones, a.h1, T, D, W.wv, W.bv, P.dv, KD, P.dh, true);
    lora?.backward(l, 'q_proj', a.h1, 0, T, P.dq, 0, P.dh, 0);
    lora?.backward(l, 'k_proj', a.h1, 0, T, P.dk, 0, P.dh, 0);
    lora?.backward(l, 'v_proj', a.h1, 0, T, P.dv, 0, P.dh, 0);
    K.rmsnormBackward(a.xIn, W.ln1.w, a.inv1, P.dh, P.dx, W.ln1.g ?? P.da, T, D, true); // dx = ∂L/∂xIn
  }
}

/** y[T,out] = x[T,in]·Wᵀ (+ b) */
export function linear(
  m: Model,
  x: Buf,
  T: number,
  nIn: number,
  W: Param,
  b: Param | null,
  y: Buf,
  nOut: number,
): void {
  if (b) {
    // Rows start as the bias; the GEMM accumulates onto them.
    const yd = y.data,
      bd = b.w.data;
    for (let t = 0; t < T; t++) yd.set(bd, t * nOut);
  }
  m.kernels.gemm(false, true, T, nOut, nIn, 1, x, 0, nIn, W.w, 0, nIn, b ? 1 : 0, y, 0, nOut);
}

/** dx (+)= dy·W ; gW += dyᵀ·x ; gb += Σ_t dy */
function linearBackward(
  m: Model,
  ones: Buf,
  x: Buf,
  T: number,
  nIn: number,
  W: Param,
  b: Param | null,
  dy: Buf,
  nOut: number,
  dx: Buf,
  accumulate: boolean,
): void {
  const K = m.kernels;
  K.gemm(false, false, T, nIn, nOut, 1, dy, 0, nOut, W.w, 0, nIn, accumulate ? 1 : 0, dx, 0, nIn);
  if (W.g) K.gemm(true, false, nOut, nIn, T, 1, dy, 0, nOut, x, 0, nIn, 1, W.g, 0, nIn);
  if (b?.g) K.gemm(false, false, 1, nOut, T, 1, ones, 0, T, dy, 0, nOut, 1, b.g, 0, nOut);
}

/** The array constructor behind a buffer (Float32Array, or Float64Array on the reference path). */
function floatArrayOf(b: Buf): Float32ArrayConstructor {
  return b.data.constructor as Float32ArrayConstructor;
}

function roundUp(n: number): number {
  // next multiple of 64 above n (plans are reused for nearby shapes)
  return Math.ceil(n / 64) * 64;
}
