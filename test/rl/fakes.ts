// Test doubles for the RL layer: a word-level tokenizer, a scripted sampler and retriever for
// rollout scenarios, and a small tabular policy implementing the full Trainer seam with exact
// gradients (logits at position p = W[token_p] + b, a bigram softmax; optional value head).
import { mulberry32 } from '../../src/core/rng.ts';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdamWParams, Datum, ForwardOutput, LossSpec, Metrics, Trainer } from '../../src/core/trainer.ts';
import type { Completion, SampleRequest, Sampler } from '../../src/core/sampler.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';
import type { ChatMessage } from '../../src/core/tokenizer.ts';
import type { Hit, Retriever } from '../../src/core/retriever.ts';

const PIECE_RE = /<\/?[a-z]+>|[A-Za-z0-9]+|\s|[^\sA-Za-z0-9]/g;

/** Open-vocabulary word tokenizer: tags, words, single whitespace and punctuation chars. Lossless. */
export class WordTokenizer implements Tokenizer {
  private readonly ids = new Map<string, number>();
  private readonly pieces: string[] = [];
  readonly eosTokenIds: readonly number[];
  private frozen = false;
  private cap: number;
  constructor(vocabSize = 4096, preload: string[] = []) {
    this.cap = vocabSize;
    this.piece('<eos>');
    this.eosTokenIds = [0];
    for (const t of preload) this.encode(t);
  }
  get vocabSize(): number {
    return this.cap;
  }
  /** Fixes the vocabulary at what has been seen: vocabSize = size, unknown pieces throw. */
  freeze(): this {
    this.frozen = true;
    this.cap = this.pieces.length;
    return this;
  }
  private piece(p: string): number {
    let id = this.ids.get(p);
    if (id === undefined) {
      if (this.frozen) throw new Error(`WordTokenizer: ${JSON.stringify(p)} is not in the frozen vocabulary`);
      id = this.pieces.length;
      if (id >= this.vocabSize)
        throw new Error(`WordTokenizer: vocabulary full (${this.vocabSize}) at ${JSON.stringify(p)}`);
      this.ids.set(p, id);
      this.pieces.push(p);
    }
    return id;
  }
  encode(text: string): number[] {
    return (text.match(PIECE_RE) ?? []).map((p) => this.piece(p));
  }
  decode(ids: readonly number[]): string {
    return ids.map((i) => (i === 0 ? '' : (this.pieces[i] ?? ''))).join('');
  }
  get size(): number {
    return this.pieces.length;
  }
  applyChatTemplate(_messages: ChatMessage[]): string | null {
    return null;
  }
}

/** Cuts a generated token list at the first stop string, as the Sampler seam specifies. */
function applyStops(
  tok: Tokenizer,
  tokens: number[],
  stop: string[],
): { tokens: number[]; text: string; stopString?: string } {
  let text = '';
  for (let k = 0; k < tokens.length; k++) {
    text = tok.decode(tokens.slice(0, k + 1));
    for (const s of stop) {
      const at = text.indexOf(s);
      if (at >= 0)
        return { tokens: tokens.slice(0, k + 1), text: text.slice(0, at + s.length), stopString: s };
    }
  }
  return { tokens, text };
}

/** A sampler whose turns come from a script: script(contextText, turnIndexOfThisSequence) → text. */
export class ScriptedSampler implements Sampler {
  readonly calls: SampleRequest[] = [];
  constructor(
    readonly tokenizer: WordTokenizer,
    private readonly script: (context: string, sampleIndex: number) => string | { text: string; eos: true },
  ) {}
  async sample(req: SampleRequest): Promise<Completion[][]> {
    this.calls.push(req);
    return req.prompts.map((p) =>
      Array.from({ length: req.n ?? 1 }, (_, j) => {
        const out = this.script(this.tokenizer.decode(p), j);
        const eos = typeof out !== 'string';
        const text = typeof out === 'string' ? out : out.text;
        let tokens = this.tokenizer.encode(text);
        if (eos) tokens.push(this.tokenizer.eosTokenIds[0]);
        const cut = applyStops(this.tokenizer, tokens, req.stop);
        let finish: Completion['finish'] = cut.stopString ? 'stop' : eos ? 'eos' : 'length';
        tokens = cut.tokens;
        let outText = cut.text;
        if (tokens.length > req.maxTokens) {
          tokens = tokens.slice(0, req.maxTokens);
          outText = this.tokenizer.decode(tokens);
          finish = 'length';
        }
        return {
          tokens,
          logprobs: tokens.map(() => -0.5),
          finish,
          text: outText,
          stopString: finish === 'stop' ? cut.stopString : undefined,
        };
      }),
    );
  }
}

