// LoRA adapters (Hu et al. 2021, as Hugging Face PEFT implements them; docs/lora.md).
// A projection y = x·Wᵀ becomes y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ with A [r, in], B [out, r], s = α/r.
// W stays frozen; only A and B get gradients and optimiser state. Init as PEFT's default
// (init_lora_weights=True): A ~ kaiming_uniform(a=√5) = U(−1/√in, 1/√in), B = 0, so a fresh
// adapter leaves the model unchanged.
//
// The training pass (./forward.ts) calls `forward` after each targeted projection and `backward`
// after the base gradient of its input; inference (./infer.ts, used for sampling) runs on merged
// weights (`withMerged`), except the unembedding of a tied model, which is applied as a hook
// there too (merging it would change the tied input embedding).
//
// Shapes: T tokens, r rank, in/out the projection's widths.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Model, Param } from './model.ts';
import type { Buf } from './memory.ts';
import { Rng } from '../core/rng.ts';
import { readSafetensors, writeSafetensors } from './io/safetensors.ts';

export const LORA_TARGETS = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
  'lm_head',
] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];
export const ATTN_TARGETS: LoraTarget[] = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
export const MLP_TARGETS: LoraTarget[] = ['gate_proj', 'up_proj', 'down_proj'];

export interface LoraConfig {
  rank: number;
  /** Scale numerator: s = alpha / rank. */
  alpha: number;
  targets: LoraTarget[];
  /** Seed of A's init. */
  seed: number;
}

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** Checks a LoRA config; errors name the field. */
export function checkLoraConfig(c: LoraConfig): LoraConfig {
  if (!Number.isInteger(c.rank) || c.rank < 1)
    throw new Error(`lora rank: must be an integer ≥ 1, got ${c.rank}`);
  if (!Number.isFinite(c.alpha) || c.alpha <= 0) throw new Error(`lora alpha: must be > 0, got ${c.alpha}`);
  if (c.targets.length === 0) throw new Error('lora targets: at least one target module');
  for (const t of c.targets)
    if (!LORA_TARGETS.includes(t))
      throw new Error(
        `lora targets: unknown module ${JSON.stringify(t)} (one of ${LORA_TARGETS.join(', ')})`,
      );
  return { ...c, targets: [...new Set(c.targets)] };
}

/** `--lora-targets attn,mlp,unembed` or module names → target list. */
export function parseLoraTargets(spec: string): LoraTarget[] {
  const out: LoraTarget[] = [];
  for (const s of spec
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    if (s === 'attn') out.push(...ATTN_TARGETS);
    else if (s === 'mlp') out.push(...MLP_TARGETS);
    else if (s === 'unembed') out.push('lm_head');
    else if ((LORA_TARGETS as readonly string[]).includes(s)) out.push(s as LoraTarget);
    else
      throw new Error(
        `--lora-targets: unknown ${JSON.stringify(s)} (attn, mlp, unembed or ${LORA_TARGETS.join(', ')})`,
      );
  }
  return [...new Set(out)];
}

/** backendOptions.lora ({rank, alpha?, targets?: "attn,mlp,…"}) → a LoRA config; errors name the field. */
export function loraFromOptions(o: unknown, seed: number): LoraConfig {
  const x = (o ?? {}) as { rank?: unknown; alpha?: unknown; targets?: unknown };
  if (typeof x.rank !== 'number') throw new Error('backendOptions.lora.rank: a number is required');
  if (x.alpha !== undefined && typeof x.alpha !== 'number')
    throw new Error('backendOptions.lora.alpha: must be a number');
  if (x.targets !== undefined && typeof x.targets !== 'string' && !Array.isArray(x.targets))
    throw new Error('backendOptions.lora.targets: a comma-separated string or a list of modules');
  const targets = Array.isArray(x.targets)
    ? x.targets.join(',')
    : ((x.targets as string | undefined) ?? 'attn,mlp,unembed');
  return checkLoraConfig({
    rank: x.rank,
    alpha: (x.alpha as number | undefined) ?? 32,
    targets: parseLoraTargets(targets),
    seed,
  });
}

interface Adapter {
  /** PEFT module path, e.g. model.layers.0.self_attn.q_proj (lm_head for the unembedding). */
  module: string;
  base: Param;
  A: Param; // [r, in]
  B: Param; // [out, r]
  nIn: number;
  nOut: number;
  /** x·Aᵀ of the last forward, [T, r] (kept for backward). */
  u: Buf | null;
}

