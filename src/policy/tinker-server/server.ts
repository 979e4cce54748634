// `search-r1 serve-trainer`: any Trainer (our embedded engine) behind the Tinker training API
// (docs/tinker-api.md), JSON transport. Futures run per model in seq_id order; (model_id, seq_id) is an
// idempotency key (same body → the original request_id, other body → 409).
//
// Decisions where the document leaves room (see notes/issue-8-tinker.md):
// - LoRA is refused (400 naming `lora_config`): the engine trains all weights.
// - `model_role: "critic"` (SkyRL's field) creates a model with a value head when the provider
//   supports one; its values and value-loss gradients travel through our EXT_VALUES extension
//   (wire.ts). Other roles are refused naming the field.
// - Every loss runs through the engine's `custom` LossSpec with the gradients of ./losses.ts, so
//   the result carries the learner log-probs and elementwise losses.
// - An unnamed save_weights_for_sampler is a view of the live weights, valid until the model's next
//   optim_step/load_weights; sampling it afterwards fails clearly instead of silently using newer
//   weights. Named sampler saves are written to disk and can be sampled at any time.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { z } from 'zod';
import type { AdamWParams, Datum, Trainer } from '../../core/trainer.ts';
import type { SampleRequest as EngineSampleRequest } from '../../core/sampler.ts';
import * as W from '../tinker/wire.ts';
import {
  PROTO_CONTENT_TYPE,
  ProtoError,
  decodeForwardBackwardRequest,
  encodeForwardBackwardOutput,
  encodeSampleResponse,
} from '../tinker/proto.ts';
import { zstdDecompress } from '../tinker/zstd.ts';
import {
  ADAPTER_CONFIG,
  ATTN_TARGETS,
  MLP_TARGETS,
  readAdapterConfig,
  type LoraConfig,
} from '../../engine/lora.ts';
import {
  Executor,
  FutureFailure,
  FutureStore,
  IdempotencyTable,
  SeqQueue,
  canonicalBody,
} from './futures.ts';
import {
  RETURN_ENTROPY_KEY,
  elementwiseLoss,
  requiredInputs,
  resolveLoss,
  type LossInputs,
  type ResolvedLoss,
} from './losses.ts';

/** Where the server gets engine instances from. */
export interface TrainerProvider {
  /** The name clients pass as base_model. */
  baseModel: string;
  arch?: string;
  maxContextLength?: number;
  /**
   * A fresh trainer on the base weights, or on the weights saved in `dir` by Trainer.saveWeights;
   * with `valueHead`, a critic (forward returns values; custom losses may return dValues).
   */
  load(dir?: string, opts?: { valueHead?: boolean; lora?: LoraConfig }): Promise<Trainer>;
  /** load() honours `valueHead` (enables model_role "critic"). */
  supportsValueHead?: boolean;
  /** load() honours `lora` (create_model with lora_config), and loads LoRA checkpoints. */
  supportsLora?: boolean;
}

export interface TinkerServerOptions {
  port?: number;
  host?: string;
  /** Root of tinker:// checkpoints: <root>/<run>/(weights|sampler_weights)/<name>. */
  checkpointDir: string;
  /** When set, requests must carry this X-API-Key. */
  apiKey?: string;
  /** How long retrieve_future holds a pending request before answering try_again (default 20 s). */
  longPollMs?: number;
  /** Sessions without a heartbeat for this long expire and their models are unloaded (300 s). */
  sessionTtlMs?: number;
  /** Finished results are kept this long, then their ids answer 410 (15 min). */
  futureTtlMs?: number;
  /** How long a model's queue waits for a missing seq_id (2 s). */
  seqGapMs?: number;
  /** Default max_tokens when a sample request has none (512). */
  defaultMaxTokens?: number;
  /** client/config's proto_compress_fwdbwd: ask clients to zstd forward_backward bodies (true). */
  compressForwardBackward?: boolean;
  /** LoRA alpha for lora_config (which carries only the rank): 32, as SkyRL. */
  loraAlpha?: number;
  /** Request log (default: none). */
  log?: (msg: string) => void;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(typeof detail === 'string' ? detail : JSON.stringify(detail));
  }
}

interface ModelRecord {
  id: string;
  sessionId: string;
  trainer: Trainer;
  executor: Executor;
  queue: SeqQueue;
  /** Bumped by every weight change (optim_step, load_weights). */
  version: number;
  critic: boolean;
  lora: LoraConfig | null;
}

type SamplerRecord =
  | { id: string; kind: 'live'; modelId: string; version: number }
  | { id: string; kind: 'path'; path: string }
  | { id: string; kind: 'base' };

interface ParsedDatum {
  datum: Datum;
  inputs: LossInputs;
  /** Extension input (EXT_ENTROPY): adds −Σ entropy_weights·H to the loss. */
  entropyWeights?: Float32Array;
  /** Extension input (EXT_VALUES, critics): adds −Σ value_weights·V to the loss. */
  valueWeights?: Float32Array;
}

const API = '/api/v1/';
const MAX_BODY = 512 * 1024 * 1024;

function hex8(): string {
  return randomBytes(4).toString('hex');
}

function floatArray(t: W.TensorData | undefined): Float32Array | undefined {
  return t ? Float32Array.from(t.data) : undefined;
}

