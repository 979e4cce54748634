// The decoder-only Qwen2 / Llama model: parameters under Hugging Face tensor names, seeded random
// init, tensor loading with checks, gradient buffers. The compute lives in ./forward.ts (training
// pass, forward + backward over a packed batch) and ./infer.ts (KV-cache inference).
import { validateConfig, parameterShapes, type ModelConfig } from './config.ts';
import { defaultKernels, type Kernels } from './kernels/index.ts';
import type { Buf } from './memory.ts';
import { Rng } from '../core/rng.ts';
import type { LoraAdapters } from './lora.ts';

export interface Param {
  name: string;
  shape: number[];
  size: number;
  w: Buf;
  /** Gradient accumulator (allocated on first backward). */
  g: Buf | null;
  /** Weight decay applies to matrices only (not norms, biases). */
  decay: boolean;
  /** Frozen (LoRA trains adapters only): no gradient buffer, the backward pass skips its gradient. */
  frozen?: boolean;
}

export interface LayerParams {
  ln1: Param;
  wq: Param;
  wk: Param;
  wv: Param;
  bq: Param | null;
  bk: Param | null;
  bv: Param | null;
  wo: Param;
  ln2: Param;
  wg: Param;
  wu: Param;
  wd: Param;
}

export type TensorMap = Map<string, { shape: number[]; data: Float32Array }>;

export interface ModelOptions {
  seed?: number;
  kernels?: Kernels;
  /** Standard deviation of the normal init of matrices (HF initializer_range). */
  initStd?: number;
  /** false: zero-filled parameters (weights are loaded next; random init of 0.5B params takes minutes). */
  init?: boolean;
}

export class Model {
  readonly config: ModelConfig;
  readonly kernels: Kernels;
  readonly params: Param[];
  readonly layers: LayerParams[];
  readonly embed: Param;
  readonly norm: Param;
  /** The LM head matrix [V, D]: `lm_head.weight`, or the embedding when tied. */
  readonly lmHead: Param;
  readonly valueW: Param | null;
  readonly valueB: Param | null;
  /** LoRA adapters the training pass applies (./lora.ts); null = plain model. */
  lora: LoraAdapters | null = null;
  private byName = new Map<string, Param>();
  private disposed = false;
  /**
   * Bumped whenever the weights change through the engine (loadTensors, optimizer steps via
   * `markWeightsChanged`). Caches derived from the weights (prefix K/V) check it. Code that
   * writes into parameter memory directly must call `markWeightsChanged()`.
   */
  weightsVersion = 0;

  markWeightsChanged(): void {
    this.weightsVersion++;
  }

