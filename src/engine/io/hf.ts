// Hugging Face checkpoint folders: config.json, model.safetensors (or shards + index),
// generation_config.json, tokenizer.json, tokenizer_config.json.
//
// Loading validates the config (architecture, rope scaling, ...) and every tensor's presence and
// shape against the config from the safetensors headers *before* reading any weights, so a bad
// checkpoint fails fast with the file and tensor named. Saving writes a sibling temp folder and
// renames it into place, so a crash never leaves a half-written checkpoint at `dir`.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { configFromHf, configToHf, parameterShapes } from '../config.ts';
import type { ModelConfig } from '../config.ts';
import { HfTokenizer, loadTokenizer } from '../tokenizer.ts';
import type { Json, TokenizerFiles } from '../tokenizer.ts';
import {
  SafetensorsError,
  checkpointFiles,
  readSafetensors,
  readSafetensorsHeader,
  writeCheckpoint,
} from './safetensors.ts';
import type { SafetensorsDtype, TensorData, TensorMap, TensorTarget } from './safetensors.ts';

export type { TensorData, TensorMap, TensorTarget };

export interface HfFolder {
  config: ModelConfig;
  /** HF tensor name → fp32 tensor (every parameter of `parameterShapes(config)`). */
  tensors: TensorMap;
  tokenizer: HfTokenizer | null;
  generationConfig: Json | null;
  /** config.json as read (fields we do not model are kept for re-saving). */
  rawConfig: Json;
}

const SUPPORTED_ARCHITECTURES: Record<string, 'qwen2' | 'llama'> = {
  Qwen2ForCausalLM: 'qwen2',
  LlamaForCausalLM: 'llama',
};

export function readJson(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new Error(`${path}: invalid JSON (${(e as Error).message})`);
  }
}

/** config.json → ModelConfig, refusing what the engine cannot run (field named). */
export function parseHfConfig(raw: Json, source = 'config.json'): ModelConfig {
  const archs = raw.architectures;
  if (archs !== undefined) {
    if (!Array.isArray(archs) || archs.length !== 1 || !(String(archs[0]) in SUPPORTED_ARCHITECTURES)) {
      throw new Error(
        `${source}: field "architectures" is ${JSON.stringify(archs)}; supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}`,
      );
    }
    if (raw.model_type !== undefined && SUPPORTED_ARCHITECTURES[String(archs[0])] !== raw.model_type) {
      throw new Error(
        `${source}: field "model_type" (${JSON.stringify(raw.model_type)}) does not match "architectures" ${JSON.stringify(archs)}`,
      );
    }
  }
  if (raw.hidden_act !== undefined && raw.hidden_act !== 'silu') {
    throw new Error(
      `${source}: field "hidden_act" is ${JSON.stringify(raw.hidden_act)}; only "silu" is supported`,
    );
  }
  if (raw.use_sliding_window === true)
    throw new Error(
      `${source}: field "use_sliding_window" is true; sliding-window attention is not supported`,
    );
  if (raw.mlp_bias === true)
    throw new Error(`${source}: field "mlp_bias" is true; MLP biases are not supported`);
  const rs = raw.rope_scaling as Json | null | undefined;
  if (rs !== undefined && rs !== null) {
    const t = rs.rope_type ?? rs.type;
    if (t !== 'default')
      throw new Error(
        `${source}: field "rope_scaling" ${JSON.stringify(rs)} is not supported (only none/default)`,
      );
  }
  const config = configFromHf(raw, source);
  if (config.valueHead === undefined) delete config.valueHead; // absent, not present-but-undefined
  return config;
}

/** Tensors a checkpoint may carry that the engine does not use (dropped on load, by design). */
function isIgnorable(name: string, config: ModelConfig): boolean {
  if (name.endsWith('.rotary_emb.inv_freq')) return true; // old transformers saved the RoPE table
  if (name === 'lm_head.weight' && config.tieWordEmbeddings) return true; // tied: equals the embedding
  return false;
}

