// TinkerTrainer: our Trainer seam (src/core/trainer.ts) over the Tinker training API
// (docs/tinker-api.md), for the hosted service, a SkyRL server, or `search-r1 serve-trainer`.
//
// Ordering: every training call takes its `seq_id` synchronously when it is called and its POST is
// chained after the previous one, so calls made without awaiting (forwardBackward(); optimStep())
// are pipelined: both are submitted before either result is awaited, and the server runs them in
// seq_id order. Results are polled concurrently.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { z } from 'zod';
import type { AdamWParams, Datum, ForwardOutput, LossSpec, Metrics, Trainer } from '../../core/trainer.ts';
import type { Completion, SampleRequest } from '../../core/sampler.ts';
import type { Tokenizer } from '../../core/tokenizer.ts';
import { call, submit, type FutureOptions } from './futures.ts';
import { TinkerHttp, TinkerHttpError, type HttpOptions } from './http.ts';
import { builtinInput, crossEntropyInput, customLossWeights } from './losses.ts';
import {
  CreateModelResponse,
  CreateSamplingSessionResponse,
  CreateSessionResponse,
  ForwardBackwardOutput,
  GetInfoResponse,
  LoadWeightsResponse,
  OptimStepResponse,
  SampleResponse,
  SaveWeightsForSamplerResponse,
  SaveWeightsResponse,
  ServerCapabilities,
  SessionHeartbeatResponse,
  EXT_ENTROPY,
  EXT_VALUES,
  type FBInput,
  type LoraConfig,
} from './wire.ts';

export const DEFAULT_TINKER_BASE_URL = 'https://tinker.thinkingmachines.dev/services/tinker-prod';
/** Sent as sdk_version; identifies this client in server logs. */
export const CLIENT_VERSION = 'search-r1-ts/0.1.0';
/** Written by saveWeights(dir): where the remote checkpoint lives. */
export const CHECKPOINT_POINTER = 'tinker-checkpoint.json';

export interface TinkerTrainerOptions {
  /** Default: $TINKER_BASE_URL, else the hosted service. */
  baseUrl?: string;
  /** Default: $TINKER_API_KEY. */
  apiKey?: string;
  /** The server's base model name (e.g. "Qwen/Qwen3-8B"). */
  baseModel: string;
  /** Tokenizer of the base model, loaded locally (the API does not ship tokenizers). */
  tokenizer: Tokenizer;
  /** LoRA adapter config; omitted = full fine-tuning where the server allows it. */
  lora?: { rank: number; seed?: number; trainMlp?: boolean; trainAttn?: boolean; trainUnembed?: boolean };
  tags?: string[];
  userMetadata?: Record<string, unknown>;
  /** Heartbeat period (default 10 s, as the SDK). */
  heartbeatMs?: number;
  http?: Partial<Omit<HttpOptions, 'baseUrl' | 'apiKey'>>;
  /**
   * "critic": a value model (PPO). Needs a server offering our critic extension (serve-trainer);
   * elsewhere creating one fails with a clear message.
   */
  role?: 'policy' | 'critic';
  /** Request size limits for forward / forward_backward (default 1024 datums, 100k tokens). */
  chunk?: { maxDatums?: number; maxTokens?: number };
  futures?: FutureOptions;
}

/** A sampling session of the current weights and its own asample seq_id counter. */
interface SamplerHandle {
  id: Promise<string>;
  nextSeq: number;
}

function cleanName(s: string): string {
  const n = s
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 200);
  return n.length > 0 ? n : 'ckpt';
}

export class TinkerTrainer implements Trainer {
  readonly tokenizer: Tokenizer;
  readonly http: TinkerHttp;
  readonly baseModel: string;
  private readonly futureOpts: FutureOptions;
  private sessionId = '';
  modelId = '';
  private modelSeqId = 0; // per-session counter of training clients
  private seqId = 0; // per-model training seq_id; first request is 1
  private samplingSessionSeqId = 0;
  private sampler: SamplerHandle | null = null;
  private samplerStale = true;
  private submitChain: Promise<unknown> = Promise.resolve();
  private heartbeat: NodeJS.Timeout | null = null;
  private heartbeatError: Error | null = null;
  private closed = false;
  /** search-r1 protocol extensions the server offers (see wire.ts EXT_ENTROPY). */
  readonly extensions = new Set<string>();
  /** Only search-r1 serve-trainer returns entropy (its extension). */
  get providesEntropy(): boolean {
    return this.extensions.has(EXT_ENTROPY);
  }
  /** A value model (forward returns values). */
  readonly critic: boolean;