function modulePath(layer: number, t: LoraTarget): string {
  if (t === 'lm_head') return 'lm_head';
  const group = ATTN_TARGETS.includes(t) ? 'self_attn' : 'mlp';
  return `model.layers.${layer}.${group}.${t}`;
}

export class LoraAdapters {
  readonly config: LoraConfig;
  readonly scale: number;
  /** Adapter parameters (A, B of every module), named by their PEFT tensor names. */
  readonly params: Param[] = [];
  private readonly byKey = new Map<string, Adapter>();
  private du: Buf | null = null;
  /** Base weights before `merge` (restored exactly by `unmerge`). */
  private backup: Map<Param, Float32Array | Float64Array> | null = null;

  constructor(
    private readonly model: Model,
    config: LoraConfig,
  ) {
    this.config = checkLoraConfig(config);
    const c = model.config;
    if (c.valueHead) throw new Error('lora: a model with a value head (critic) is trained in full');
    this.scale = this.config.alpha / this.config.rank;
    const r = this.config.rank;
    const rng = new Rng(this.config.seed);
    const add = (layer: number, t: LoraTarget, base: Param) => {
      const [nOut, nIn] = base.shape as [number, number];
      const module = modulePath(layer, t);
      const mk = (suffix: string, shape: number[]): Param => {
        const size = shape[0]! * shape[1]!;
        const w = model.kernels.arena.alloc(size);
        const p: Param = {
          name: `base_model.model.${module}.${suffix}`,
          shape,
          size,
          w,
          g: null,
          decay: true,
        };
        this.params.push(p);
        return p;
      };
      const A = mk('lora_A.weight', [r, nIn]);
      const B = mk('lora_B.weight', [nOut, r]);
      const bound = 1 / Math.sqrt(nIn);
      const a = A.w.data;
      for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * bound;
      B.w.data.fill(0);
      this.byKey.set(key(layer, t), { module, base, A, B, nIn, nOut, u: null });
    };
    for (let l = 0; l < c.numLayers; l++) {
      const L = model.layers[l]!;
      const bases: Record<Exclude<LoraTarget, 'lm_head'>, Param> = {
        q_proj: L.wq,
        k_proj: L.wk,
        v_proj: L.wv,
        o_proj: L.wo,
        gate_proj: L.wg,
        up_proj: L.wu,
        down_proj: L.wd,
      };
      for (const t of this.config.targets) if (t !== 'lm_head') add(l, t, bases[t]);
    }
    if (this.config.targets.includes('lm_head')) add(-1, 'lm_head', model.lmHead);
  }

  has(layer: number, t: LoraTarget): boolean {
    return this.byKey.has(key(layer, t));
  }

  get merged(): boolean {
    return this.backup !== null;
  }

  private scratch(bufName: 'du', n: number): Buf {
    let b = this.du;
    if (!b || b.len < n) {
      if (b) this.model.kernels.arena.free(b);
      b = this.model.kernels.arena.alloc(Math.max(n, 1));
      this.du = b;
    }
    void bufName;
    return b;
  }

  /**
   * y[yOff.., T×out] += s·(x·Aᵀ)·Bᵀ for the adapter at (layer, target), x at xOff as [T, in];
   * `uRow` is the first row of u to write (the LM head runs in row chunks).
   */
  forward(
    layer: number,
    t: LoraTarget,
    x: Buf,
    xOff: number,
    T: number,
    y: Buf,
    yOff: number,
    uRow = 0,
    totalRows = T,
  ): void {
    const a = this.byKey.get(key(layer, t));
    if (!a) return;
    if (this.backup)
      throw new Error('lora: adapters are merged into the weights; unmerge before a training pass');
    const K = this.model.kernels;
    const r = this.config.rank;
    if (!a.u || a.u.len < totalRows * r) {
      if (a.u) K.arena.free(a.u);
      a.u = K.arena.alloc(Math.max(totalRows, 64) * r);
    }
    // u[T, r] = x·Aᵀ ;  y += s·u·Bᵀ
    K.gemm(false, true, T, r, a.nIn, 1, x, xOff, a.nIn, a.A.w, 0, a.nIn, 0, a.u, uRow * r, r);
    K.gemm(false, true, T, a.nOut, r, this.scale, a.u, uRow * r, r, a.B.w, 0, r, 1, y, yOff, a.nOut);
  }