export interface LoadOptions {
  /** Progress callback (bytes of tensor data read, total bytes). */
  onProgress?: (done: number, total: number) => void;
  /** Skip loading the tokenizer even when present. */
  noTokenizer?: boolean;
  /**
   * Read each tensor into a caller-owned array (e.g. the engine's parameter views) instead of a
   * new one, after all names and shapes are validated; the returned map then holds those arrays.
   */
  into?: TensorTarget;
}

/** Loads a Hugging Face model folder (Qwen2ForCausalLM / LlamaForCausalLM) as fp32 tensors. */
export function loadHfFolder(dir: string, opts: LoadOptions = {}): HfFolder {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`);
  const rawConfig = readJson(configPath);
  const config = parseHfConfig(rawConfig, configPath);

  // Validate names and shapes from the headers before reading any data.
  const { files, weightMap } = checkpointFiles(dir);
  const headers = files.map((f) => readSafetensorsHeader(f));
  const located = new Map<string, { file: string; shape: number[] }>();
  for (const h of headers) {
    for (const [name, e] of h.tensors) {
      const prev = located.get(name);
      if (prev) throw new SafetensorsError(h.path, `also stored in ${prev.file}`, name);
      if (weightMap && weightMap.get(name) !== basename(h.path))
        throw new SafetensorsError(
          h.path,
          `is not listed for this file in model.safetensors.index.json`,
          name,
        );
      located.set(name, { file: h.path, shape: e.shape });
    }
  }
  if (located.has('value_head.weight') && !config.valueHead) config.valueHead = true;
  const expected = parameterShapes(config);
  const expectedNames = new Set(expected.map((p) => p.name));
  const where = files.length === 1 ? files[0] : join(dir, 'model.safetensors.index.json');
  for (const p of expected) {
    const t = located.get(p.name);
    if (!t)
      throw new SafetensorsError(
        where,
        `missing (required by ${basename(configPath)} for ${config.arch} with ${config.numLayers} layers)`,
        p.name,
      );
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new SafetensorsError(
        t.file,
        `has shape ${JSON.stringify(t.shape)} but the config implies ${JSON.stringify(p.shape)}`,
        p.name,
      );
    }
  }
  const wanted = new Set<string>();
  for (const [name, t] of located) {
    if (expectedNames.has(name)) wanted.add(name);
    else if (!isIgnorable(name, config))
      throw new SafetensorsError(t.file, 'is not a parameter of this architecture/config', name);
  }

  // Tokenizer and generation config next, so a bad one fails before seconds of weight reading.
  const genPath = join(dir, 'generation_config.json');
  const generationConfig = existsSync(genPath) ? readJson(genPath) : null;
  const tokenizer = !opts.noTokenizer && existsSync(join(dir, 'tokenizer.json')) ? loadTokenizer(dir) : null;

  const wantedBytes = (h: (typeof headers)[number]) =>
    [...h.tensors].filter(([n]) => wanted.has(n)).reduce((a, [, e]) => a + e.end - e.begin, 0);
  const total = headers.reduce((s, h) => s + wantedBytes(h), 0);
  const tensors: TensorMap = new Map();
  let before = 0;
  for (const h of headers) {
    const part = readSafetensors(h.path, {
      names: wanted,
      onProgress: (b) => opts.onProgress?.(before + b, total),
      into: opts.into,
    });
    for (const [name, t] of part) tensors.set(name, t);
    before += wantedBytes(h);
  }
  // Fixed order: the config's parameter order.
  const ordered: TensorMap = new Map(expected.map((p) => [p.name, tensors.get(p.name) as TensorData]));
  return { config, tensors: ordered, tokenizer, generationConfig, rawConfig };
}

/** Anything with HF-named tensors: a Map, or the engine's `model.namedParameters()`. */
export type TensorSource =
  TensorMap | Iterable<{ name: string; shape: readonly number[]; data: Float32Array }>;

function toEntries(src: TensorSource): [string, TensorData][] {
  if (src instanceof Map) return [...src];
  return [...src].map((p) => [p.name, { shape: [...p.shape], data: p.data }]);
}

export interface SaveOptions {
  config: ModelConfig;
  tensors: TensorSource;
  /** Tokenizer to write: its files, a loaded HfTokenizer, or a folder to copy tokenizer files from. */
  tokenizer?: TokenizerFiles | HfTokenizer;
  tokenizerDir?: string;
  generationConfig?: Json | null;
  /** Weight storage dtype (default F32 = bit-exact). */
  dtype?: SafetensorsDtype;
  /** Shard above this many bytes (default 2 GB; tensors are never split). */
  maxShardBytes?: number;
  /** Extra config.json fields to keep (e.g. the rawConfig of a loaded folder). */
  extraConfig?: Json;
}

const TORCH_DTYPE: Record<SafetensorsDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'chat_template.jinja',
  'chat_template.json',
];

/**
 * Writes a Hugging Face model folder that transformers (and llama.cpp's converter) can read.
 * Every parameter of the config must be present with the right shape.
 */
export function saveHfFolder(dir: string, opts: SaveOptions): void {
  const { config } = opts;
  const entries = toEntries(opts.tensors);
  const byName = new Map(entries);
  const expected = parameterShapes(config);
  for (const p of expected) {
    const t = byName.get(p.name);
    if (!t) throw new Error(`saveHfFolder(${dir}): tensor "${p.name}" is missing`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new Error(
        `saveHfFolder(${dir}): tensor "${p.name}" has shape ${JSON.stringify(t.shape)}, config implies ${JSON.stringify(p.shape)}`,
      );
    }
  }
  const expectedNames = new Set(expected.map((p) => p.name));
  for (const [name] of entries)
    if (!expectedNames.has(name))
      throw new Error(`saveHfFolder(${dir}): tensor "${name}" is not a parameter of this config`);

  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    const dtype = opts.dtype ?? 'F32';
    writeCheckpoint(
      tmp,
      expected.map((p) => [p.name, byName.get(p.name) as TensorData]),
      { dtype, maxShardBytes: opts.maxShardBytes ?? 2e9 },
    );
    const hfConfig = { ...(opts.extraConfig ?? {}), ...configToHf(config), torch_dtype: TORCH_DTYPE[dtype] };
    writeFileSync(join(tmp, 'config.json'), JSON.stringify(hfConfig, null, 2) + '\n');

    let tokFiles: TokenizerFiles | null = null;
    if (opts.tokenizer instanceof HfTokenizer) tokFiles = opts.tokenizer.files;
    else if (opts.tokenizer) tokFiles = opts.tokenizer;
    if (tokFiles) {
      writeFileSync(join(tmp, 'tokenizer.json'), JSON.stringify(tokFiles.tokenizerJson) + '\n');
      writeFileSync(
        join(tmp, 'tokenizer_config.json'),
        JSON.stringify(tokFiles.tokenizerConfig, null, 2) + '\n',
      );
    } else if (opts.tokenizerDir) {
      if (!existsSync(join(opts.tokenizerDir, 'tokenizer.json')))
        throw new Error(`${opts.tokenizerDir}: no tokenizer.json to copy`);
      for (const f of TOKENIZER_FILES)
        if (existsSync(join(opts.tokenizerDir, f))) copyFileSync(join(opts.tokenizerDir, f), join(tmp, f));
    }
    const gen = opts.generationConfig ?? (tokFiles ? defaultGenerationConfig(tokFiles) : null);
    if (gen) writeFileSync(join(tmp, 'generation_config.json'), JSON.stringify(gen, null, 2) + '\n');

    // Swap into place: move any old folder aside first, then remove it.
    const old = `${target}.old-${process.pid}-${Date.now()}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** generation_config.json for a tokenizer: EOS = its eos_token and <|im_end|> when it has one. */
export function defaultGenerationConfig(files: TokenizerFiles): Json {
  const tok = new HfTokenizer(files);
  const ids = new Set(tok.eosTokenIds);
  const imEnd = tok.tokenToId('<|im_end|>');
  if (imEnd !== undefined) ids.add(imEnd);
  const eos = [...ids];
  return {
    ...(tok.bosTokenId !== null ? { bos_token_id: tok.bosTokenId } : {}),
    eos_token_id: eos.length === 1 ? eos[0] : eos,
    do_sample: false,
    transformers_version: '4.45.0',
  };
}
