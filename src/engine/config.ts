// Model configuration (Hugging Face-like) for the decoder-only Qwen2 / Llama family, plus presets.
export type Arch = 'qwen2' | 'llama';

export interface ModelConfig {
  arch: Arch;
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  ropeTheta: number;
  rmsNormEps: number;
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (Qwen2: true, Llama: false). */
  attentionBias: boolean;
  maxPositionEmbeddings: number;
  /** Scalar value head (`value_head.weight` [1, hidden], `value_head.bias` [1]) — a PPO critic. */
  valueHead?: boolean;
}

export type PresetName = 'tiny' | 'reference';

/** Presets: `tiny` for tests, `reference` (~3.3M parameters) for the benchmark and the bundled world model. */
export function presetConfig(name: PresetName, arch: Arch = 'qwen2'): ModelConfig {
  const base = {
    arch,
    attentionBias: arch === 'qwen2',
    rmsNormEps: 1e-6,
    ropeTheta: 10000,
  };
  switch (name) {
    case 'tiny':
      return {
        ...base,
        vocabSize: 259,
        hiddenSize: 64,
        intermediateSize: 128,
        numLayers: 2,
        numHeads: 4,
        numKvHeads: 2,
        headDim: 16,
        tieWordEmbeddings: arch === 'qwen2',
        maxPositionEmbeddings: 2048,
      };
    case 'reference':
      return {
        ...base,
        vocabSize: 512,
        hiddenSize: 256,
        intermediateSize: 688,
        numLayers: 4,
        numHeads: 4,
        numKvHeads: 4,
        headDim: 64,
        tieWordEmbeddings: true,
        maxPositionEmbeddings: 4096,
      };
    default:
      throw new Error(`unknown preset "${String(name)}" (expected tiny | reference)`);
  }
}

/** Throws a clear error naming the field when a config is not usable. */
export function validateConfig(c: ModelConfig): ModelConfig {
  const posInt = (k: keyof ModelConfig) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
      throw new Error(`model config: field "${k}" must be a positive integer, got ${String(v)}`);
  };
  if (c.arch !== 'qwen2' && c.arch !== 'llama')
    throw new Error(`model config: unsupported arch "${String(c.arch)}" (expected qwen2 | llama)`);
  for (const k of [
    'vocabSize',
    'hiddenSize',
    'intermediateSize',
    'numLayers',
    'numHeads',
    'numKvHeads',
    'headDim',
    'maxPositionEmbeddings',
  ] as const)
    posInt(k);
  if (c.numHeads % c.numKvHeads !== 0)
    throw new Error(
      `model config: numHeads (${c.numHeads}) must be a multiple of numKvHeads (${c.numKvHeads})`,
    );
  if (c.headDim % 2 !== 0) throw new Error(`model config: headDim (${c.headDim}) must be even for RoPE`);
  if (!(c.ropeTheta > 0)) throw new Error(`model config: field "ropeTheta" must be > 0`);
  if (!(c.rmsNormEps > 0)) throw new Error(`model config: field "rmsNormEps" must be > 0`);
  return c;
}