  constructor(config: ModelConfig, opts: ModelOptions = {}) {
    this.config = validateConfig({ ...config });
    this.kernels = opts.kernels ?? defaultKernels();
    const rng = new Rng(opts.seed ?? 0);
    const std = opts.initStd ?? 0.02;
    this.params = parameterShapes(this.config).map(({ name, shape }) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const w = this.kernels.arena.alloc(size);
      const d = w.data;
      if (opts.init === false) d.fill(0);
      else if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') d.fill(1);
      else if (name.endsWith('.bias')) d.fill(0);
      else for (let i = 0; i < size; i++) d[i] = rng.normal() * std;
      const p: Param = { name, shape, size, w, g: null, decay: shape.length >= 2 };
      this.byName.set(name, p);
      return p;
    });
    const P = (n: string) => this.byName.get(n)!;
    const Popt = (n: string) => this.byName.get(n) ?? null;
    this.embed = P('model.embed_tokens.weight');
    this.norm = P('model.norm.weight');
    this.lmHead = this.config.tieWordEmbeddings ? this.embed : P('lm_head.weight');
    this.valueW = Popt('value_head.weight');
    this.valueB = Popt('value_head.bias');
    this.layers = [];
    for (let l = 0; l < this.config.numLayers; l++) {
      const p = `model.layers.${l}.`;
      this.layers.push({
        ln1: P(p + 'input_layernorm.weight'),
        wq: P(p + 'self_attn.q_proj.weight'),
        wk: P(p + 'self_attn.k_proj.weight'),
        wv: P(p + 'self_attn.v_proj.weight'),
        bq: Popt(p + 'self_attn.q_proj.bias'),
        bk: Popt(p + 'self_attn.k_proj.bias'),
        bv: Popt(p + 'self_attn.v_proj.bias'),
        wo: P(p + 'self_attn.o_proj.weight'),
        ln2: P(p + 'post_attention_layernorm.weight'),
        wg: P(p + 'mlp.gate_proj.weight'),
        wu: P(p + 'mlp.up_proj.weight'),
        wd: P(p + 'mlp.down_proj.weight'),
      });
    }
  }

  /** Parameters with live views of their data (views are valid until the next allocation). */
  namedParameters(): { name: string; shape: number[]; data: Float32Array }[] {
    return this.params.map((p) => ({ name: p.name, shape: p.shape.slice(), data: p.w.data }));
  }

  param(name: string): Param {
    const p = this.byName.get(name);
    if (!p) throw new Error(`model has no parameter "${name}"`);
    return p;
  }

  numParameters(): number {
    return this.params.reduce((s, p) => s + p.size, 0);
  }

  /**
   * Copies tensors into the parameters. Every parameter must be present with the right shape
   * (a tied `lm_head.weight` is accepted and ignored; a missing value head keeps its init when
   * `allowMissingValueHead`). Unknown tensors are an error unless `ignoreUnknown`.
   */
  loadTensors(
    map: TensorMap,
    opts: { source?: string; allowMissingValueHead?: boolean; ignoreUnknown?: boolean } = {},
  ): void {
    const src = opts.source ?? 'tensors';
    for (const p of this.params) {
      const t = map.get(p.name);
      if (!t) {
        if (opts.allowMissingValueHead && p.name.startsWith('value_head.')) continue;
        throw new Error(`${src}: missing tensor "${p.name}" (expected shape [${p.shape.join(', ')}])`);
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.shape.length !== p.shape.length || t.shape.some((s, i) => s !== p.shape[i]))
        throw new Error(
          `${src}: tensor "${p.name}" has shape [${t.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      if (t.data.length !== n)
        throw new Error(`${src}: tensor "${p.name}" has ${t.data.length} values, its shape needs ${n}`);
      this.markWeightsChanged(); // also when a later tensor fails: the weights are now mixed
      p.w.data.set(t.data);
    }
    if (!opts.ignoreUnknown)
      for (const name of map.keys()) {
        if (this.byName.has(name)) continue;
        if (name === 'lm_head.weight' && this.config.tieWordEmbeddings) continue;
        if (name.endsWith('rotary_emb.inv_freq')) continue;
        throw new Error(`${src}: unexpected tensor "${name}" for this ${this.config.arch} config`);
      }
  }

  /** Snapshot of all tensors (copies). */
  tensors(): TensorMap {
    const m: TensorMap = new Map();
    for (const p of this.params) m.set(p.name, { shape: p.shape.slice(), data: p.w.data.slice() });
    return m;
  }

  ensureGrads(): void {
    // The arena reuses freed memory, so a new gradient buffer must be zeroed before accumulation.
    for (const p of this.params) {
      if (p.g || p.frozen) continue;
      p.g = this.kernels.arena.alloc(p.size);
      p.g.data.fill(0);
    }
  }

  zeroGrad(): void {
    for (const p of this.params) if (p.g) p.g.data.fill(0);
  }

  /** Frees the engine memory of parameters and gradients. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const p of this.params) {
      this.kernels.arena.free(p.w);
      if (p.g) this.kernels.arena.free(p.g);
    }
    this.lora?.dispose();
  }
}