  /**
   * Given dy [T, out] of the adapted projection (at dyOff) and its input x, accumulates
   * gB += s·dyᵀ·u, gA += (s·dy·B)ᵀ·x and dx += (s·dy·B)·A.
   */
  backward(
    layer: number,
    t: LoraTarget,
    x: Buf,
    xOff: number,
    T: number,
    dy: Buf,
    dyOff: number,
    dx: Buf,
    dxOff: number,
    uRow = 0,
  ): void {
    const a = this.byKey.get(key(layer, t));
    if (!a) return;
    const K = this.model.kernels;
    const r = this.config.rank;
    this.ensureGrads();
    const du = this.scratch('du', T * r);
    K.gemm(true, false, a.nOut, r, T, this.scale, dy, dyOff, a.nOut, a.u!, uRow * r, r, 1, a.B.g!, 0, r);
    K.gemm(false, false, T, r, a.nOut, this.scale, dy, dyOff, a.nOut, a.B.w, 0, r, 0, du, 0, r);
    K.gemm(true, false, r, a.nIn, T, 1, du, 0, r, x, xOff, a.nIn, 1, a.A.g!, 0, a.nIn);
    K.gemm(false, false, T, a.nIn, r, 1, du, 0, r, a.A.w, 0, a.nIn, 1, dx, dxOff, a.nIn);
  }

  ensureGrads(): void {
    for (const p of this.params) {
      if (p.g) continue;
      p.g = this.model.kernels.arena.alloc(p.size);
      p.g.data.fill(0);
    }
  }

  /** s·B·A of one adapter, [out, in] (float64 accumulation). */
  private delta(a: Adapter): Float64Array {
    const r = this.config.rank;
    const A = a.A.w.data,
      B = a.B.w.data;
    const out = new Float64Array(a.nOut * a.nIn);
    for (let o = 0; o < a.nOut; o++)
      for (let i = 0; i < a.nIn; i++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += B[o * r + k]! * A[k * a.nIn + i]!;
        out[o * a.nIn + i] = this.scale * s;
      }
    return out;
  }

  /** Adapters whose delta can be added into their base weight (not a tied unembedding). */
  private mergeable(): Adapter[] {
    return [...this.byKey.values()].filter(
      (a) => !(a.module === 'lm_head' && this.model.config.tieWordEmbeddings),
    );
  }

  /** W += s·B·A for every mergeable adapter, keeping the base weights to restore exactly. */
  merge(): void {
    if (this.backup) return;
    this.backup = new Map();
    for (const a of this.mergeable()) {
      const w = a.base.w.data;
      this.backup.set(a.base, w.slice()); // same precision as the weights (float64 reference path)
      const d = this.delta(a);
      for (let i = 0; i < w.length; i++) w[i] = w[i]! + d[i]!;
    }
    this.model.markWeightsChanged();
  }

  unmerge(): void {
    if (!this.backup) return;
    for (const [p, w] of this.backup) p.w.data.set(w);
    this.backup = null;
    this.model.markWeightsChanged();
  }

  /** Runs `fn` (inference) on merged weights; the tied unembedding adapter stays a hook. */
  async withMerged<T>(fn: () => Promise<T>): Promise<T> {
    this.merge();
    try {
      return await fn();
    } finally {
      this.unmerge();
    }
  }

  /** The tied-unembedding adapter, applied by inference as a hook (null when there is none to hook). */
  unembedHook(): ((x: Buf, xOff: number, T: number, y: Buf, yOff: number) => void) | null {
    if (!this.has(-1, 'lm_head') || !this.model.config.tieWordEmbeddings) return null;
    return (x, xOff, T, y, yOff) => {
      const saved = this.backup;
      this.backup = null; // the hook is valid while other adapters are merged
      try {
        this.forward(-1, 'lm_head', x, xOff, T, y, yOff);
      } finally {
        this.backup = saved;
      }
    };
  }