/** A retriever over a fixed query → passages table (unknown queries get the fallback hits). */
export class ScriptedRetriever implements Retriever {
  readonly calls: string[][] = [];
  constructor(
    private readonly table: Record<string, Hit[]>,
    private readonly fallback: Hit[] = [],
  ) {}
  async search(queries: string[], topk: number): Promise<Hit[][]> {
    this.calls.push(queries.slice());
    return queries.map((q) => (this.table[q] ?? this.fallback).slice(0, topk));
  }
}

/** Keyword retriever over a small corpus: score = number of query words in the passage. */
export class KeywordRetriever implements Retriever {
  readonly calls: string[][] = [];
  constructor(
    private readonly passages: { id: string; title: string; text: string }[],
    /** Match query words against titles only (an entity lookup). */
    private readonly titlesOnly = false,
  ) {}
  async search(queries: string[], topk: number): Promise<Hit[][]> {
    this.calls.push(queries.slice());
    return queries.map((q) => {
      const words = q.toLowerCase().split(/\W+/).filter(Boolean);
      return this.passages
        .map((p) => ({
          ...p,
          score: words.filter((w) =>
            (this.titlesOnly ? p.title : p.title + ' ' + p.text).toLowerCase().split(/\W+/).includes(w),
          ).length,
        }))
        .filter((h) => h.score > 0)
        .sort((a, b) => b.score - a.score || a.id.localeCompare(b.id))
        .slice(0, topk);
    });
  }
}

function f32ToB64(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
}
function b64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export interface TabularOptions {
  /** Add a value head V[token] (a critic). */
  valueHead?: boolean;
  /** Initial logit scale of W (seeded). */
  initScale?: number;
  seed?: number;
  /** Testing hook: return NaN from forward for these calls of forwardBackward (0-based count). */
  nanOnForwardBackwardCalls?: Set<number>;
}

/**
 * A bigram softmax policy: logits(p) = W[input_p] + b over a vocabulary of V tokens. Implements
 * every Trainer method exactly (forward, custom-loss backward, AdamW, save/load with optimiser).
 */
export class TabularPolicy implements Trainer {
  readonly V: number;
  W: Float32Array; // [V, V]
  b: Float32Array; // [V]
  vh: Float32Array; // [V] value head
  private gW: Float32Array;
  private gB: Float32Array;
  private gV: Float32Array;
  private mW: Float32Array;
  private vW: Float32Array;
  private mB: Float32Array;
  private vB: Float32Array;
  private mV: Float32Array;
  private vV: Float32Array;
  private adamStep = 0;
  forwardBackwardCalls = 0;
  readonly valueHead: boolean;
  constructor(
    readonly tokenizer: Tokenizer,
    private readonly opts: TabularOptions = {},
  ) {
    const V = tokenizer.vocabSize;
    this.V = V;
    this.valueHead = opts.valueHead ?? false;
    const r = mulberry32(opts.seed ?? 1);
    const scale = opts.initScale ?? 0;
    this.W = Float32Array.from({ length: V * V }, () => (r() - 0.5) * 2 * scale);
    this.b = new Float32Array(V);
    this.vh = new Float32Array(V);
    this.gW = new Float32Array(V * V);
    this.gB = new Float32Array(V);
    this.gV = new Float32Array(V);
    this.mW = new Float32Array(V * V);
    this.vW = new Float32Array(V * V);
    this.mB = new Float32Array(V);
    this.vB = new Float32Array(V);
    this.mV = new Float32Array(V);
    this.vV = new Float32Array(V);
  }