/** Wire datum → engine Datum + loss inputs, checking every field the loss needs (throws naming it). */
function parseDatum(d: W.WireDatum, loss: ResolvedLoss, field: string): ParsedDatum {
  const tokens: number[] = [];
  d.model_input.chunks.forEach((c, j) => {
    if (c.type !== 'encoded_text') {
      throw new HttpError(
        400,
        `${field}.model_input.chunks[${j}].type: ${c.type} chunks are not supported (text only)`,
      );
    }
    tokens.push(...(c as { tokens: number[] }).tokens);
  });
  const N = tokens.length;
  const inputs = d.loss_fn_inputs;
  for (const [name, t] of Object.entries(inputs)) {
    const f = `${field}.loss_fn_inputs.${name}`;
    if (t.sparse_crow_indices || t.sparse_col_indices)
      throw new HttpError(400, `${f}: sparse (CSR) tensors are not supported`);
    if (t.shape && (t.shape.length !== 1 || t.shape[0] !== t.data.length)) {
      throw new HttpError(
        400,
        `${f}.shape: only 1-D tensors of shape [${t.data.length}] are supported, got [${t.shape.join(', ')}]`,
      );
    }
    if (t.data.length !== N) {
      throw new HttpError(
        400,
        `${f}: has ${t.data.length} values, model_input has ${N} tokens (align targets as full[1:])`,
      );
    }
  }
  const target = inputs.target_tokens;
  if (!target) throw new HttpError(400, `${field}.loss_fn_inputs.target_tokens: required`);
  for (const name of requiredInputs(loss.name)) {
    if (name === 'weights') continue; // cross_entropy weights default to 1 below
    if (!inputs[name])
      throw new HttpError(400, `${field}.loss_fn_inputs.${name}: required by the ${loss.name} loss`);
  }
  return {
    entropyWeights: floatArray(inputs.entropy_weights),
    valueWeights: floatArray(inputs.value_weights),
    datum: { inputTokens: tokens, targetTokens: target.data.map((x) => Math.trunc(x)) },
    inputs: {
      weights:
        floatArray(inputs.weights) ??
        (loss.name === 'cross_entropy' ? new Float32Array(N).fill(1) : undefined),
      logprobs: floatArray(inputs.logprobs),
      advantages: floatArray(inputs.advantages),
    },
  };
}

function tensor(a: ArrayLike<number>): W.TensorData {
  return { data: Array.from(a), dtype: 'float32', shape: [a.length] };
}

function adamw(p: W.AdamParams): AdamWParams {
  return {
    learningRate: p.learning_rate,
    beta1: p.beta1,
    beta2: p.beta2,
    eps: p.eps,
    weightDecay: p.weight_decay,
    gradClipNorm: p.grad_clip_norm,
  };
}

export class TinkerServer {
  private server: Server | null = null;
  private readonly futures: FutureStore;
  private readonly idem = new IdempotencyTable();
  private readonly sessions = new Map<string, { lastSeen: number; models: Set<string> }>();
  private readonly models = new Map<string, ModelRecord>();
  private readonly samplers = new Map<string, SamplerRecord>();
  /** create_model / create-via-load idempotency: (session, model_seq_id) → request id. */
  private readonly createdModels = new Map<string, string>();
  /** Trainers loaded for sampling checkpoints or the base model (one each, reused). */
  private readonly samplingTrainers = new Map<string, { trainer: Promise<Trainer>; executor: Executor }>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly root: string;

  constructor(
    private readonly provider: TrainerProvider,
    private readonly opts: TinkerServerOptions,
  ) {
    this.futures = new FutureStore(opts.futureTtlMs ?? 15 * 60_000);
    this.root = resolve(opts.checkpointDir);
  }