  /**
   * The base model's tensors with every adapter merged in (for export as a plain HF folder). A tied
   * model with an unembedding adapter gets its own `lm_head.weight` (the caller unties the config).
   */
  mergedTensors(): { name: string; shape: number[]; data: Float32Array }[] {
    const deltas = new Map<Param, Float64Array>();
    for (const a of this.byKey.values())
      if (a.module !== 'lm_head' || !this.model.config.tieWordEmbeddings) deltas.set(a.base, this.delta(a));
    const out = this.model.params.map((p) => {
      const d = deltas.get(p);
      const data = Float32Array.from(p.w.data);
      if (d) for (let i = 0; i < data.length; i++) data[i] = data[i]! + d[i]!;
      return { name: p.name, shape: p.shape.slice(), data };
    });
    const head = this.byKey.get(key(-1, 'lm_head'));
    if (head && this.model.config.tieWordEmbeddings) {
      const d = this.delta(head);
      const data = Float32Array.from(this.model.embed.w.data, (x, i) => x + d[i]!);
      out.push({ name: 'lm_head.weight', shape: this.model.embed.shape.slice(), data });
    }
    return out;
  }

  /** Writes adapter_config.json + adapter_model.safetensors as PEFT does. */
  save(dir: string, baseModel = ''): void {
    mkdirSync(dir, { recursive: true });
    writeSafetensors(
      join(dir, ADAPTER_WEIGHTS),
      this.params.map((p) => [p.name, { shape: p.shape, data: Float32Array.from(p.w.data) }]),
    );
    const modules = [...new Set(this.config.targets)];
    writeFileSync(
      join(dir, ADAPTER_CONFIG),
      JSON.stringify(
        {
          peft_type: 'LORA',
          task_type: 'CAUSAL_LM',
          base_model_name_or_path: baseModel,
          r: this.config.rank,
          lora_alpha: this.config.alpha,
          lora_dropout: 0,
          target_modules: modules,
          bias: 'none',
          fan_in_fan_out: false,
          use_rslora: false,
          use_dora: false,
          init_lora_weights: true,
          inference_mode: true,
          modules_to_save: null,
          // Ours (PEFT ignores unknown keys): the init seed, so a resumed run is reproducible.
          search_r1_seed: this.config.seed,
        },
        null,
        2,
      ) + '\n',
    );
  }

  /** Loads A and B from a PEFT folder written for this model and config (errors name file and tensor). */
  load(dir: string): void {
    const path = join(dir, ADAPTER_WEIGHTS);
    const t = readSafetensors(path);
    for (const p of this.params) {
      const x = t.get(p.name);
      if (!x) throw new Error(`${path}: missing tensor "${p.name}"`);
      if (x.shape.length !== 2 || x.shape[0] !== p.shape[0] || x.shape[1] !== p.shape[1])
        throw new Error(
          `${path}: tensor "${p.name}" has shape [${x.shape.join(', ')}], expected [${p.shape.join(', ')}]`,
        );
      p.w.data.set(x.data);
    }
    for (const name of t.keys())
      if (!this.params.some((p) => p.name === name))
        throw new Error(`${path}: unexpected tensor "${name}" for this LoRA config`);
    this.model.markWeightsChanged();
  }

  dispose(): void {
    const K = this.model.kernels;
    for (const p of this.params) {
      K.arena.free(p.w);
      if (p.g) K.arena.free(p.g);
    }
    for (const a of this.byKey.values()) if (a.u) K.arena.free(a.u);
    if (this.du) K.arena.free(this.du);
    this.params.length = 0;
  }
}

function key(layer: number, t: LoraTarget): string {
  return `${layer}:${t}`;
}

/** Reads a PEFT adapter_config.json into our LoraConfig (errors name the file and field). */
export function readAdapterConfig(dir: string): LoraConfig {
  const path = join(dir, ADAPTER_CONFIG);
  if (!existsSync(path)) throw new Error(`${dir}: no ${ADAPTER_CONFIG} (not a PEFT adapter folder)`);
  let js: Record<string, unknown>;
  try {
    js = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
  if (js.peft_type !== 'LORA')
    throw new Error(`${path}: peft_type must be "LORA", got ${JSON.stringify(js.peft_type)}`);
  const targets = js.target_modules;
  if (!Array.isArray(targets) || targets.some((x) => typeof x !== 'string'))
    throw new Error(`${path}: target_modules must be a list of module names`);
  if (js.use_rslora === true || js.use_dora === true)
    throw new Error(`${path}: rsLoRA / DoRA adapters are not supported`);
  try {
    return checkLoraConfig({
      rank: js.r as number,
      alpha: js.lora_alpha as number,
      targets: targets as LoraTarget[],
      seed: typeof js.search_r1_seed === 'number' ? js.search_r1_seed : 0,
    });
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
