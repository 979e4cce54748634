// Wire types of the Tinker training API (docs/tinker-api.md §2–§6), as zod schemas shared by the
// client (src/policy/tinker) and our server (src/policy/tinker-server).
//
// Conventions, straight from the document's field tables:
// - `type` literals are optional and ignored on input (the SDK sends them; servers must ignore them).
// - Unknown fields are ignored: every object schema is a plain z.object, which strips them.
// - Defaults are the document's defaults, so a parsed value always carries them.
import { z } from 'zod';

const ignoredType = z.string().optional();
const int = z.number().int();

// ---------- §5 data types ----------

export const EncodedTextChunk = z.object({ type: z.literal('encoded_text'), tokens: z.array(int) });
/** Chunks we do not support are still recognised, so errors can name them instead of "invalid". */
export const OtherChunk = z.object({ type: z.enum(['image', 'image_asset_pointer', 'dmel']) });
export const ModelChunk = z.union([EncodedTextChunk, OtherChunk]);
export const ModelInput = z.object({ chunks: z.array(ModelChunk) });
export type ModelInput = z.infer<typeof ModelInput>;

export const TensorData = z.object({
  data: z.array(z.number()),
  dtype: z.enum(['int64', 'float32']),
  shape: z.array(int).optional(),
  sparse_crow_indices: z.array(int).optional(),
  sparse_col_indices: z.array(int).optional(),
});
export type TensorData = z.infer<typeof TensorData>;

export const WireDatum = z.object({
  model_input: ModelInput,
  loss_fn_inputs: z.record(z.string(), TensorData),
});
export type WireDatum = z.infer<typeof WireDatum>;

export const LossFnName = z.string().min(1);

export const FBInput = z.object({
  data: z.array(WireDatum),
  loss_fn: LossFnName,
  loss_fn_config: z.record(z.string(), z.number()).optional(),
});
export type FBInput = z.infer<typeof FBInput>;

/** Metric keys are `name:reduction` with exactly one colon (§4 field notes). */
export const METRIC_KEY = /^[^:]+:(sum|mean|min|max|slack|hash_unordered|unique)$/;

export const ForwardBackwardOutput = z.object({
  loss_fn_output_type: z.string(),
  loss_fn_outputs: z.array(z.record(z.string(), TensorData)),
  metrics: z.record(z.string(), z.number()),
});
export type ForwardBackwardOutput = z.infer<typeof ForwardBackwardOutput>;

// ---------- §2 futures ----------

export const UntypedAck = z.object({
  request_id: z.union([z.string(), z.number()]).transform(String),
  model_id: z.string().optional(),
  future_id: z.string().optional(),
  status: z.string().optional(),
});
export type UntypedAck = z.infer<typeof UntypedAck>;

export const RetrieveFutureRequest = z.object({
  request_id: z.union([z.string(), z.number()]).transform(String),
  allow_metadata_only: z.boolean().default(false),
  type: ignoredType,
});

export const QueueState = z.enum(['active', 'paused_capacity', 'paused_rate_limit']);
export const TryAgain = z.object({
  type: z.literal('try_again'),
  request_id: z.union([z.string(), z.number()]).transform(String),
  queue_state: QueueState,
  queue_state_reason: z.string().optional(),
});
export const ErrorCategory = z.enum(['unknown', 'server', 'user']);
export const FutureError = z.object({ error: z.string(), category: ErrorCategory });
export const CompleteMetadata = z.object({
  status: z.literal('complete_metadata'),
  response_payload_size: int,
});

// ---------- §3 sessions and service ----------