  private constructor(
    private readonly opts: TinkerTrainerOptions,
    http: TinkerHttp,
  ) {
    this.tokenizer = opts.tokenizer;
    this.http = http;
    this.baseModel = opts.baseModel;
    this.futureOpts = opts.futures ?? {};
    this.critic = opts.role === 'critic';
  }

  /** Opens a session (with heartbeats) and creates the training model. */
  static async create(opts: TinkerTrainerOptions): Promise<TinkerTrainer> {
    const baseUrl = opts.baseUrl ?? process.env.TINKER_BASE_URL ?? DEFAULT_TINKER_BASE_URL;
    const apiKey = opts.apiKey ?? process.env.TINKER_API_KEY;
    const http = new TinkerHttp({ ...opts.http, baseUrl, apiKey });
    const t = new TinkerTrainer(opts, http);
    // Protocol extensions (search-r1 serve-trainer only). A server without this endpoint simply
    // offers none.
    try {
      const caps = await http.get('get_server_capabilities', ServerCapabilities);
      for (const e of caps.search_r1_extensions ?? []) t.extensions.add(e);
    } catch (err) {
      if (!(err instanceof TinkerHttpError && err.status === 404)) throw err;
    }
    if (opts.role === 'critic' && !t.extensions.has(EXT_VALUES)) {
      throw new Error(
        `PPO needs a critic (a value model), and the Tinker server at ${baseUrl} offers none: the Tinker API ` +
          'has no value loss for it (search-r1 serve-trainer does). Use GRPO with --backend tinker, or PPO ' +
          'with the embedded backend.',
      );
    }
    await t.openSession();
    try {
      t.modelId = await t.createModel();
    } catch (err) {
      await t.close();
      throw err;
    }
    return t;
  }

  private async openSession(): Promise<void> {
    const res = await this.http.post(
      'create_session',
      {
        tags: this.opts.tags ?? ['search-r1'],
        user_metadata: this.opts.userMetadata ?? {}, // the SDK always sends it
        sdk_version: CLIENT_VERSION,
        type: 'create_session',
      },
      CreateSessionResponse,
    );
    if (res.error_message) throw new Error(`tinker create_session: ${res.error_message}`);
    if (res.warning_message) this.http.log(`server warning: ${res.warning_message}`);
    this.sessionId = res.session_id;
    const every = this.opts.heartbeatMs ?? 10_000;
    this.heartbeat = setInterval(() => void this.sendHeartbeat(), every);
    this.heartbeat.unref(); // never keeps the process alive on its own
  }

