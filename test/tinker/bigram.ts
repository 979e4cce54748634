// Test double: a bigram softmax policy (logits at position t = W[input_t]) implementing the full
// Trainer seam with exact gradients, written independently of the server's loss code so the
// in-process run and the served run share nothing but this model. Used until (and besides) the
// embedded engine.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AdamWParams, Datum, ForwardOutput, LossSpec, Metrics, Trainer } from '../../src/core/trainer.ts';
import type { Completion, SampleRequest } from '../../src/core/sampler.ts';
import type { Tokenizer } from '../../src/core/tokenizer.ts';

const CHARS = 'abcdefghij <>/?';
/** Char-level tokenizer: id 0 is EOS, then one id per char of CHARS. */
export class CharTokenizer implements Tokenizer {
  readonly eosTokenIds = [0];
  readonly vocabSize = CHARS.length + 1;
  encode(text: string): number[] {
    return [...text].map((c) => {
      const i = CHARS.indexOf(c);
      if (i < 0) throw new Error(`CharTokenizer: no token for ${JSON.stringify(c)}`);
      return i + 1;
    });
  }
  decode(ids: readonly number[]): string {
    return ids.map((i) => (i === 0 ? '' : (CHARS[i - 1] ?? ''))).join('');
  }
  applyChatTemplate(): string | null {
    return null;
  }
}