export const CreateSessionRequest = z.object({
  tags: z.array(z.string()),
  user_metadata: z.record(z.string(), z.unknown()).optional(),
  sdk_version: z.string(),
  project_id: z.string().optional(),
  type: ignoredType,
});
export const CreateSessionResponse = z.object({
  type: ignoredType,
  session_id: z.string(),
  info_message: z.string().nullish(),
  warning_message: z.string().nullish(),
  error_message: z.string().nullish(),
});
export const SessionHeartbeatRequest = z.object({ session_id: z.string(), type: ignoredType });
export const SessionHeartbeatResponse = z.object({ type: ignoredType });
export const HealthzResponse = z.object({ status: z.literal('ok') });
export const ServerCapabilities = z.object({
  supported_models: z.array(
    z.object({ model_name: z.string().nullish(), max_context_length: int.nullish() }),
  ),
  /** search-r1 serve-trainer only (other servers omit it): protocol extensions it implements. */
  search_r1_extensions: z.array(z.string()).optional(),
});
/**
 * Our extension, offered by serve-trainer in get_server_capabilities: forward returns per-token
 * `entropy` when loss_fn_config has `return_entropy: 1`, and forward_backward accepts an
 * `entropy_weights` input adding −Σ entropy_weights·H to the loss (so an entropy bonus trains).
 */
export const EXT_ENTROPY = 'entropy';
/**
 * Our extension: create_model accepts `model_role: "critic"` (a value head on the base model);
 * a critic's forward returns per-token `values`, and its forward_backward accepts a `value_weights`
 * input adding −Σ value_weights·V to the loss (so any client-side value loss trains, as
 * forward_backward_custom does for log-probs). This is what PPO needs.
 */
export const EXT_VALUES = 'critic_values';
export const ClientConfigRequest = z.object({ sdk_version: z.string() });
/** Feature flags: every field optional with a default (§3). */
export const ClientConfigResponse = z.object({
  pjwt_auth_enabled: z.boolean().default(false),
  proto_write_fwdbwd: z.boolean().default(false),
  proto_compress_fwdbwd: z.boolean().default(false),
  fwd_via_fwdbwd: z.boolean().default(false),
  create_model_via_load_weights: z.boolean().default(false),
  fwdbwd_max_chunk_len: int.default(1024),
  fwdbwd_max_chunk_bytes_count: int.default(5_000_000),
});
export type ClientConfig = z.infer<typeof ClientConfigResponse>;
export const TelemetryRequest = z.object({
  events: z.array(z.unknown()),
  platform: z.string(),
  sdk_version: z.string(),
  session_id: z.string(),
});
export const TelemetryResponse = z.object({ status: z.literal('accepted') });

// ---------- §4 endpoints ----------

export const LoraConfig = z
  .object({
    rank: int,
    seed: int.optional(),
    train_mlp: z.boolean().default(true),
    train_attn: z.boolean().default(true),
    train_unembed: z.boolean().default(true),
  })
  .refine((c) => c.train_mlp || c.train_attn || c.train_unembed, {
    message: 'at least one of train_mlp, train_attn, train_unembed must be true',
  });
export type LoraConfig = z.infer<typeof LoraConfig>;

export const CreateModelRequest = z.object({
  session_id: z.string(),
  model_seq_id: int,
  base_model: z.string(),
  lora_config: LoraConfig.optional(),
  user_metadata: z.record(z.string(), z.unknown()).optional(),
  /** [SkyRL] extension: "policy" (default) or "critic". */
  model_role: z.string().optional(),
  type: ignoredType,
});
export type CreateModelRequest = z.infer<typeof CreateModelRequest>;
export const CreateModelResponse = z.object({ model_id: z.string(), type: ignoredType });

export const GetInfoRequest = z.object({ model_id: z.string(), type: ignoredType });
export const GetInfoResponse = z.object({
  model_id: z.string(),
  model_data: z.object({
    arch: z.string().nullish(),
    model_name: z.string().nullish(),
    tokenizer_id: z.string().nullish(),
  }),
  is_lora: z.boolean().nullish(),
  lora_rank: int.nullish(),
  model_name: z.string().nullish(),
  type: ignoredType,
});

export const UnloadModelRequest = z.object({ model_id: z.string(), type: ignoredType });
export const UnloadModelResponse = z.object({ model_id: z.string(), type: ignoredType });