  private async sendHeartbeat(): Promise<void> {
    try {
      const res = await this.http.once('POST', 'session_heartbeat', {
        session_id: this.sessionId,
        type: 'session_heartbeat',
      });
      if (res.status === 404) {
        this.heartbeatError = new Error(
          `tinker session ${this.sessionId} expired (heartbeat got 404); its models are gone`,
        );
      } else if (res.status >= 200 && res.status < 300) {
        SessionHeartbeatResponse.parse(res.body);
      } else {
        this.http.log(`heartbeat: HTTP ${res.status}`);
      }
    } catch (err) {
      this.http.log(`heartbeat failed: ${(err as Error).message}`); // transient; the next one may pass
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('TinkerTrainer is closed');
    if (this.heartbeatError) throw this.heartbeatError;
  }

  private loraConfig(): LoraConfig | undefined {
    const l = this.opts.lora;
    if (!l) return undefined;
    return {
      rank: l.rank,
      ...(l.seed !== undefined ? { seed: l.seed } : {}),
      train_mlp: l.trainMlp ?? true,
      train_attn: l.trainAttn ?? true,
      train_unembed: l.trainUnembed ?? true,
    };
  }

  private async createModel(): Promise<string> {
    const body = {
      session_id: this.sessionId,
      model_seq_id: this.modelSeqId++,
      base_model: this.baseModel,
      ...(this.loraConfig() ? { lora_config: this.loraConfig() } : {}),
      ...(this.critic ? { model_role: 'critic' } : {}),
      ...(this.opts.userMetadata ? { user_metadata: this.opts.userMetadata } : {}),
      type: 'create_model',
    };
    const res = await call(this.http, 'create_model', body, CreateModelResponse, this.futureOpts);
    this.seqId = 0;
    return res.model_id;
  }

  /** Takes the next training seq_id (synchronously, at call time: this fixes the order). */
  private reserve(): number {
    this.checkOpen();
    return ++this.seqId;
  }

  /**
   * Submits a training request in seq_id order and returns its result promise. The POST waits for
   * the previous POST's acknowledgement (not for its result), and for `payload` when it is a
   * promise (a body that depends on an earlier result, as in forward_backward_custom). If that
   * body cannot be built, a no-op request takes its seq_id, so the server's seq_id order (which
   * runs later requests only after this one) never waits for a number that will not come.
   */
  private ordered<S extends z.ZodType>(
    path: string,
    seqId: number,
    payload: object | Promise<object>,
    schema: S,
  ): Promise<z.output<S>> {
    const body = Promise.resolve(payload);
    const ack = this.submitChain.then(async () => {
      let b: object;
      try {
        b = await body;
      } catch (err) {
        await this.fillSeqHole(seqId).catch((e: Error) =>
          this.http.log(`seq_id ${seqId} filler: ${e.message}`),
        );
        throw err;
      }
      return submit(this.http, path, b);
    });
    this.submitChain = ack.catch(() => undefined);
    return ack.then(async (id) =>
      call(this.http, path, await body, schema, this.futureOpts, Promise.resolve(id)),
    );
  }

  /** A one-token forward with weight 0: valid on every server, changes nothing. */
  private async fillSeqHole(seqId: number): Promise<void> {
    const filler = crossEntropyInput([{ inputTokens: [0], targetTokens: [0] }], [new Float32Array(1)]);
    await submit(this.http, 'forward', { model_id: this.modelId, seq_id: seqId, forward_input: filler });
  }

  private fb(
    path: 'forward' | 'forward_backward',
    seqId: number,
    input: FBInput | Promise<FBInput>,
  ): Promise<ForwardBackwardOutput> {
    const key = path === 'forward' ? 'forward_input' : 'forward_backward_input';
    const body = Promise.resolve(input).then((i) => ({ model_id: this.modelId, seq_id: seqId, [key]: i }));
    return this.ordered(path, seqId, body, ForwardBackwardOutput);
  }

  /** The forward input for log-probs (cross_entropy with weights 0). Throws on bad datums. */
  private forwardInput(batch: Datum[], entropy: boolean): FBInput {
    const input = crossEntropyInput(
      batch,
      batch.map((d) => new Float32Array(d.inputTokens.length)),
    );
    // Entropy is not part of the API; our serve-trainer returns it when asked through this config
    // key. Other servers reject the key or omit the output, and either way we fail clearly.
    if (entropy) input.loss_fn_config = { return_entropy: 1 };
    return input;
  }

  // ---------------- Trainer ----------------

  /**
   * Splits a batch into request-sized chunks [start, end) (as the SDK does: ≤ maxDatums datums
   * and about ≤ maxTokens tokens each). Losses are sums over datums and gradients accumulate
   * until optim_step, so chunking changes nothing numerically.
   */
  private chunks(batch: Datum[]): [number, number][] {
    const maxDatums = this.opts.chunk?.maxDatums ?? 1024;
    const maxTokens = this.opts.chunk?.maxTokens ?? 100_000;
    const out: [number, number][] = [];
    let start = 0;
    let tokens = 0;
    batch.forEach((d, i) => {
      const n = d.inputTokens.length;
      if (i > start && (i - start >= maxDatums || tokens + n > maxTokens)) {
        out.push([start, i]);
        start = i;
        tokens = 0;
      }
      tokens += n;
    });
    if (batch.length > start || batch.length === 0) out.push([start, batch.length]);
    return out;
  }

  async forward(batch: Datum[], opts: { entropy?: boolean } = {}): Promise<ForwardOutput[]> {
    const entropy = opts.entropy ?? false;
    const parts = this.chunks(batch).map(([a, b]) => this.forwardInput(batch.slice(a, b), entropy)); // validate first
    const outs = parts.map((input) => this.fb('forward', this.reserve(), input));
    const results = await Promise.all(outs);
    return this.chunks(batch).flatMap(([a, b], k) =>
      outputsOf(results[k]!, batch.slice(a, b), entropy, this.critic),
    );
  }

  async forwardBackward(batch: Datum[], loss: LossSpec): Promise<Metrics> {
    const ranges = this.chunks(batch);
    if (loss.type !== 'custom') {
      const inputs = ranges.map(([a, b]) => builtinInput(batch.slice(a, b), loss)); // validate first
      const outs = await Promise.all(
        inputs.map((input) => this.fb('forward_backward', this.reserve(), input)),
      );
      return mergeMetrics(outs.map(metricsOf), ranges);
    }
    // forward_backward_custom: forward for log-probs, loss locally, CE with weights = −∂L/∂p. All
    // seq_ids are taken now, so a pipelined optimStep cannot overtake the second round.
    const entropy = loss.needsEntropy ?? false;
    const fwdInputs = ranges.map(([a, b]) => this.forwardInput(batch.slice(a, b), entropy));
    const fwdSeqs = ranges.map(() => this.reserve());
    const fbSeqs = ranges.map(() => this.reserve());
    const forwards = fwdInputs.map((input, k) => this.fb('forward', fwdSeqs[k]!, input));
    const local = Promise.all(forwards).then((outs) => {
      const outputs = ranges.flatMap(([a, b], k) =>
        outputsOf(outs[k]!, batch.slice(a, b), entropy, this.critic),
      );
      return customLossWeights(
        loss.fn,
        outputs,
        batch,
        this.extensions.has(EXT_ENTROPY),
        this.critic && this.extensions.has(EXT_VALUES),
      );
    });
    const outs = await Promise.all(
      ranges.map(([a, b], k) =>
        this.fb(
          'forward_backward',
          fbSeqs[k]!,
          local.then(({ weights, entropyWeights, valueWeights }) =>
            crossEntropyInput(
              batch.slice(a, b),
              weights.slice(a, b),
              entropyWeights?.slice(a, b) ?? null,
              valueWeights?.slice(a, b) ?? null,
            ),
          ),
        ),
      ),
    );
    const { grad } = await local;
    // The server's loss:sum is the surrogate −Σ w·p; report the custom loss itself, as the
    // embedded engine does.
    return { ...mergeMetrics(outs.map(metricsOf), ranges), 'loss:sum': grad.loss, ...(grad.metrics ?? {}) };
  }

  async optimStep(p: AdamWParams): Promise<Metrics> {
    this.samplerStale = true;
    const seq = this.reserve();
    const res = await this.ordered(
      'optim_step',
      seq,
      {
        model_id: this.modelId,
        seq_id: seq,
        adam_params: {
          learning_rate: p.learningRate,
          beta1: p.beta1,
          beta2: p.beta2,
          eps: p.eps,
          weight_decay: p.weightDecay,
          grad_clip_norm: p.gradClipNorm,
        },
        type: 'optim_step',
      },
      OptimStepResponse,
    );
    return { ...(res.metrics ?? {}) };
  }

  /**
   * Saves full training state on the server (`save_weights`) and writes a pointer file
   * `dir/tinker-checkpoint.json` with its tinker:// path (the API has no weight download).
   */
  async saveWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    const name = `${cleanName(basename(resolve(dir)))}-${Date.now()}`;
    const seq = this.reserve();
    const res = await this.ordered(
      'save_weights',
      seq,
      { model_id: this.modelId, path: name, seq_id: seq, overwrite: false, type: 'save_weights' },
      SaveWeightsResponse,
    );
    await mkdir(dir, { recursive: true });
    const pointer = {
      tinker_path: res.path,
      base_model: this.baseModel,
      model_id: this.modelId,
      base_url: this.http.baseUrl,
      optimizer: opts.optimizer ?? true,
      saved_at: new Date().toISOString(),
    };
    await writeFile(join(dir, CHECKPOINT_POINTER), JSON.stringify(pointer, null, 2) + '\n');
  }