  /** Probabilities after token `prev` (temperature 1). */
  private probs(prev: number): Float64Array {
    const V = this.V;
    const p = new Float64Array(V);
    let m = -Infinity;
    for (let j = 0; j < V; j++) m = Math.max(m, this.W[prev * V + j] + this.b[j]);
    let s = 0;
    for (let j = 0; j < V; j++) {
      p[j] = Math.exp(this.W[prev * V + j] + this.b[j] - m);
      s += p[j];
    }
    for (let j = 0; j < V; j++) p[j] /= s;
    return p;
  }

  async sample(req: SampleRequest): Promise<Completion[][]> {
    const n = req.n ?? 1;
    return req.prompts.map((prompt, i) =>
      Array.from({ length: n }, (_, j) => {
        const r = mulberry32(
          ((req.seed ?? 0) ^ Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca6b)) >>> 0,
        );
        const tokens: number[] = [];
        const logprobs: number[] = [];
        let prev = prompt[prompt.length - 1];
        let finish: Completion['finish'] = 'length';
        let text = '';
        let stopString: string | undefined;
        while (tokens.length < req.maxTokens) {
          const p = this.probs(prev);
          let next = 0;
          if (req.temperature <= 0) {
            for (let k = 1; k < this.V; k++) if (p[k] > p[next]) next = k;
          } else {
            // temperature: p^(1/T) renormalised
            const q = p.map((x) => Math.pow(x, 1 / req.temperature));
            const s = q.reduce((a, c) => a + c, 0);
            let u = r() * s;
            next = this.V - 1;
            for (let k = 0; k < this.V; k++) {
              u -= q[k];
              if (u <= 0) {
                next = k;
                break;
              }
            }
          }
          tokens.push(next);
          logprobs.push(Math.log(p[next]));
          prev = next;
          if (this.tokenizer.eosTokenIds.includes(next)) {
            finish = 'eos';
            break;
          }
          text = this.tokenizer.decode(tokens);
          const hit = req.stop.find((s) => text.includes(s));
          if (hit) {
            finish = 'stop';
            stopString = hit;
            text = text.slice(0, text.indexOf(hit) + hit.length);
            break;
          }
        }
        if (finish !== 'stop') text = this.tokenizer.decode(tokens);
        return { tokens, logprobs, finish, text, stopString };
      }),
    );
  }

  async forward(batch: Datum[], opts: { entropy?: boolean } = {}): Promise<ForwardOutput[]> {
    return batch.map((d) => {
      const N = d.inputTokens.length;
      const logprobs = new Float32Array(N);
      const entropy = opts.entropy ? new Float32Array(N) : undefined;
      const values = this.valueHead ? new Float32Array(N) : undefined;
      for (let p = 0; p < N; p++) {
        const pr = this.probs(d.inputTokens[p]);
        logprobs[p] = Math.log(pr[d.targetTokens[p]]);
        if (entropy) {
          let h = 0;
          for (const x of pr) if (x > 0) h -= x * Math.log(x);
          entropy[p] = h;
        }
        if (values) values[p] = this.vh[d.inputTokens[p]];
      }
      return { logprobs, entropy, values };
    });
  }

  async forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics> {
    if (loss.type !== 'custom')
      throw new Error(`TabularPolicy supports custom losses only, got ${loss.type}`);
    const call = this.forwardBackwardCalls++;
    const outs = await this.forward(batch, { entropy: loss.needsEntropy });
    if (this.opts.nanOnForwardBackwardCalls?.has(call)) outs[0].logprobs[outs[0].logprobs.length - 1] = NaN;
    const g = loss.fn(outs, batch);
    const V = this.V;
    batch.forEach((d, i) => {
      for (let p = 0; p < d.inputTokens.length; p++) {
        const dl = g.dLogprobs[i][p];
        const de = g.dEntropy?.[i]?.[p] ?? 0;
        const dv = g.dValues?.[i]?.[p] ?? 0;
        if (dv !== 0) this.gV[d.inputTokens[p]] += dv;
        if (dl === 0 && de === 0) continue;
        const prev = d.inputTokens[p];
        const pr = this.probs(prev);
        let H = 0;
        for (const x of pr) if (x > 0) H -= x * Math.log(x);
        for (let j = 0; j < V; j++) {
          // ∂logp_target/∂z_j = 1[j=target] − p_j;  ∂H/∂z_j = −p_j (log p_j + H)
          const lp = pr[j] > 0 ? Math.log(pr[j]) : 0;
          const dz = dl * ((j === d.targetTokens[p] ? 1 : 0) - pr[j]) + de * -pr[j] * (lp + H);
          this.gW[prev * V + j] += dz;
          this.gB[j] += dz;
        }
      }
    });
    return { loss: g.loss, ...(g.metrics ?? {}) };
  }

  async optimStep(o: AdamWParams): Promise<Metrics> {
    let sq = 0;
    for (const g of [this.gW, this.gB, this.gV]) for (let k = 0; k < g.length; k++) sq += g[k] * g[k];
    const norm = Math.sqrt(sq);
    if (!Number.isFinite(norm)) {
      for (const g of [this.gW, this.gB, this.gV]) g.fill(0);
      return { grad_norm: norm };
    }
    const scale = o.gradClipNorm > 0 && norm > o.gradClipNorm ? o.gradClipNorm / norm : 1;
    this.adamStep++;
    const bc1 = 1 - Math.pow(o.beta1, this.adamStep);
    const bc2 = 1 - Math.pow(o.beta2, this.adamStep);
    const upd = (w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array) => {
      for (let k = 0; k < w.length; k++) {
        const gk = g[k] * scale;
        m[k] = o.beta1 * m[k] + (1 - o.beta1) * gk;
        v[k] = o.beta2 * v[k] + (1 - o.beta2) * gk * gk;
        w[k] -= o.learningRate * (m[k] / bc1 / (Math.sqrt(v[k] / bc2) + o.eps) + o.weightDecay * w[k]);
        g[k] = 0;
      }
    };
    upd(this.W, this.gW, this.mW, this.vW);
    upd(this.b, this.gB, this.mB, this.vB);
    upd(this.vh, this.gV, this.mV, this.vV);
    return { grad_norm: norm };
  }

  async saveWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    mkdirSync(dir, { recursive: true });
    const state: Record<string, unknown> = {
      W: f32ToB64(this.W),
      b: f32ToB64(this.b),
      vh: f32ToB64(this.vh),
    };
    if (opts.optimizer) {
      Object.assign(state, {
        adamStep: this.adamStep,
        mW: f32ToB64(this.mW),
        vW: f32ToB64(this.vW),
        mB: f32ToB64(this.mB),
        vB: f32ToB64(this.vB),
        mV: f32ToB64(this.mV),
        vV: f32ToB64(this.vV),
      });
    }
    writeFileSync(join(dir, 'tabular.json'), JSON.stringify(state));
  }

  async loadWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    const s = JSON.parse(readFileSync(join(dir, 'tabular.json'), 'utf8')) as Record<string, string & number>;
    this.W = b64ToF32(s.W);
    this.b = b64ToF32(s.b);
    this.vh = b64ToF32(s.vh);
    if (opts.optimizer) {
      if (s.mW === undefined) throw new Error(`${dir}: no optimizer state saved`);
      this.adamStep = s.adamStep;
      this.mW = b64ToF32(s.mW);
      this.vW = b64ToF32(s.vW);
      this.mB = b64ToF32(s.mB);
      this.vB = b64ToF32(s.vB);
      this.mV = b64ToF32(s.mV);
      this.vV = b64ToF32(s.vV);
    }
  }
}