export const ForwardBackwardRequest = z.object({
  model_id: z.string(),
  seq_id: int.optional(),
  forward_backward_input: FBInput,
});
export type ForwardBackwardRequest = z.infer<typeof ForwardBackwardRequest>;
export const ForwardRequest = z.object({
  model_id: z.string(),
  seq_id: int.optional(),
  forward_input: FBInput,
});
export type ForwardRequest = z.infer<typeof ForwardRequest>;

export const AdamParams = z.object({
  learning_rate: z.number().default(1e-4),
  beta1: z.number().default(0.9),
  beta2: z.number().default(0.95),
  eps: z.number().default(1e-12),
  weight_decay: z.number().default(0),
  grad_clip_norm: z.number().default(0),
});
export type AdamParams = z.infer<typeof AdamParams>;
export const OptimStepRequest = z.object({
  model_id: z.string(),
  seq_id: int.optional(),
  adam_params: AdamParams,
  type: ignoredType,
});
export type OptimStepRequest = z.infer<typeof OptimStepRequest>;
export const OptimStepResponse = z.object({ metrics: z.record(z.string(), z.number()).nullish() });

/** Checkpoint names (§7): SkyRL enforces this; we do too. */
export const CHECKPOINT_NAME = /^[A-Za-z0-9_-]{1,255}$/;

export const SaveWeightsRequest = z.object({
  model_id: z.string(),
  path: z.string().optional(),
  seq_id: int.optional(),
  ttl_seconds: int.optional(),
  overwrite: z.boolean().default(false),
  type: ignoredType,
});
export type SaveWeightsRequest = z.infer<typeof SaveWeightsRequest>;
export const SaveWeightsResponse = z.object({ path: z.string(), type: ignoredType });

export const SaveWeightsForSamplerRequest = z.object({
  model_id: z.string(),
  path: z.string().optional(),
  sampling_session_seq_id: int.optional(),
  seq_id: int.optional(),
  ttl_seconds: int.optional(),
  type: ignoredType,
});
export type SaveWeightsForSamplerRequest = z.infer<typeof SaveWeightsForSamplerRequest>;
export const SaveWeightsForSamplerResponse = z.object({
  path: z.string().nullish(),
  sampling_session_id: z.string().nullish(),
  type: ignoredType,
});

export const LoadWeightsRequest = z.object({
  path: z.string(),
  optimizer: z.boolean(),
  model_id: z.string().optional(),
  seq_id: int.optional(),
  session_id: z.string().optional(),
  model_seq_id: int.optional(),
  base_model: z.string().optional(),
  user_metadata: z.record(z.string(), z.unknown()).optional(),
  weights_access_token: z.string().optional(),
  /** Our extension (create-via-load of a critic, see EXT_VALUES). */
  model_role: z.string().optional(),
  type: ignoredType,
});
export type LoadWeightsRequest = z.infer<typeof LoadWeightsRequest>;
export const LoadWeightsResponse = z.object({
  path: z.string().nullish(),
  model_id: z.string().nullish(),
  type: ignoredType,
});

export const CreateSamplingSessionRequest = z.object({
  session_id: z.string(),
  sampling_session_seq_id: int,
  base_model: z.string().optional(),
  model_path: z.string().optional(),
  type: ignoredType,
});
export const CreateSamplingSessionResponse = z.object({
  sampling_session_id: z.string(),
  type: ignoredType,
});

export const WeightsInfoRequest = z.object({ tinker_path: z.string() });
export const WeightsInfoResponse = z.object({
  base_model: z.string(),
  is_lora: z.boolean(),
  lora_rank: int.nullish(),
  train_unembed: z.boolean().nullish(),
  train_mlp: z.boolean().nullish(),
  train_attn: z.boolean().nullish(),
});

// ---------- §6 sampling ----------