  /**
   * Loads a checkpoint saved by saveWeights (reads the pointer file). The API allows a load only
   * as a model's first request, so after other requests this creates a new model from the
   * checkpoint (create-via-load) and continues with it.
   */
  async loadWeights(dir: string, opts: { optimizer?: boolean } = {}): Promise<void> {
    const file = join(dir, CHECKPOINT_POINTER);
    let pointer: { tinker_path?: unknown };
    try {
      pointer = JSON.parse(await readFile(file, 'utf8')) as { tinker_path?: unknown };
    } catch (err) {
      throw new Error(`${file}: cannot read the Tinker checkpoint pointer: ${(err as Error).message}`);
    }
    if (typeof pointer.tinker_path !== 'string') throw new Error(`${file}: field tinker_path is missing`);
    await this.loadTinkerPath(pointer.tinker_path, opts.optimizer ?? true);
  }

  async loadTinkerPath(path: string, optimizer: boolean): Promise<void> {
    this.checkOpen();
    this.samplerStale = true;
    if (this.seqId === 0) {
      const seq = this.reserve();
      await this.ordered(
        'load_weights',
        seq,
        { path, optimizer, model_id: this.modelId, seq_id: seq, type: 'load_weights' },
        LoadWeightsResponse,
      );
      return;
    }
    await this.submitChain;
    const body = {
      path,
      optimizer,
      session_id: this.sessionId,
      model_seq_id: this.modelSeqId++,
      base_model: this.baseModel,
      seq_id: 0,
      ...(this.critic ? { model_role: 'critic' } : {}),
      type: 'load_weights',
    };
    const res = await call(this.http, 'load_weights', body, LoadWeightsResponse, this.futureOpts);
    if (!res.model_id)
      throw new Error('tinker load_weights (create-via-load): the server returned no model_id');
    this.modelId = res.model_id;
    this.seqId = 0;
  }

