// The embedded backend: a Trainer (and so a Sampler) over our own engine, in process.
// Loss semantics are Tinker's: per datum, the SUM over tokens of the elementwise loss, with
// weights/advantages used as given (normalise on the client). Gradients accumulate across
// forwardBackward calls until optimStep. A critic is an EmbeddedTrainer whose model has a value
// head (forward returns `values`; a custom loss backpropagates dValues).
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { Model } from '../engine/model.ts';
import { TrainingPass, type SeqIn, type PassOutputs } from '../engine/forward.ts';
import { AdamW, type AdamWState } from '../engine/optim.ts';
import { generate, type GenerateOptions } from '../engine/generate.ts';
import { PrefixCache } from '../engine/prefix-cache.ts';
import { Rng } from '../core/rng.ts';
import { ADAPTER_CONFIG, LoraAdapters, readAdapterConfig, type LoraConfig } from '../engine/lora.ts';
import type { ModelConfig } from '../engine/config.ts';
import type { Kernels } from '../engine/kernels/index.ts';
import { loadHfFolder, parseHfConfig, saveHfFolder } from '../engine/io/hf.ts';
import {
  checkpointFiles,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../engine/io/safetensors.ts';
import { HfTokenizer } from '../engine/tokenizer.ts';
import { checkBatch } from '../core/datum.ts';
import type { AdamWParams, Datum, ForwardOutput, LossGradient, LossSpec, Metrics, Trainer } from '../core/trainer.ts';
import type { Completion, SampleRequest } from '../core/sampler.ts';
import type { Tokenizer } from '../core/tokenizer.ts';

export interface EmbeddedOptions {
  /** Seed of the trainer's RNG (sampling seeds when a request has none). */
  seed?: number;
  /**
   * Upper bound on activation memory of one training pass (default 512 MiB); batches are split
   * into passes. Plans above 64 MiB are freed after each call, so policy, critic, reference
   * model and KV caches share the 4 GiB WASM memory.
   */
  maxActivationBytes?: number;
  generate?: GenerateOptions;
  /**
   * Reuse prompt-prefix K/V across sample calls (multi-turn rollouts re-send their whole
   * context each turn). Emptied whenever the weights change. Off by default: results then
   * match a cold call in tokens but log-probs only to float rounding (~1e-7), not bit for bit.
   */
  prefixCache?: boolean;
}

export interface LoadEmbeddedOptions extends EmbeddedOptions {
  /** Add a value head (a critic) when the folder has none (initialised small). */
  valueHead?: boolean;
  kernels?: Kernels;
  /** Use this tokenizer instead of the folder's tokenizer.json. */
  tokenizer?: Tokenizer;
  onProgress?: (done: number, total: number) => void;
}

/** Everything beyond the weights needed to resume training exactly. */
export interface EmbeddedTrainerState {
  optimizer: AdamWState;
  rng: number[];
}

const OPTIMIZER_FILE = 'optimizer.safetensors';
const TRAINER_STATE_FILE = 'trainer_state.json';

export class EmbeddedTrainer implements Trainer {
  /** The training pass always computes entropy (log-softmax statistics). */
  readonly providesEntropy = true;
  readonly model: Model;
  readonly tokenizer: Tokenizer;
  private pass: TrainingPass;
  private optim: AdamW;
  private rng: Rng;
  private readonly opts: EmbeddedOptions;
  private prefix = new PrefixCache();
  /** Folder the weights came from (its tokenizer files are copied on save). */
  private sourceDir: string | null = null;

  constructor(model: Model, tokenizer: Tokenizer, opts: EmbeddedOptions = {}) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.opts = opts;
    this.pass = new TrainingPass(model);
    this.optim = new AdamW(model.params, model.kernels);
    this.rng = new Rng(opts.seed ?? 0);
  }

  static fromModel(model: Model, tokenizer: Tokenizer, opts: EmbeddedOptions = {}): EmbeddedTrainer {
    return new EmbeddedTrainer(model, tokenizer, opts);
  }

  /** A randomly initialised model. */
  static create(
    config: ModelConfig,
    tokenizer: Tokenizer,
    opts: EmbeddedOptions & { kernels?: Kernels } = {},
  ): EmbeddedTrainer {
    return new EmbeddedTrainer(
      new Model(config, { seed: opts.seed ?? 0, kernels: opts.kernels }),
      tokenizer,
      opts,
    );
  }

  /**
   * Loads a Hugging Face folder (config.json, safetensors, tokenizer.json). Weights are read
   * straight into the engine's parameter memory (one fp32 copy, no random init first).
   */
  static async load(dir: string, opts: LoadEmbeddedOptions = {}): Promise<EmbeddedTrainer> {
    const configPath = join(dir, 'config.json');
    if (!existsSync(configPath)) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`);
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${configPath}: invalid JSON (${(e as Error).message})`);
    }
    const config: ModelConfig = parseHfConfig(raw, configPath);
    const hasValueHead = checkpointFiles(dir).files.some((f) =>
      readSafetensorsHeader(f).tensors.has('value_head.weight'),
    );
    if (hasValueHead || opts.valueHead) config.valueHead = true;
    const model = new Model(config, { seed: opts.seed ?? 0, kernels: opts.kernels, init: false });
    const views = new Map(model.params.map((p) => [p.name, p.w]));
    let tokenizer: Tokenizer | null;
    try {
      const f = loadHfFolder(dir, {
        onProgress: opts.onProgress,
        noTokenizer: opts.tokenizer !== undefined,
        into: (name) => views.get(name)?.data ?? null,
      });
      tokenizer = opts.tokenizer ?? f.tokenizer;
      if (!tokenizer) throw new Error(`${dir}: no tokenizer.json (pass a tokenizer explicitly)`);
      for (const p of model.params) {
        const t = f.tensors.get(p.name);
        if (!t) {
          // Only a critic head may be absent (loadHfFolder checked every other tensor): a fresh
          // head starts at zero output.
          if (!p.name.startsWith('value_head.')) throw new Error(`${dir}: missing tensor "${p.name}"`);
          p.w.data.fill(0);
        } else if (t.data !== p.w.data) p.w.data.set(t.data);
      }
      f.tensors.clear();
    } catch (e) {
      model.dispose(); // a failed load must not leak engine memory
      throw e;
    }
    model.markWeightsChanged();
    const t = new EmbeddedTrainer(model, tokenizer, opts);
    t.sourceDir = dir;
    return t;
  }

  /** Frees engine memory. */
  dispose(): void {
    this.prefix.clear();
    this.pass.dispose();
    this.optim.dispose();
    this.model.dispose();
  }

  // ------------------------------------------------------------------ sampling
  async sample(req: SampleRequest): Promise<Completion[][]> {
    const seed = req.seed ?? this.rng.nextU32();
    const prefixCache = this.opts.prefixCache ? this.prefix : undefined;
    const run = () =>
      generate(this.model, this.tokenizer, { ...req, seed }, { ...this.opts.generate, prefixCache });
    // LoRA: inference runs on the merged weights (restored exactly afterwards).
    return this.model.lora ? this.model.lora.withMerged(run) : run();
  }

  // ------------------------------------------------------------------ LoRA (docs/lora.md)
  /**
   * Trains LoRA adapters from now on: the base weights freeze (their gradients are freed), and the
   * optimiser holds state for the adapter parameters only.
   */
  enableLora(cfg: LoraConfig): LoraAdapters {
    if (this.model.lora) throw new Error('lora: this trainer already has adapters');
    const lora = new LoraAdapters(this.model, cfg);
    this.model.lora = lora;
    for (const p of this.model.params) {
      p.frozen = true;
      if (p.g) this.model.kernels.arena.free(p.g);
      p.g = null;
    }
    this.optim.dispose();
    this.optim = new AdamW(lora.params, this.model.kernels);
    this.model.markWeightsChanged();
    return lora;
  }

  /** Writes a plain Hugging Face folder with the adapters merged into the base weights. */
  async saveMerged(dir: string): Promise<void> {
    const lora = this.model.lora;
    if (!lora) return this.saveWeights(dir);
    const tensors = lora.mergedTensors();
    const untie = tensors.some((t) => t.name === 'lm_head.weight') && this.model.config.tieWordEmbeddings;
    saveHfFolder(dir, {
      config: untie ? { ...this.model.config, tieWordEmbeddings: false } : this.model.config,
      tensors,
      tokenizer: this.tokenizer instanceof HfTokenizer ? this.tokenizer : undefined,
    });
  }

  /** Prompt tokens served from the prefix cache vs run through the model, since creation. */
  prefixCacheStats(): { reusedTokens: number; prefilledTokens: number } {
    return { reusedTokens: this.prefix.reusedTokens, prefilledTokens: this.prefix.prefilledTokens };
  }

  // ------------------------------------------------------------------ forward / backward
  async forward(batch: Datum[], opts: { entropy?: boolean } = {}): Promise<ForwardOutput[]> {
    const seqs = toSeqs(batch, this.model.config.vocabSize, false);
    const out: ForwardOutput[] = [];
    for (const [a, b] of this.chunks(seqs)) {
      const o = this.pass.forward(seqs.slice(a, b), false);
      for (let i = 0; i < b - a; i++) out.push(toOutput(o, i, opts.entropy ?? false));
    }
    this.releaseIfLarge();
    return out;
  }

  /** Frees a large buffer plan (small ones stay for the next call of the same shape). */
  private releaseIfLarge(): void {
    if (this.pass.bytes() > 64 * 2 ** 20) this.pass.dispose();
  }

  async forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics> {
    const seqs = toSeqs(
      batch,
      this.model.config.vocabSize,
      loss.type !== 'cross_entropy' && loss.type !== 'custom',
    );
    if (loss.type === 'custom') return this.forwardBackwardCustom(batch, seqs, loss);
    let total = 0,
      tokens = 0,
      clipped = 0,
      counted = 0;
    for (const [a, b] of this.chunks(seqs)) {
      const o = this.pass.forward(seqs.slice(a, b), true);
      const dLogprobs: Float32Array[] = [];
      for (let i = 0; i < b - a; i++) {
        const d = batch[a + i];
        const lp = o.logprobs[i];
        const n = lp.length;
        const g = new Float32Array(n);
        const w = d.weights;
        for (let t = 0; t < n; t++) {
          const wt = w ? w[t] : 1;
          if (loss.type === 'cross_entropy') {
            total += -wt * lp[t];
            g[t] = -wt;
            tokens += wt !== 0 ? 1 : 0;
            continue;
          }
          if (wt === 0) continue;
          const A = d.advantages![t];
          const r = Math.exp(lp[t] - d.logprobs![t]);
          tokens++;
          if (loss.type === 'importance_sampling') {
            total += -wt * r * A;
            g[t] = -wt * A * r;
          } else {
            const rc = Math.min(Math.max(r, loss.clipLow), loss.clipHigh);
            const unclipped = r * A,
              clippedTerm = rc * A;
            counted++;
            if (unclipped <= clippedTerm) {
              total += -wt * unclipped;
              g[t] = -wt * A * r;
            } else {
              total += -wt * clippedTerm; // constant in θ: no gradient
              clipped++;
            }
          }
        }
        dLogprobs.push(g);
      }
      this.pass.backward({ dLogprobs });
    }
    this.releaseIfLarge();
    const m: Metrics = { 'loss:sum': total, 'tokens:sum': tokens };
    if (loss.type === 'ppo') m['clip_fraction:mean'] = counted > 0 ? clipped / counted : 0;
    return m;
  }

  private async forwardBackwardCustom(
    batch: Datum[],
    seqs: SeqIn[],
    loss: Extract<LossSpec, { type: 'custom' }>,
  ): Promise<Metrics> {
    const chunks = this.chunks(seqs);
    const single = chunks.length === 1;
    const outputs: ForwardOutput[] = [];
    for (const [a, b] of chunks) {
      // With one pass the activations are kept; otherwise forward again per chunk for backward.
      const o = this.pass.forward(seqs.slice(a, b), single);
      for (let i = 0; i < b - a; i++) outputs.push(toOutput(o, i, loss.needsEntropy ?? false));
    }
    const lg: LossGradient = loss.fn(outputs, batch);
    if (!Number.isFinite(lg.loss)) throw new Error(`custom loss returned a non-finite loss (${lg.loss})`);
    checkGrad(lg.dLogprobs, 'dLogprobs', batch, true);
    if (lg.dEntropy) checkGrad(lg.dEntropy, 'dEntropy', batch, false);
    if (lg.dValues) {
      if (!this.model.valueW) throw new Error('custom loss returned dValues but the model has no value head');
      checkGrad(lg.dValues, 'dValues', batch, false);
    }
    for (const [a, b] of chunks) {
      if (!single) this.pass.forward(seqs.slice(a, b), true);
      this.pass.backward({
        dLogprobs: lg.dLogprobs.slice(a, b),
        dEntropy: lg.dEntropy?.slice(a, b) ?? null,
        dValues: lg.dValues?.slice(a, b) ?? null,
      });
    }
    this.releaseIfLarge();
    return { 'loss:sum': lg.loss, ...(lg.metrics ?? {}) };
  }

  /** Splits a batch into passes whose activations fit `maxActivationBytes` (≥ 1 datum each). */
  private chunks(seqs: SeqIn[]): [number, number][] {
    const c = this.model.config;
    const perToken =
      4 *
      (c.numLayers *
        (6 * c.hiddenSize +
          2 * c.numHeads * c.headDim +
          2 * c.numKvHeads * c.headDim +
          3 * c.intermediateSize +
          2) +
        4 * c.hiddenSize +
        3 * c.intermediateSize +
        2 * c.numHeads * c.headDim);
    const budget = Math.max(1, Math.floor((this.opts.maxActivationBytes ?? 512 * 2 ** 20) / perToken));
    const out: [number, number][] = [];
    let a = 0,
      tok = 0;
    for (let i = 0; i < seqs.length; i++) {
      const n = seqs[i].inputs.length;
      if (i > a && tok + n > budget) {
        out.push([a, i]);
        a = i;
        tok = 0;
      }
      tok += n;
    }
    if (a < seqs.length || seqs.length === 0) out.push([a, seqs.length]);
    return out;
  }

  // ------------------------------------------------------------------ optimizer
  async optimStep(h: AdamWParams): Promise<Metrics> {
    this.model.ensureGrads();
    this.model.lora?.ensureGrads();
    const { grad_norm, clip_scale } = this.optim.update(h);
    this.model.markWeightsChanged();
    return { grad_norm, clip_scale, learning_rate: h.learningRate, step: this.optim.step };
  }

  getState(): EmbeddedTrainerState {
    return { optimizer: this.optim.getState(), rng: this.rng.getState() };
  }

  setState(s: EmbeddedTrainerState): void {
    this.optim.setState(s.optimizer);
    this.rng.setState(s.rng);
  }

  // ------------------------------------------------------------------ checkpoints
  async saveWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    const tok = this.tokenizer instanceof HfTokenizer ? this.tokenizer : undefined;
    // LoRA: the adapter alone, in PEFT's layout (load it onto the same base model).
    if (this.model.lora) this.model.lora.save(dir, this.sourceDir ?? '');
    else
      saveHfFolder(dir, {
        config: this.model.config,
        tensors: this.model.namedParameters(),
        tokenizer: tok,
        tokenizerDir:
          !tok && this.sourceDir && existsSync(join(this.sourceDir, 'tokenizer.json'))
            ? this.sourceDir
            : undefined,
      });
    if (opts.optimizer) {
      const st = this.optim.getState();
      const entries: [string, { shape: number[]; data: Float32Array }][] = [];
      for (const [k, a] of st.m) entries.push([`${k}.exp_avg`, { shape: [a.length], data: a }]);
      for (const [k, a] of st.v) entries.push([`${k}.exp_avg_sq`, { shape: [a.length], data: a }]);
      writeSafetensors(join(dir, OPTIMIZER_FILE), entries);
      const tmp = join(dir, TRAINER_STATE_FILE + '.tmp');
      writeFileSync(tmp, JSON.stringify({ step: st.step, rng: this.rng.getState() }, null, 2) + '\n');
      renameSync(tmp, join(dir, TRAINER_STATE_FILE));
    }
  }

  async loadWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    if (existsSync(join(dir, ADAPTER_CONFIG))) this.loadAdapter(dir);
    else this.loadFullWeights(dir);
    if (opts.optimizer) this.loadOptimizer(dir);
  }

  /** A PEFT adapter folder onto this trainer's adapters (created here when it has none yet). */
  private loadAdapter(dir: string): void {
    const cfg = readAdapterConfig(dir);
    let lora = this.model.lora;
    if (!lora) lora = this.enableLora(cfg);
    const c = lora.config;
    if (
      c.rank !== cfg.rank ||
      c.alpha !== cfg.alpha ||
      [...c.targets].sort().join() !== [...cfg.targets].sort().join()
    )
      throw new Error(
        `${dir}/${ADAPTER_CONFIG}: r=${cfg.rank} alpha=${cfg.alpha} targets=${cfg.targets} differ from this trainer's adapters (r=${c.rank} alpha=${c.alpha} targets=${c.targets})`,
      );
    lora.load(dir);
  }

  private loadFullWeights(dir: string): void {
    if (this.model.lora) throw new Error(`${dir}: no ${ADAPTER_CONFIG}; this trainer trains LoRA adapters`);
    const f = loadHfFolder(dir, { noTokenizer: true });
    const c = this.model.config;
    for (const k of [
      'arch',
      'vocabSize',
      'hiddenSize',
      'numLayers',
      'numHeads',
      'numKvHeads',
      'intermediateSize',
    ] as const)
      if (f.config[k] !== c[k])
        throw new Error(`${dir}/config.json: ${k} = ${String(f.config[k])}, this model has ${String(c[k])}`);
    this.model.loadTensors(f.tensors, { source: dir, allowMissingValueHead: true });
  }

  private loadOptimizer(dir: string): void {
    {
      const statePath = join(dir, TRAINER_STATE_FILE);
      const optPath = join(dir, OPTIMIZER_FILE);
      if (!existsSync(statePath) || !existsSync(optPath))
        throw new Error(
          `${dir}: no optimizer state (${OPTIMIZER_FILE} + ${TRAINER_STATE_FILE}); save with { optimizer: true }`,
        );
      let js: { step?: unknown; rng?: unknown };
      try {
        js = JSON.parse(readFileSync(statePath, 'utf8')) as typeof js;
      } catch (e) {
        throw new Error(`${statePath}: invalid JSON (${(e as Error).message})`);
      }
      if (typeof js.step !== 'number' || !Number.isInteger(js.step) || js.step < 0)
        throw new Error(`${statePath}: field "step" must be an integer ≥ 0`);
      if (!Array.isArray(js.rng) || js.rng.length !== 4)
        throw new Error(`${statePath}: field "rng" must be 4 integers`);
      const t = readSafetensors(optPath);
      const m = new Map<string, Float32Array>(),
        v = new Map<string, Float32Array>();
      for (const [name, x] of t) {
        if (name.endsWith('.exp_avg_sq')) v.set(name.slice(0, -'.exp_avg_sq'.length), x.data);
        else if (name.endsWith('.exp_avg')) m.set(name.slice(0, -'.exp_avg'.length), x.data);
        else throw new Error(`${optPath}: unexpected tensor "${name}"`);
      }
      try {
        this.optim.setState({ step: js.step, m, v });
      } catch (e) {
        throw new Error(`${optPath}: ${(e as Error).message}`);
      }
      this.rng.setState(js.rng as number[]);
    }
  }
}

function toOutput(o: PassOutputs, i: number, entropy: boolean): ForwardOutput {
  const out: ForwardOutput = { logprobs: Float32Array.from(o.logprobs[i]) };
  if (entropy) out.entropy = Float32Array.from(o.entropy[i]);
  if (o.values) out.values = Float32Array.from(o.values[i]);
  return out;
}

/** Validates datums (errors name the datum and field) and maps them to engine sequences. */
function toSeqs(batch: Datum[], V: number, rl: boolean): SeqIn[] {
  checkBatch(batch, { vocabSize: V, require: rl ? ['advantages', 'logprobs'] : [] });
  return batch.map((d) => ({ inputs: d.inputTokens, targets: d.targetTokens }));
}

function checkGrad(arr: Float32Array[], field: string, batch: Datum[], required: boolean): void {
  if (!Array.isArray(arr) || arr.length !== batch.length) {
    if (!required && arr === undefined) return;
    throw new Error(`custom loss: ${field} must have one array per datum (${batch.length})`);
  }
  arr.forEach((a, i) => {
    if (a.length !== batch[i].inputTokens.length)
      throw new Error(
        `custom loss: ${field}[${i}] has length ${a.length}, expected ${batch[i].inputTokens.length}`,
      );
  });
}