/** HF `config.json` → ModelConfig. Unknown architectures fail with the field named. */
export function configFromHf(j: Record<string, unknown>, source = 'config.json'): ModelConfig {
  const mt = String(j.model_type ?? '');
  const arch: Arch | null = mt === 'qwen2' ? 'qwen2' : mt === 'llama' ? 'llama' : null;
  if (!arch) throw new Error(`${source}: unsupported model_type "${mt}" (expected qwen2 | llama)`);
  const num = (k: string, d?: number): number => {
    const v = j[k];
    if (v === undefined || v === null) {
      if (d !== undefined) return d;
      throw new Error(`${source}: missing field "${k}"`);
    }
    if (typeof v !== 'number') throw new Error(`${source}: field "${k}" must be a number`);
    return v;
  };
  const rs = j.rope_scaling as Record<string, unknown> | null | undefined;
  if (rs && rs.type !== undefined && rs.type !== 'default' && rs.rope_type !== 'default')
    throw new Error(`${source}: rope_scaling ${JSON.stringify(rs)} is not supported`);
  const hidden = num('hidden_size');
  const heads = num('num_attention_heads');
  return validateConfig({
    arch,
    vocabSize: num('vocab_size'),
    hiddenSize: hidden,
    intermediateSize: num('intermediate_size'),
    numLayers: num('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: num('num_key_value_heads', heads),
    headDim: num('head_dim', hidden / heads),
    ropeTheta: num('rope_theta', 10000),
    rmsNormEps: num('rms_norm_eps', 1e-6),
    tieWordEmbeddings: Boolean(j.tie_word_embeddings ?? false),
    attentionBias: arch === 'qwen2' ? true : Boolean(j.attention_bias ?? false),
    maxPositionEmbeddings: num('max_position_embeddings', 32768),
    valueHead: Boolean(j.value_head ?? false) || undefined,
  });
}

/** ModelConfig → HF `config.json` object (loadable by transformers). */
export function configToHf(c: ModelConfig): Record<string, unknown> {
  return {
    architectures: [c.arch === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: c.arch,
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    num_key_value_heads: c.numKvHeads,
    head_dim: c.headDim,
    rope_theta: c.ropeTheta,
    rms_norm_eps: c.rmsNormEps,
    tie_word_embeddings: c.tieWordEmbeddings,
    ...(c.arch === 'llama' ? { attention_bias: c.attentionBias, mlp_bias: false } : {}),
    max_position_embeddings: c.maxPositionEmbeddings,
    hidden_act: 'silu',
    torch_dtype: 'float32',
    ...(c.valueHead ? { value_head: true } : {}),
  };
}

/** Parameter tensors (HF names → shapes) of a config, in a fixed order. */
export function parameterShapes(c: ModelConfig): { name: string; shape: number[] }[] {
  const D = c.hiddenSize;
  const out: { name: string; shape: number[] }[] = [
    { name: 'model.embed_tokens.weight', shape: [c.vocabSize, D] },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `model.layers.${l}.`;
    out.push({ name: p + 'input_layernorm.weight', shape: [D] });
    out.push({ name: p + 'self_attn.q_proj.weight', shape: [c.numHeads * c.headDim, D] });
    out.push({ name: p + 'self_attn.k_proj.weight', shape: [c.numKvHeads * c.headDim, D] });
    out.push({ name: p + 'self_attn.v_proj.weight', shape: [c.numKvHeads * c.headDim, D] });
    if (c.attentionBias) {
      out.push({ name: p + 'self_attn.q_proj.bias', shape: [c.numHeads * c.headDim] });
      out.push({ name: p + 'self_attn.k_proj.bias', shape: [c.numKvHeads * c.headDim] });
      out.push({ name: p + 'self_attn.v_proj.bias', shape: [c.numKvHeads * c.headDim] });
    }
    out.push({ name: p + 'self_attn.o_proj.weight', shape: [D, c.numHeads * c.headDim] });
    out.push({ name: p + 'post_attention_layernorm.weight', shape: [D] });
    out.push({ name: p + 'mlp.gate_proj.weight', shape: [c.intermediateSize, D] });
    out.push({ name: p + 'mlp.up_proj.weight', shape: [c.intermediateSize, D] });
    out.push({ name: p + 'mlp.down_proj.weight', shape: [D, c.intermediateSize] });
  }
  out.push({ name: 'model.norm.weight', shape: [D] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, D] });
  if (c.valueHead) {
    out.push({ name: 'value_head.weight', shape: [1, D] });
    out.push({ name: 'value_head.bias', shape: [1] });
  }
  return out;
}

/**
 * The short shape names the forward, backward and inference code use (the "Shapes" comment in
 * forward.ts): D hidden, hd head dim, Hq/Hkv query/KV heads, I MLP width, V vocab, QD = Hq·hd, KD = Hkv·hd.
 */
export function shapeNames(c: ModelConfig) {
  return {
    D: c.hiddenSize,
    hd: c.headDim,
    Hq: c.numHeads,
    Hkv: c.numKvHeads,
    I: c.intermediateSize,
    V: c.vocabSize,
    QD: c.numHeads * c.headDim,
    KD: c.numKvHeads * c.headDim,
  };
}

export function countParameters(c: ModelConfig): number {
  return parameterShapes(c).reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
}