  /** A sampler for the current weights: unnamed save_weights_for_sampler → sampling_session_id. */
  private currentSampler(): SamplerHandle {
    if (!this.samplerStale && this.sampler) return this.sampler;
    const seq = this.reserve();
    this.samplerStale = false;
    const samplingSeq = this.samplingSessionSeqId++;
    const saved = this.ordered(
      'save_weights_for_sampler',
      seq,
      {
        model_id: this.modelId,
        sampling_session_seq_id: samplingSeq,
        seq_id: seq,
        type: 'save_weights_for_sampler',
      },
      SaveWeightsForSamplerResponse,
    );
    const id = saved.then(async (res) => {
      if (res.sampling_session_id) return res.sampling_session_id;
      if (!res.path)
        throw new Error('tinker save_weights_for_sampler returned neither sampling_session_id nor path');
      const s = await this.http.post(
        'create_sampling_session',
        {
          session_id: this.sessionId,
          sampling_session_seq_id: this.samplingSessionSeqId++,
          model_path: res.path,
          type: 'create_sampling_session',
        },
        CreateSamplingSessionResponse,
      );
      return s.sampling_session_id;
    });
    const handle: SamplerHandle = { id, nextSeq: 0 };
    this.sampler = handle;
    id.catch(() => {
      if (this.sampler === handle) this.samplerStale = true;
    });
    return handle;
  }

  /**
   * One asample per prompt (the API samples one prompt per request), all in flight at once.
   * Seeds: prompt i of the batch is sampled with seed + i, so a batch is reproducible.
   */
  async sample(req: SampleRequest): Promise<Completion[][]> {
    this.checkOpen();
    const sampler = this.currentSampler();
    const samplerId = await sampler.id;
    const n = req.n ?? 1;
    const jobs = req.prompts.map((prompt, i) => {
      const body = {
        prompt: { chunks: [{ type: 'encoded_text', tokens: [...prompt] }] },
        sampling_params: {
          max_tokens: req.maxTokens,
          temperature: req.temperature,
          top_p: req.topP,
          top_k: req.topK && req.topK > 0 ? req.topK : -1,
          ...(req.seed !== undefined ? { seed: req.seed + i } : {}),
          ...(req.stop.length > 0 ? { stop: [...req.stop] } : {}),
        },
        num_samples: n,
        sampling_session_id: samplerId,
        seq_id: sampler.nextSeq++, // per sampling session, 0, 1, …
        type: 'sample',
      };
      return call(this.http, 'asample', body, SampleResponse, this.futureOpts).then((res) => {
        if (res.sequences.length !== n) {
          throw new Error(`tinker asample returned ${res.sequences.length} sequences, asked for ${n}`);
        }
        return res.sequences.map((s) => this.completion(s, req.stop));
      });
    });
    return Promise.all(jobs);
  }

  private completion(
    s: { tokens: number[]; logprobs?: number[] | null; stop_reason: 'stop' | 'length' },
    stops: string[],
  ): Completion {
    if (!s.logprobs || s.logprobs.length !== s.tokens.length) {
      throw new Error('tinker asample: the server returned no per-token logprobs (RL needs them)');
    }
    let text = this.tokenizer.decode(s.tokens);
    let finish: Completion['finish'] = s.stop_reason === 'length' ? 'length' : 'stop';
    let stopString: string | undefined;
    const last = s.tokens[s.tokens.length - 1];
    if (finish === 'stop' && last !== undefined && this.tokenizer.eosTokenIds.includes(last)) finish = 'eos';
    if (finish !== 'length') {
      // Earliest stop string in the text: cut just after it (tokens are kept as generated).
      let best = -1;
      for (const st of stops) {
        const at = text.indexOf(st);
        if (at >= 0 && (best < 0 || at < best)) {
          best = at;
          stopString = st;
        }
      }
      if (stopString !== undefined && finish === 'stop') text = text.slice(0, best + stopString.length);
      else stopString = undefined;
    }
    return { tokens: s.tokens, logprobs: s.logprobs, finish, text, ...(stopString ? { stopString } : {}) };
  }