/** mulberry32: a tiny seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function logSoftmax(row: Float32Array | Float64Array, temperature = 1): Float64Array {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x / temperature);
  let sum = 0;
  for (const x of row) sum += Math.exp(x / temperature - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (x) => x / temperature - lse);
}

export class BigramTrainer implements Trainer {
  readonly tokenizer = new CharTokenizer();
  readonly V: number;
  W: Float32Array;
  grad: Float32Array;
  private m: Float32Array;
  private v: Float32Array;
  private step = 0;
  private chain: Promise<unknown> = Promise.resolve();
  /** Counts of calls, for assertions. */
  readonly calls = { forward: 0, forwardBackward: 0, optimStep: 0, sample: 0 };

  constructor(initSeed = 1) {
    this.V = this.tokenizer.vocabSize;
    const r = rng(initSeed);
    this.W = Float32Array.from({ length: this.V * this.V }, () => (r() - 0.5) * 0.5);
    this.grad = new Float32Array(this.W.length);
    this.m = new Float32Array(this.W.length);
    this.v = new Float32Array(this.W.length);
  }

  /** Serialises calls, so callers may pipeline without awaiting (like a remote server). */
  private serial<T>(job: () => T | Promise<T>): Promise<T> {
    const p = this.chain.then(job);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private row(token: number): Float32Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.V)
      throw new Error(`token ${token} out of range`);
    return this.W.subarray(token * this.V, (token + 1) * this.V);
  }

  private forwardOne(d: Datum, entropy: boolean): ForwardOutput & { lsm: Float64Array[] } {
    const N = d.inputTokens.length;
    const logprobs = new Float32Array(N);
    const ent = new Float32Array(N);
    const lsm: Float64Array[] = [];
    for (let t = 0; t < N; t++) {
      const ls = logSoftmax(this.row(d.inputTokens[t]!));
      lsm.push(ls);
      logprobs[t] = ls[d.targetTokens[t]!]!;
      if (entropy) {
        let h = 0;
        for (const l of ls) h -= Math.exp(l) * l;
        ent[t] = h;
      }
    }
    return entropy ? { logprobs, entropy: ent, lsm } : { logprobs, lsm };
  }

  forward(batch: Datum[], opts: { entropy?: boolean } = {}): Promise<ForwardOutput[]> {
    return this.serial(() => {
      this.calls.forward++;
      return batch.map((d) => {
        const { lsm: _lsm, ...out } = this.forwardOne(d, opts.entropy ?? false);
        return out;
      });
    });
  }

  forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics> {
    return this.serial(() => {
      this.calls.forwardBackward++;
      const needsEntropy = loss.type === 'custom' && (loss.needsEntropy ?? false);
      const fwd = batch.map((d) => this.forwardOne(d, needsEntropy));
      let total = 0;
      let dLogp: ArrayLike<number>[];
      let dEnt: ArrayLike<number>[] | undefined;
      if (loss.type === 'custom') {
        const g = loss.fn(
          fwd.map(({ lsm: _lsm, ...o }) => o),
          batch,
        );
        total = g.loss;
        dLogp = g.dLogprobs;
        dEnt = g.dEntropy;
      } else {
        dLogp = batch.map((d, i) => {
          const N = d.inputTokens.length;
          const g = new Float64Array(N);
          for (let t = 0; t < N; t++) {
            const w = d.weights ? d.weights[t]! : 1;
            const p = fwd[i]!.logprobs[t]!;
            if (loss.type === 'cross_entropy') {
              total += -w * p;
              g[t] = -w;
              continue;
            }
            const A = d.advantages![t]!;
            const r = Math.exp(p - d.logprobs![t]!);
            if (loss.type === 'importance_sampling') {
              total += -w * r * A;
              g[t] = -w * r * A;
            } else {
              // LossSpec thresholds (Tinker's convention): ratio clipped to [clipLow, clipHigh].
              const rc = Math.min(Math.max(r, loss.clipLow), loss.clipHigh);
              const l = Math.max(-r * A, -rc * A);
              total += w * l;
              g[t] = -r * A >= -rc * A ? -w * r * A : 0;
            }
          }
          return g;
        });
      }
      // Chain rule through log-softmax: ∂p_t/∂z = onehot(target) − π; ∂H/∂z = −π(log π + H).
      batch.forEach((d, i) => {
        for (let t = 0; t < d.inputTokens.length; t++) {
          const gp = dLogp[i]![t]!;
          const ge = dEnt ? dEnt[i]![t]! : 0;
          if (gp === 0 && ge === 0) continue;
          const ls = fwd[i]!.lsm[t]!;
          const base = d.inputTokens[t]! * this.V;
          let h = 0;
          if (ge !== 0) for (const l of ls) h -= Math.exp(l) * l;
          for (let k = 0; k < this.V; k++) {
            const pi = Math.exp(ls[k]!);
            let dz = gp * ((k === d.targetTokens[t] ? 1 : 0) - pi);
            if (ge !== 0) dz += ge * -pi * (ls[k]! + h);
            this.grad[base + k]! += dz;
          }
        }
      });
      return { 'loss:sum': total };
    });
  }

  optimStep(p: AdamWParams): Promise<Metrics> {
    return this.serial(() => {
      this.calls.optimStep++;
      let sq = 0;
      for (const g of this.grad) sq += g * g;
      const norm = Math.sqrt(sq);
      const scale = p.gradClipNorm > 0 && norm > p.gradClipNorm ? p.gradClipNorm / norm : 1;
      this.step++;
      const bc1 = 1 - p.beta1 ** this.step;
      const bc2 = 1 - p.beta2 ** this.step;
      for (let k = 0; k < this.W.length; k++) {
        const g = this.grad[k]! * scale;
        this.m[k] = p.beta1 * this.m[k]! + (1 - p.beta1) * g;
        this.v[k] = p.beta2 * this.v[k]! + (1 - p.beta2) * g * g;
        const upd = this.m[k]! / bc1 / (Math.sqrt(this.v[k]! / bc2) + p.eps);
        this.W[k] = this.W[k]! - p.learningRate * (upd + p.weightDecay * this.W[k]!);
      }
      this.grad.fill(0);
      return { grad_norm: norm };
    });
  }

  /** Prompt i is sampled from rng(seed + i), samples j drawn one after another from it. */
  sample(req: SampleRequest): Promise<Completion[][]> {
    return this.serial(() => {
      this.calls.sample++;
      const base = req.seed ?? Math.floor(Math.random() * 2 ** 31);
      return req.prompts.map((prompt, i) => {
        const r = rng(base + i);
        return Array.from({ length: req.n ?? 1 }, (): Completion => {
          const tokens: number[] = [];
          const logprobs: number[] = [];
          let last = prompt[prompt.length - 1]!;
          for (let k = 0; k < req.maxTokens; k++) {
            const ls = logSoftmax(this.row(last), req.temperature);
            let u = r();
            let tok = this.V - 1;
            for (let c = 0; c < this.V; c++) {
              u -= Math.exp(ls[c]!);
              if (u <= 0) {
                tok = c;
                break;
              }
            }
            tokens.push(tok);
            logprobs.push(ls[tok]!);
            last = tok;
            if (this.tokenizer.eosTokenIds.includes(tok)) {
              return { tokens, logprobs, finish: 'eos', text: this.tokenizer.decode(tokens) };
            }
            const text = this.tokenizer.decode(tokens);
            const hit = req.stop.find((s) => text.includes(s));
            if (hit !== undefined) {
              return {
                tokens,
                logprobs,
                finish: 'stop',
                text: text.slice(0, text.indexOf(hit) + hit.length),
                stopString: hit,
              };
            }
          }
          return { tokens, logprobs, finish: 'length', text: this.tokenizer.decode(tokens) };
        });
      });
    });
  }

  saveWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      await mkdir(dir, { recursive: true });
      const state = {
        W: Array.from(this.W),
        ...(opts.optimizer !== false
          ? { m: Array.from(this.m), v: Array.from(this.v), step: this.step }
          : {}),
      };
      await writeFile(join(dir, 'bigram.json'), JSON.stringify(state));
    });
  }

  loadWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    return this.serial(async () => {
      const s = JSON.parse(await readFile(join(dir, 'bigram.json'), 'utf8')) as {
        W: number[];
        m?: number[];
        v?: number[];
        step?: number;
      };
      this.W = Float32Array.from(s.W);
      if (opts.optimizer !== false && s.m && s.v) {
        this.m = Float32Array.from(s.m);
        this.v = Float32Array.from(s.v);
        this.step = s.step ?? 0;
      }
    });
  }
}