  /** Starts listening; resolves with the bound port. */
  async listen(): Promise<number> {
    await mkdir(this.root, { recursive: true });
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 65_000;
    await new Promise<void>((ok, fail) => {
      this.server!.once('error', fail);
      this.server!.listen(this.opts.port ?? 8000, this.opts.host ?? '127.0.0.1', () => ok());
    });
    const ttl = this.opts.sessionTtlMs ?? 300_000;
    this.sweepTimer = setInterval(() => this.expireSessions(ttl), Math.min(30_000, ttl / 2));
    this.sweepTimer.unref();
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const m of this.models.values()) m.queue.close();
    const s = this.server;
    this.server = null;
    if (s) {
      s.closeAllConnections();
      await new Promise<void>((ok) => s.close(() => ok()));
    }
  }

  private expireSessions(ttlMs: number): void {
    const now = Date.now();
    for (const [id, s] of this.sessions) {
      if (now - s.lastSeen <= ttlMs) continue;
      this.opts.log?.(`session ${id} expired; unloading ${s.models.size} model(s)`);
      for (const m of s.models) this.unload(m);
      this.sessions.delete(id);
    }
  }

  private unload(modelId: string): void {
    const m = this.models.get(modelId);
    if (!m) return;
    m.queue.close();
    this.models.delete(modelId);
    this.idem.forgetScope(modelId);
    this.sessions.get(m.sessionId)?.models.delete(modelId);
    // Free engine memory once whatever is already queued on it has run.
    void m.executor.run(async () => dispose(m.trainer));
  }

  // ---------------- HTTP plumbing ----------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (!url.pathname.startsWith(API)) throw new HttpError(404, `not found: ${url.pathname}`);
      let route = url.pathname.slice(API.length);
      if (this.opts.apiKey && req.headers['x-api-key'] !== this.opts.apiKey && route !== 'healthz') {
        throw new HttpError(401, 'missing or wrong X-API-Key');
      }
      let body: unknown = undefined;
      if (req.method === 'POST') {
        const raw = await readBody(req);
        if (isProto(req.headers['content-type'])) ({ route, body } = await protoRequest(route, raw, req));
        else body = parseJson(raw);
      } else if (req.method !== 'GET') throw new HttpError(405, `method ${req.method} not allowed`);
      this.opts.log?.(`${req.method} ${route}`);
      const out = await this.route(req.method, route, body);
      if (route === 'retrieve_future' && isProto(req.headers.accept)) {
        const proto = protoResult(out);
        if (proto) return sendBytes(res, 200, proto);
      }
      send(res, 200, out);
    } catch (err) {
      if (err instanceof HttpError) send(res, err.status, { detail: err.detail });
      else {
        process.stderr.write(`serve-trainer: ${(err as Error).stack ?? String(err)}\n`);
        send(res, 500, { detail: `internal error: ${(err as Error).message}` });
      }
    }
  }

  private parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
    const r = schema.safeParse(body);
    if (!r.success) {
      throw new HttpError(
        422,
        r.error.issues.map((i) => ({
          loc: ['body', ...i.path.map((p) => (typeof p === 'symbol' ? String(p) : p))],
          msg: i.message,
          type: i.code,
        })),
      );
    }
    return r.data;
  }

  private model(id: string): ModelRecord {
    const m = this.models.get(id);
    if (!m) throw new HttpError(404, `model_id: unknown model ${JSON.stringify(id)}`);
    return m;
  }

  private session(id: string): { lastSeen: number; models: Set<string> } {
    const s = this.sessions.get(id);
    if (!s) throw new HttpError(404, `session_id: unknown or expired session ${JSON.stringify(id)}`);
    return s;
  }

  /**
   * Submits an ordered request: checks idempotency on (scope, seq_id), then queues the work and
   * returns the acknowledgement.
   */
  private submitOrdered(
    m: ModelRecord,
    seqId: number | undefined,
    parsed: unknown,
    work: () => Promise<unknown>,
  ): { request_id: string; model_id: string } {
    const canon = canonicalBody(parsed);
    if (seqId !== undefined) {
      const hit = this.idem.lookup(m.id, seqId, canon);
      if (hit === 'conflict') {
        throw new HttpError(409, `seq_id ${seqId} of model ${m.id} was already used by a different request`);
      }
      if (hit) return { request_id: hit.requestId, model_id: m.id };
    }
    const requestId = this.futures.create(m.queue.enqueue(seqId, work));
    if (seqId !== undefined) this.idem.record(m.id, seqId, canon, requestId);
    return { request_id: requestId, model_id: m.id };
  }

  private async route(method: string, route: string, body: unknown): Promise<unknown> {
    if (method === 'GET') {
      if (route === 'healthz') return { status: 'ok' };
      if (route === 'get_server_capabilities') {
        return {
          supported_models: [
            {
              model_name: this.provider.baseModel,
              ...(this.provider.maxContextLength
                ? { max_context_length: this.provider.maxContextLength }
                : {}),
            },
          ],
          search_r1_extensions: [W.EXT_ENTROPY, ...(this.provider.supportsValueHead ? [W.EXT_VALUES] : [])],
        };
      }
      if (route === 'client/config') return this.clientConfig();
      const sm = /^samplers\/([^/]+)$/.exec(route);
      if (sm) {
        const s = this.samplers.get(decodeURIComponent(sm[1]!));
        if (!s) throw new HttpError(404, `unknown sampler ${sm[1]}`);
        return {
          sampler_id: s.id,
          base_model: this.provider.baseModel,
          model_path: s.kind === 'path' ? s.path : null,
        };
      }
      throw new HttpError(404, `not found: GET ${route}`);
    }
    switch (route) {
      case 'healthz':
        return { status: 'ok' };
      case 'client/config':
        this.parse(W.ClientConfigRequest, body);
        return this.clientConfig();
      case 'telemetry':
        this.parse(W.TelemetryRequest, body);
        return { status: 'accepted' };
      case 'create_session': {
        this.parse(W.CreateSessionRequest, body);
        const id = `session_${hex8()}`;
        this.sessions.set(id, { lastSeen: Date.now(), models: new Set() });
        return { type: 'create_session', session_id: id };
      }
      case 'session_heartbeat': {
        const r = this.parse(W.SessionHeartbeatRequest, body);
        this.session(r.session_id).lastSeen = Date.now();
        return { type: 'session_heartbeat' };
      }
      case 'create_model':
        return this.createModel(this.parse(W.CreateModelRequest, body));
      case 'get_info': {
        const r = this.parse(W.GetInfoRequest, body);
        const info = this.model(r.model_id);
        return {
          type: 'get_info',
          model_id: r.model_id,
          model_data: {
            arch: this.provider.arch ?? null,
            model_name: this.provider.baseModel,
            tokenizer_id: this.provider.baseModel,
          },
          ...this.loraInfo(info.lora),
          model_name: this.provider.baseModel,
        };
      }
      case 'unload_model': {
        const r = this.parse(W.UnloadModelRequest, body);
        const m = this.model(r.model_id);
        // Runs after everything already queued for the model.
        const request_id = this.futures.create(
          m.queue.enqueue(undefined, async () => {
            this.unload(m.id);
            return { model_id: m.id, type: 'unload_model' };
          }),
        );
        return { request_id, model_id: m.id };
      }
      case 'forward':
      case 'forward_backward':
        return this.forwardBackward(route, body);
      case 'optim_step': {
        const r = this.parse(W.OptimStepRequest, body);
        const m = this.model(r.model_id);
        return this.submitOrdered(m, r.seq_id, r, async () => {
          const metrics = await m.trainer.optimStep(adamw(r.adam_params));
          m.version++;
          return { metrics };
        });
      }
      case 'save_weights':
        return this.saveWeights(this.parse(W.SaveWeightsRequest, body));
      case 'save_weights_for_sampler':
        return this.saveForSampler(this.parse(W.SaveWeightsForSamplerRequest, body));
      case 'load_weights':
        return this.loadWeights(this.parse(W.LoadWeightsRequest, body));
      case 'create_sampling_session': {
        const r = this.parse(W.CreateSamplingSessionRequest, body);
        this.session(r.session_id);
        if ((r.base_model === undefined) === (r.model_path === undefined)) {
          throw new HttpError(400, 'create_sampling_session: give exactly one of base_model, model_path');
        }
        const id = `sampling_${hex8()}`;
        if (r.model_path !== undefined) {
          this.checkpointDir(r.model_path, 'model_path');
          this.samplers.set(id, { id, kind: 'path', path: r.model_path });
        } else {
          this.checkBaseModel(r.base_model!, 'base_model');
          this.samplers.set(id, { id, kind: 'base' });
        }
        return { type: 'create_sampling_session', sampling_session_id: id };
      }
      case 'asample':
        return this.asample(this.parse(W.SampleRequest, body));
      case 'retrieve_future':
        return this.retrieve(this.parse(W.RetrieveFutureRequest, body));
      case 'weights_info': {
        const r = this.parse(W.WeightsInfoRequest, body);
        const dir = this.checkpointDir(r.tinker_path, 'tinker_path');
        return { base_model: this.provider.baseModel, ...this.loraInfo(this.checkpointLora(dir)) };
      }
      default:
        throw new HttpError(404, `not found: POST ${route}`);
    }
  }

  /** Feature flags the SDK obeys (docs/tinker-protobuf.md): protobuf forward_backward, zstd on. */
  private clientConfig(): W.ClientConfig {
    return {
      pjwt_auth_enabled: false,
      proto_write_fwdbwd: true,
      proto_compress_fwdbwd: this.opts.compressForwardBackward ?? true,
      fwd_via_fwdbwd: true,
      create_model_via_load_weights: false,
      fwdbwd_max_chunk_len: 1024,
      fwdbwd_max_chunk_bytes_count: 5_000_000,
    };
  }

  /** Tinker's lora_config → the engine's: train_attn/mlp/unembed pick the target modules. */
  private loraConfig(c: W.LoraConfig): LoraConfig {
    if (!this.provider.supportsLora)
      throw new HttpError(400, 'lora_config: this engine does not train LoRA adapters; omit lora_config');
    if (c.rank < 1) throw new HttpError(400, `lora_config.rank: must be ≥ 1, got ${c.rank}`);
    return {
      rank: c.rank,
      alpha: this.opts.loraAlpha ?? 32,
      targets: [
        ...(c.train_attn ? ATTN_TARGETS : []),
        ...(c.train_mlp ? MLP_TARGETS : []),
        ...(c.train_unembed ? (['lm_head'] as const) : []),
      ],
      seed: c.seed ?? 0,
    };
  }

  /** weights_info / get_info fields of a LoRA config (null: full fine-tuning). */
  private loraInfo(c: LoraConfig | null): Record<string, unknown> {
    if (!c) return { is_lora: false };
    return {
      is_lora: true,
      lora_rank: c.rank,
      train_attn: ATTN_TARGETS.some((t) => c.targets.includes(t)),
      train_mlp: MLP_TARGETS.some((t) => c.targets.includes(t)),
      train_unembed: c.targets.includes('lm_head'),
    };
  }

  private checkBaseModel(name: string, field: string): void {
    if (name !== this.provider.baseModel) {
      throw new HttpError(
        400,
        `${field}: this server serves ${JSON.stringify(this.provider.baseModel)}, not ${JSON.stringify(name)}`,
      );
    }
  }

  /** The LoRA config of a checkpoint folder (null: full weights). */
  private checkpointLora(dir: string): LoraConfig | null {
    if (!existsSync(join(dir, ADAPTER_CONFIG))) return null;
    try {
      return readAdapterConfig(dir);
    } catch (err) {
      throw new HttpError(400, `tinker_path: ${(err as Error).message}`);
    }
  }

  /** tinker:// path → its directory under the checkpoint root (must exist). */
  private checkpointDir(path: string, field: string): string {
    let p: W.TinkerPath;
    try {
      p = W.parseTinkerPath(path);
    } catch (err) {
      throw new HttpError(400, `${field}: ${(err as Error).message}`);
    }
    const dir = join(this.root, p.runId, p.kind, p.name);
    if (!existsSync(dir)) throw new HttpError(404, `${field}: no checkpoint at ${path}`);
    return dir;
  }

  private createModel(r: W.CreateModelRequest): unknown {
    const s = this.session(r.session_id);
    const lora = r.lora_config ? this.loraConfig(r.lora_config) : null;
    const critic = r.model_role === 'critic';
    if (lora && critic)
      throw new HttpError(400, 'lora_config: a critic (model_role "critic") is trained in full');
    if (r.model_role !== undefined && r.model_role !== 'policy' && !critic) {
      throw new HttpError(400, `model_role: ${JSON.stringify(r.model_role)} is not a role (policy | critic)`);
    }
    if (critic && !this.provider.supportsValueHead) {
      throw new HttpError(
        400,
        'model_role: "critic" is not supported by this engine (no value head); use GRPO, or PPO in process',
      );
    }
    this.checkBaseModel(r.base_model, 'base_model');
    const key = `${r.session_id}\u0000${r.model_seq_id}`;
    const prior = this.createdModels.get(key);
    if (prior) return { request_id: prior };
    const id = `model_${hex8()}`;
    const opts = critic ? { valueHead: true } : lora ? { lora } : undefined;
    const work = this.provider.load(undefined, opts).then((trainer) => {
      this.register(id, r.session_id, trainer, 1, critic, lora);
      s.models.add(id);
      return { model_id: id, type: 'create_model' };
    });
    const request_id = this.futures.create(work);
    this.createdModels.set(key, request_id);
    return { request_id, model_id: id };
  }

  private register(
    id: string,
    sessionId: string,
    trainer: Trainer,
    firstSeq: number,
    critic = false,
    lora: LoraConfig | null = null,
  ): ModelRecord {
    const executor = new Executor();
    const rec: ModelRecord = {
      id,
      sessionId,
      trainer,
      executor,
      queue: new SeqQueue(executor, firstSeq, this.opts.seqGapMs ?? 2000),
      version: 0,
      critic,
      lora,
    };
    this.models.set(id, rec);
    return rec;
  }

  private forwardBackward(route: 'forward' | 'forward_backward', body: unknown): unknown {
    const isForward = route === 'forward';
    const r = isForward ? this.parse(W.ForwardRequest, body) : this.parse(W.ForwardBackwardRequest, body);
    const field = isForward ? 'forward_input' : 'forward_backward_input';
    const input: W.FBInput = isForward
      ? (r as W.ForwardRequest).forward_input
      : (r as W.ForwardBackwardRequest).forward_backward_input;
    const m = this.model(r.model_id);
    let loss: ResolvedLoss;
    try {
      loss = resolveLoss(input.loss_fn, input.loss_fn_config, field);
    } catch (err) {
      throw new HttpError(400, (err as Error).message);
    }
    const wantEntropy = (input.loss_fn_config?.[RETURN_ENTROPY_KEY] ?? 0) !== 0;
    if (wantEntropy && !isForward)
      throw new HttpError(400, `${field}.loss_fn_config.${RETURN_ENTROPY_KEY}: only for forward`);
    const parsed = input.data.map((d, i) => parseDatum(d, loss, `${field}.data[${i}]`));
    const batch = parsed.map((p) => p.datum);
    const entropyTerm = parsed.some((p) => p.entropyWeights);
    if (entropyTerm && isForward)
      throw new HttpError(400, `${field}.data: entropy_weights is a forward_backward input`);
    const valueTerm = parsed.some((p) => p.valueWeights);
    if (valueTerm && (isForward || !m.critic)) {
      throw new HttpError(400, `${field}.data: value_weights is a forward_backward input of critic models`);
    }
    return this.submitOrdered(m, r.seq_id, r, async () => {
      const outputs: Record<string, W.TensorData>[] = [];
      let lossSum = 0;
      let clipped = 0;
      let tokens = 0;
      const record = (
        logprobs: Float32Array[],
        entropy?: Float32Array[],
        values?: Float32Array[],
      ): Float32Array[] =>
        logprobs.map((p, i) => {
          const e = elementwiseLoss(loss, p, parsed[i]!.inputs);
          const ew = parsed[i]!.entropyWeights;
          if (ew && entropy)
            for (let t = 0; t < ew.length; t++) e.loss[t] = e.loss[t]! - ew[t]! * entropy[i]![t]!;
          const vw = parsed[i]!.valueWeights;
          if (vw && values)
            for (let t = 0; t < vw.length; t++) e.loss[t] = e.loss[t]! - vw[t]! * values[i]![t]!;
          for (const x of e.loss) lossSum += x;
          clipped += e.clipped;
          tokens += p.length;
          outputs.push({
            logprobs: tensor(p),
            elementwise_loss: tensor(e.loss),
            ...(entropy && (isForward || ew) ? { entropy: tensor(entropy[i]!) } : {}),
            ...(values ? { values: tensor(values[i]!) } : {}),
          });
          return e.dLogp;
        });
      if (isForward) {
        const outs = await m.trainer.forward(batch, { entropy: wantEntropy });
        record(
          outs.map((o) => o.logprobs),
          wantEntropy ? outs.map((o, i) => o.entropy ?? failNoEntropy(i)) : undefined,
          m.critic ? outs.map((o, i) => o.values ?? failNoValues(i)) : undefined,
        );
      } else {
        await m.trainer.forwardBackward(batch, {
          type: 'custom',
          needsEntropy: entropyTerm,
          fn: (outs) => {
            if (outs.length !== batch.length)
              throw new Error(`engine returned ${outs.length} outputs for ${batch.length} datums`);
            const entropy = entropyTerm ? outs.map((o, i) => o.entropy ?? failNoEntropy(i)) : undefined;
            const values = valueTerm ? outs.map((o, i) => o.values ?? failNoValues(i)) : undefined;
            const dLogprobs = record(
              outs.map((o) => o.logprobs),
              entropy,
              values,
            );
            // loss = … − Σ ew·H  ⇒  ∂loss/∂H = −ew
            const dEntropy = entropyTerm
              ? parsed.map((p, i) =>
                  p.entropyWeights
                    ? p.entropyWeights.map((x) => -x)
                    : new Float32Array(batch[i]!.inputTokens.length),
                )
              : undefined;
            // loss = … − Σ vw·V  ⇒  ∂loss/∂V = −vw
            const dValues = valueTerm
              ? parsed.map((p, i) =>
                  p.valueWeights
                    ? p.valueWeights.map((x) => -x)
                    : new Float32Array(batch[i]!.inputTokens.length),
                )
              : undefined;
            return {
              loss: lossSum,
              dLogprobs,
              ...(dEntropy ? { dEntropy } : {}),
              ...(dValues ? { dValues } : {}),
            };
          },
        });
      }
      const metrics: Record<string, number> = { 'loss:sum': lossSum };
      if (loss.name === 'ppo' || loss.name === 'cispo') metrics['clipped_tokens:sum'] = clipped;
      metrics['num_tokens:sum'] = tokens;
      return { loss_fn_output_type: loss.name, loss_fn_outputs: outputs, metrics };
    });
  }

  private async saveWeights(r: W.SaveWeightsRequest): Promise<unknown> {
    const m = this.model(r.model_id);
    const name = r.path ?? `ckpt-${r.seq_id ?? Date.now()}`;
    if (!W.CHECKPOINT_NAME.test(name))
      throw new HttpError(
        400,
        `path: checkpoint name must match [A-Za-z0-9_-]{1,255}, got ${JSON.stringify(name)}`,
      );
    const dir = join(this.root, m.id, 'weights', name);
    const replay = r.seq_id !== undefined && this.idem.lookup(m.id, r.seq_id, canonicalBody(r));
    if (!replay && !r.overwrite && existsSync(dir))
      throw new HttpError(409, `path: checkpoint ${name} already exists (set overwrite)`);
    const tinkerPath = W.formatTinkerPath({ runId: m.id, kind: 'weights', name });
    return this.submitOrdered(m, r.seq_id, r, async () => {
      await m.trainer.saveWeights(dir, { optimizer: true });
      return { path: tinkerPath, type: 'save_weights' };
    });
  }

  private saveForSampler(r: W.SaveWeightsForSamplerRequest): unknown {
    const m = this.model(r.model_id);
    if (r.path === undefined) {
      // Ephemeral sampler: the live weights as of this point in the model's queue.
      return this.submitOrdered(m, r.seq_id, r, async () => {
        const id = `sampling_${hex8()}`;
        this.samplers.set(id, { id, kind: 'live', modelId: m.id, version: m.version });
        return { path: null, sampling_session_id: id, type: 'save_weights_for_sampler' };
      });
    }
    if (!W.CHECKPOINT_NAME.test(r.path))
      throw new HttpError(
        400,
        `path: checkpoint name must match [A-Za-z0-9_-]{1,255}, got ${JSON.stringify(r.path)}`,
      );
    const dir = join(this.root, m.id, 'sampler_weights', r.path);
    const replay = r.seq_id !== undefined && this.idem.lookup(m.id, r.seq_id, canonicalBody(r));
    if (!replay && existsSync(dir))
      throw new HttpError(409, `path: sampler checkpoint ${r.path} already exists`);
    const tinkerPath = W.formatTinkerPath({ runId: m.id, kind: 'sampler_weights', name: r.path });
    return this.submitOrdered(m, r.seq_id, r, async () => {
      await m.trainer.saveWeights(dir, { optimizer: false });
      return { path: tinkerPath, type: 'save_weights_for_sampler' };
    });
  }

  private loadWeights(r: W.LoadWeightsRequest): unknown {
    const dir = this.checkpointDir(r.path, 'path');
    if (r.model_id !== undefined) {
      // Legacy addressing. Our engine can load at any point, so we do not restrict it to the
      // model's first request (the hosted service does).
      const m = this.model(r.model_id);
      return this.submitOrdered(m, r.seq_id, r, async () => {
        await m.trainer.loadWeights(dir, { optimizer: r.optimizer });
        m.version++;
        return { path: r.path, model_id: m.id, type: 'load_weights' };
      });
    }
    if (r.session_id === undefined || r.model_seq_id === undefined) {
      throw new HttpError(
        400,
        'load_weights: give model_id (+ seq_id), or session_id + model_seq_id to create a model from the checkpoint',
      );
    }
    const s = this.session(r.session_id);
    if (r.base_model !== undefined) this.checkBaseModel(r.base_model, 'base_model');
    const critic = r.model_role === 'critic';
    if (critic && !this.provider.supportsValueHead) {
      throw new HttpError(400, 'model_role: "critic" is not supported by this engine (no value head)');
    }
    const key = `${r.session_id}\u0000${r.model_seq_id}`;
    const prior = this.createdModels.get(key);
    if (prior) return { request_id: prior };
    const id = `model_${hex8()}`;
    const work = (async () => {
      const trainer = await this.provider.load(dir, critic ? { valueHead: true } : undefined);
      if (r.optimizer) await trainer.loadWeights(dir, { optimizer: true });
      this.register(id, r.session_id!, trainer, 1, critic, this.checkpointLora(dir));
      s.models.add(id);
      return { path: r.path, model_id: id, type: 'load_weights' };
    })();
    const request_id = this.futures.create(work);
    this.createdModels.set(key, request_id);
    return { request_id, model_id: id };
  }

  /** A trainer (and its executor) for sampling a checkpoint dir or the base model. */
  private samplingTrainer(
    key: string,
    dir: string | undefined,
  ): { trainer: Promise<Trainer>; executor: Executor } {
    let t = this.samplingTrainers.get(key);
    if (!t) {
      t = { trainer: this.provider.load(dir), executor: new Executor() };
      // Keep a handful; checkpoints are sampled rarely compared to the live model.
      if (this.samplingTrainers.size >= 4) {
        const oldest = this.samplingTrainers.keys().next().value!;
        const old = this.samplingTrainers.get(oldest)!;
        this.samplingTrainers.delete(oldest);
        void old.executor.run(async () => dispose(await old.trainer));
      }
      this.samplingTrainers.set(key, t);
    }
    return t;
  }

  private asample(r: W.WireSampleRequest): unknown {
    const tokens: number[] = [];
    r.prompt.chunks.forEach((c, j) => {
      if (c.type !== 'encoded_text')
        throw new HttpError(400, `prompt.chunks[${j}].type: ${c.type} chunks are not supported (text only)`);
      tokens.push(...(c as { tokens: number[] }).tokens);
    });
    if (tokens.length === 0) throw new HttpError(400, 'prompt: empty');
    if (r.topk_prompt_logprobs > 0)
      throw new HttpError(400, 'topk_prompt_logprobs: not supported by search-r1 serve-trainer');
    const sp = r.sampling_params;
    if (sp.max_tokens !== undefined && sp.max_tokens <= 0)
      throw new HttpError(400, 'sampling_params.max_tokens: must be > 0');

    // Resolve the model to sample and where to run it.
    let run: (job: (t: Trainer) => Promise<unknown>) => Promise<unknown>;
    let scope: string | null = null;
    if (r.sampling_session_id !== undefined) {
      const s = this.samplers.get(r.sampling_session_id);
      if (!s)
        throw new HttpError(
          404,
          `sampling_session_id: unknown sampler ${JSON.stringify(r.sampling_session_id)}`,
        );
      scope = s.id;
      if (s.kind === 'live') {
        const m = this.model(s.modelId);
        run = (job) =>
          m.queue.enqueue(undefined, async () => {
            if (m.version !== s.version) {
              throw new FutureFailure(
                `sampling_session_id ${s.id}: the model's weights changed after this sampler was saved; call save_weights_for_sampler again`,
              );
            }
            return job(m.trainer);
          });
      } else {
        const t = this.samplingTrainer(
          s.kind === 'path' ? s.path : 'base',
          s.kind === 'path' ? this.checkpointDir(s.path, 'model_path') : undefined,
        );
        run = (job) => t.executor.run(async () => job(await t.trainer));
      }
    } else if (r.model_path !== undefined) {
      const t = this.samplingTrainer(r.model_path, this.checkpointDir(r.model_path, 'model_path'));
      run = (job) => t.executor.run(async () => job(await t.trainer));
    } else {
      this.checkBaseModel(r.base_model!, 'base_model');
      const t = this.samplingTrainer('base', undefined);
      run = (job) => t.executor.run(async () => job(await t.trainer));
    }

    const canon = canonicalBody(r);
    if (scope !== null && r.seq_id !== undefined) {
      const hit = this.idem.lookup(scope, r.seq_id, canon);
      if (hit === 'conflict')
        throw new HttpError(
          409,
          `seq_id ${r.seq_id} of sampler ${scope} was already used by a different request`,
        );
      if (hit) return { request_id: hit.requestId };
    }
    const work = run(async (trainer) => {
      let stop: string[] = [];
      if (typeof sp.stop === 'string') stop = [sp.stop];
      else if (Array.isArray(sp.stop)) {
        // Token-id stops become the strings they decode to (the engine stops on strings and EOS).
        stop = sp.stop.map((s) => (typeof s === 'number' ? trainer.tokenizer.decode([s]) : s));
      }
      const req: EngineSampleRequest = {
        prompts: [tokens],
        maxTokens: sp.max_tokens ?? this.opts.defaultMaxTokens ?? 512,
        stop,
        temperature: sp.temperature,
        topP: sp.top_p,
        ...(sp.top_k > 0 ? { topK: sp.top_k } : {}),
        n: r.num_samples,
        ...(sp.seed !== undefined ? { seed: sp.seed } : {}),
      };
      const [completions] = await trainer.sample(req);
      if (!completions || completions.length !== r.num_samples) {
        throw new FutureFailure(
          `engine returned ${completions?.length ?? 0} samples, asked for ${r.num_samples}`,
          'server',
        );
      }
      let promptLogprobs: (number | null)[] | null = null;
      if (r.prompt_logprobs) {
        promptLogprobs = [null];
        if (tokens.length > 1) {
          const [out] = await trainer.forward([
            { inputTokens: tokens.slice(0, -1), targetTokens: tokens.slice(1) },
          ]);
          promptLogprobs.push(...Array.from(out!.logprobs));
        }
      }
      return {
        type: 'sample',
        sequences: completions.map((c) => ({
          tokens: c.tokens,
          logprobs: c.logprobs,
          stop_reason: c.finish === 'length' ? 'length' : 'stop',
        })),
        prompt_logprobs: promptLogprobs,
        topk_prompt_logprobs: null,
        prompt_cache_hit_tokens: 0,
      };
    });
    const request_id = this.futures.create(work);
    if (scope !== null && r.seq_id !== undefined) this.idem.record(scope, r.seq_id, canon, request_id);
    return { request_id };
  }

  private async retrieve(r: { request_id: string }): Promise<unknown> {
    let st = this.futures.status(r.request_id);
    if (st.kind === 'pending') {
      await this.futures.wait(r.request_id, this.opts.longPollMs ?? 20_000);
      st = this.futures.status(r.request_id);
    }
    switch (st.kind) {
      case 'done':
        return st.value;
      case 'failed':
        return st.error;
      case 'pending':
        return { type: 'try_again', request_id: r.request_id, queue_state: 'active' };
      case 'expired':
        throw new HttpError(410, `request_id ${r.request_id}: the result expired; resubmit the request`);
      case 'unknown':
        throw new HttpError(404, `request_id: unknown request ${JSON.stringify(r.request_id)}`);
    }
  }
}