  /** Model info as the server reports it. */
  async getInfo(): Promise<z.output<typeof GetInfoResponse>> {
    return this.http.post('get_info', { model_id: this.modelId, type: 'get_info' }, GetInfoResponse);
  }

  /**
   * Stops heartbeats and asks the server to unload the model: one attempt, not awaited to
   * completion (the session's expiry frees it anyway if this fails).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    if (!this.modelId) return;
    try {
      await this.submitChain;
      await this.http.once('POST', 'unload_model', { model_id: this.modelId, type: 'unload_model' }, 5000);
    } catch (err) {
      this.http.log(`unload_model: ${(err as Error).message}`);
    }
  }
}

/**
 * Merges the metrics of chunked requests by their `name:reduction` suffix (sum adds, mean is
 * weighted by datums, min/max); other keys keep the last chunk's value.
 */
export function mergeMetrics(parts: Metrics[], ranges: [number, number][]): Metrics {
  if (parts.length === 1) return parts[0]!;
  const out: Metrics = {};
  const weightOf = (k: number) => ranges[k]![1] - ranges[k]![0];
  const total = ranges.reduce((acc, _, k) => acc + weightOf(k), 0);
  const keys = new Set(parts.flatMap((p) => Object.keys(p)));
  for (const key of keys) {
    const vals = parts.map((p, k) => [p[key], weightOf(k)] as const).filter(([v]) => v !== undefined) as [
      number,
      number,
    ][];
    const reduction = key.includes(':') ? key.slice(key.lastIndexOf(':') + 1) : '';
    if (reduction === 'sum') out[key] = vals.reduce((a, [v]) => a + v, 0);
    else if (reduction === 'mean')
      out[key] = total > 0 ? vals.reduce((a, [v, w]) => a + v * w, 0) / total : vals[0]![0];
    else if (reduction === 'min') out[key] = Math.min(...vals.map(([v]) => v));
    else if (reduction === 'max') out[key] = Math.max(...vals.map(([v]) => v));
    else out[key] = vals[vals.length - 1]![0];
  }
  return out;
}

function metricsOf(out: ForwardBackwardOutput): Metrics {
  const m: Metrics = {};
  for (const [k, v] of Object.entries(out.metrics)) m[k] = v;
  return m;
}

function outputsOf(
  out: ForwardBackwardOutput,
  batch: Datum[],
  entropy: boolean,
  values = false,
): ForwardOutput[] {
  if (out.loss_fn_outputs.length !== batch.length) {
    throw new Error(
      `tinker forward returned ${out.loss_fn_outputs.length} outputs for ${batch.length} datums`,
    );
  }
  return out.loss_fn_outputs.map((o, i) => {
    const N = batch[i]!.inputTokens.length;
    const lp = o.logprobs;
    if (!lp) throw new Error(`tinker forward: output ${i} has no logprobs`);
    if (lp.data.length !== N)
      throw new Error(`tinker forward: output ${i} logprobs has ${lp.data.length} values, expected ${N}`);
    const result: ForwardOutput = { logprobs: Float32Array.from(lp.data) };
    if (entropy) {
      const e = o.entropy;
      if (!e) {
        throw new Error(
          'the loss needs per-token entropy, which the Tinker API does not provide (only search-r1 serve-trainer ' +
            'returns it); set the entropy coefficient to 0 for backend "tinker"',
        );
      }
      result.entropy = Float32Array.from(e.data);
    }
    if (values) {
      const v = o.values;
      if (!v || v.data.length !== N)
        throw new Error(`tinker forward: critic output ${i} has no values of length ${N}`);
      result.values = Float32Array.from(v.data);
    }
    return result;
  });
}

export type CreateTinkerTrainerOptions = TinkerTrainerOptions;

/** Factory used by src/policy/backends.ts for `backend: 'tinker'`. */
export function createTinkerTrainer(opts: CreateTinkerTrainerOptions): Promise<TinkerTrainer> {
  return TinkerTrainer.create(opts);
}