export const SamplingParams = z
  .object({
    max_tokens: int.optional(),
    temperature: z.number().default(1),
    top_p: z.number().default(1),
    top_k: int.default(-1),
    seed: int.optional(),
    stop: z.union([z.string(), z.array(z.string()), z.array(int)]).optional(),
  })
  .refine(
    (p) =>
      !Array.isArray(p.stop) || p.stop.length === 0 || p.stop.every((s) => typeof s === typeof p.stop![0]),
    {
      message: 'stop: token-id stops and string stops cannot be mixed',
      path: ['stop'],
    },
  );
export type SamplingParams = z.infer<typeof SamplingParams>;

export const SampleRequest = z
  .object({
    prompt: ModelInput,
    sampling_params: SamplingParams,
    num_samples: int.min(1).default(1),
    prompt_logprobs: z.boolean().optional(),
    topk_prompt_logprobs: int.default(0),
    sampling_session_id: z.string().optional(),
    seq_id: int.optional(),
    model_path: z.string().optional(),
    base_model: z.string().optional(),
    type: ignoredType,
  })
  .refine(
    (r) => [r.sampling_session_id, r.model_path, r.base_model].filter((x) => x !== undefined).length === 1,
    { message: 'use exactly one of sampling_session_id, model_path, base_model' },
  )
  .refine((r) => r.sampling_session_id === undefined || r.seq_id !== undefined, {
    message: 'sampling_session_id requires seq_id',
    path: ['seq_id'],
  });
export type WireSampleRequest = z.infer<typeof SampleRequest>;

export const StopReason = z.enum(['stop', 'length']);
export const SampledSequence = z.object({
  tokens: z.array(int),
  logprobs: z.array(z.number()).nullish(),
  stop_reason: StopReason,
});
export const SampleResponse = z.object({
  type: ignoredType,
  sequences: z.array(SampledSequence),
  prompt_logprobs: z.array(z.number().nullable()).nullish(),
  topk_prompt_logprobs: z.array(z.array(z.tuple([int, z.number()])).nullable()).nullish(),
  prompt_cache_hit_tokens: int.nullish(),
});
export type SampleResponse = z.infer<typeof SampleResponse>;

export const SamplerInfo = z.object({
  sampler_id: z.string(),
  base_model: z.string(),
  model_path: z.string().nullish(),
});

// ---------- errors ----------

/** FastAPI-style error bodies: {"detail": msg} or 422 {"detail": [{loc, msg}]}. */
export const ErrorBody = z.object({
  detail: z.union([
    z.string(),
    z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string() })),
  ]),
});

/** One line per zod issue: `field.path: message` (so errors name the field). */
export function describeIssues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`).join('; ');
}

// ---------- checkpoint paths (§7) ----------

export interface TinkerPath {
  runId: string;
  kind: 'weights' | 'sampler_weights';
  name: string;
}

/** Parses `tinker://<run>/(weights|sampler_weights)/<name>`; SkyRL's `tinker://<run>/<name>` is a sampler path. */
export function parseTinkerPath(path: string): TinkerPath {
  if (!path.startsWith('tinker://')) throw new Error(`not a tinker:// path: ${JSON.stringify(path)}`);
  const parts = path.slice('tinker://'.length).split('/');
  if (parts.length === 2 && parts.every((p) => p.length > 0)) {
    return { runId: parts[0]!, kind: 'sampler_weights', name: parts[1]! };
  }
  if (parts.length !== 3 || (parts[1] !== 'weights' && parts[1] !== 'sampler_weights')) {
    throw new Error(
      `tinker path must be tinker://<run>/weights/<name> or tinker://<run>/sampler_weights/<name>, got ${JSON.stringify(path)}`,
    );
  }
  if (!CHECKPOINT_NAME.test(parts[2]!)) throw new Error(`bad checkpoint name in ${JSON.stringify(path)}`);
  return { runId: parts[0]!, kind: parts[1], name: parts[2]! };
}

export function formatTinkerPath(p: TinkerPath): string {
  return `tinker://${p.runId}/${p.kind}/${p.name}`;
}