/** Frees an engine instance's memory when it has a dispose() (EmbeddedTrainer does). */
function dispose(t: Trainer): void {
  const d = (t as Partial<{ dispose(): void }>).dispose;
  if (typeof d === 'function') d.call(t);
}

function failNoValues(i: number): never {
  throw new FutureFailure(
    `the engine returned no values for datum ${i} (critic without a value head)`,
    'server',
  );
}

function failNoEntropy(i: number): never {
  throw new FutureFailure(`the engine returned no entropy for datum ${i}`, 'server');
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): unknown {
  const text = raw.toString('utf8');
  if (text.length === 0) return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
  }
}

function isProto(header: string | undefined): boolean {
  return (header ?? '').toLowerCase().includes(PROTO_CONTENT_TYPE);
}

/**
 * A protobuf body (SDK ≥ 0.25: forward_backward only, zstd when Content-Encoding says so) → the
 * JSON-shaped request of the same route; `forward_only` turns it into a forward.
 */
async function protoRequest(
  route: string,
  raw: Buffer,
  req: IncomingMessage,
): Promise<{ route: string; body: unknown }> {
  if (route !== 'forward_backward')
    throw new HttpError(415, `${route}: protobuf bodies are only accepted by forward_backward; send JSON`);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  let bytes: Uint8Array = raw;
  if (encoding === 'zstd') {
    try {
      bytes = await zstdDecompress(raw, MAX_BODY);
    } catch (err) {
      throw new HttpError(400, `body: Content-Encoding is zstd but the body is a ${(err as Error).message}`);
    }
  } else if (encoding !== 'identity') {
    throw new HttpError(415, `Content-Encoding: ${encoding} is not supported (identity or zstd)`);
  }
  let decoded: ReturnType<typeof decodeForwardBackwardRequest>;
  try {
    decoded = decodeForwardBackwardRequest(bytes);
  } catch (err) {
    if (err instanceof ProtoError) throw new HttpError(400, err.message);
    throw err;
  }
  const { request, forwardOnly } = decoded;
  if (!forwardOnly) return { route, body: request };
  const { forward_backward_input, ...rest } = request;
  return { route: 'forward', body: { ...rest, forward_input: forward_backward_input } };
}

/** A finished future's result as protobuf when it is one of the messages the SDK reads so. */
function protoResult(out: unknown): Uint8Array | null {
  if (typeof out !== 'object' || out === null) return null;
  if ('loss_fn_outputs' in out) return encodeForwardBackwardOutput(out as W.ForwardBackwardOutput);
  if ('sequences' in out) return encodeSampleResponse(out as W.SampleResponse);
  return null;
}

function sendBytes(res: ServerResponse, status: number, body: Uint8Array): void {
  res.writeHead(status, { 'content-type': PROTO_CONTENT_TYPE, 'content-length': body.length });
  res.end(body);
}

/** Starts a Tinker API server over `provider`; returns the server and its bound port. */
export async function startTinkerServer(
  provider: TrainerProvider,
  opts: TinkerServerOptions,
): Promise<{ server: TinkerServer; port: number; url: string }> {
  const server = new TinkerServer(provider, opts);
  const port = await server.listen();
  return { server, port, url: `http://${opts.host ?? '127.0.0.1'}:${port}` };
}
