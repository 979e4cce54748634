// BERT encoder folders (Hugging Face layout): config.json, model.safetensors, tokenizer.json, and
// how the model card says to use it — pooling, L2 normalisation, query/passage prefixes, max
// length. Those come, in order of precedence, from our `search-r1-encoder.json`, the
// sentence-transformers files (modules.json → 1_Pooling/config.json, Normalize module,
// config_sentence_transformers.json prompts, sentence_bert_config.json max_seq_length), and a
// table of known model families (E5 needs "query: " / "passage: " and says so only in its card).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readJson } from '../io/hf.ts';
import {
  SafetensorsError,
  checkpointFiles,
  readSafetensors,
  readSafetensorsHeader,
  writeCheckpoint,
} from '../io/safetensors.ts';
import type { TensorData, TensorMap } from '../io/safetensors.ts';
import { HfTokenizer, loadTokenizer } from '../tokenizer.ts';
import type { Json, TokenizerFiles } from '../tokenizer.ts';
import { builtinTokenizerCorpus } from '../tokenizer-corpus.ts';
import {
  bertCheckpointName,
  bertConfigToHf,
  bertTensorShapes,
  parseBertConfig,
  randomBertTensors,
  tinyBertConfig,
} from './config.ts';
import type { BertConfig } from './config.ts';
import { buildWordPieceTokenizer } from './wordpiece.ts';

export interface EncoderSettings {
  pooling: 'mean' | 'cls';
  /** L2-normalise embeddings (inner product = cosine). */
  normalize: boolean;
  /** Prepended to queries / passages (E5: "query: " / "passage: "). */
  queryPrefix: string;
  passagePrefix: string;
  /** Tokens per input including [CLS]/[SEP]; longer inputs are truncated (the reference server: 256). */
  maxLength: number;
}

export const ENCODER_SETTINGS_FILE = 'search-r1-encoder.json';

/** Model-card conventions of encoder families we know, matched on the model's name. */
const KNOWN_FAMILIES: { match: RegExp; settings: Partial<EncoderSettings> }[] = [
  // intfloat/e5-*-v2, multilingual-e5-*: mean pooling, normalised, "query: " / "passage: ".
  {
    match: /(^|[/_-])e5([-_]|$)/i,
    settings: { pooling: 'mean', normalize: true, queryPrefix: 'query: ', passagePrefix: 'passage: ' },
  },
  // BAAI/bge-*-en-v1.5: CLS pooling, normalised, an instruction before short queries.
  {
    match: /(^|[/_-])bge-/i,
    settings: {
      pooling: 'cls',
      normalize: true,
      queryPrefix: 'Represent this sentence for searching relevant passages: ',
      passagePrefix: '',
    },
  },
  // sentence-transformers/all-MiniLM-*: mean pooling, normalised, no prefixes.
  { match: /minilm/i, settings: { pooling: 'mean', normalize: true, queryPrefix: '', passagePrefix: '' } },
];

export const DEFAULT_MAX_LENGTH = 256;

/** Resolves how to use the encoder in `dir` (see the file header for the precedence). */
export function encoderSettings(dir: string, rawConfig: Json): EncoderSettings {
  const s: EncoderSettings = {
    pooling: 'mean',
    normalize: true,
    queryPrefix: '',
    passagePrefix: '',
    maxLength: DEFAULT_MAX_LENGTH,
  };
  const name = `${typeof rawConfig._name_or_path === 'string' ? rawConfig._name_or_path : ''} ${basename(resolve(dir))}`;
  for (const f of KNOWN_FAMILIES) if (f.match.test(name)) Object.assign(s, f.settings);
  const modulesPath = join(dir, 'modules.json');
  if (existsSync(modulesPath)) {
    let modules: { type?: string; path?: string }[];
    try {
      modules = JSON.parse(readFileSync(modulesPath, 'utf8')) as { type?: string; path?: string }[];
    } catch (e) {
      throw new Error(`${modulesPath}: invalid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(modules)) throw new Error(`${modulesPath}: expected a JSON list of modules`);
    s.normalize =
      modules.some((m) => typeof m.type === 'string' && m.type.endsWith('Normalize')) || s.normalize;
    const pool = modules.find((m) => typeof m.type === 'string' && m.type.endsWith('Pooling'));
    if (pool && typeof pool.path === 'string') {
      const pPath = join(dir, pool.path, 'config.json');
      const p = readJson(pPath);
      if (p.pooling_mode_mean_tokens === true || p.pooling_mode === 'mean') s.pooling = 'mean';
      else if (p.pooling_mode_cls_token === true || p.pooling_mode === 'cls') s.pooling = 'cls';
      else throw new Error(`${pPath}: only mean or CLS pooling is supported`);
    }
  }
  const stPath = join(dir, 'config_sentence_transformers.json');
  if (existsSync(stPath)) {
    const prompts = readJson(stPath).prompts as Json | undefined;
    if (prompts && typeof prompts.query === 'string') s.queryPrefix = prompts.query;
    if (prompts && typeof prompts.passage === 'string') s.passagePrefix = prompts.passage;
    if (prompts && typeof prompts.document === 'string') s.passagePrefix = prompts.document;
  }
  const sbPath = join(dir, 'sentence_bert_config.json');
  if (existsSync(sbPath)) {
    const m = readJson(sbPath).max_seq_length;
    if (typeof m === 'number' && Number.isInteger(m) && m > 0) s.maxLength = Math.min(m, DEFAULT_MAX_LENGTH);
  }
  const ourPath = join(dir, ENCODER_SETTINGS_FILE);
  if (existsSync(ourPath)) {
    const o = readJson(ourPath);
    if (o.pooling !== undefined && o.pooling !== 'mean' && o.pooling !== 'cls')
      throw new Error(`${ourPath}: field "pooling" must be "mean" or "cls"`);
    for (const k of ['queryPrefix', 'passagePrefix'] as const)
      if (o[k] !== undefined && typeof o[k] !== 'string')
        throw new Error(`${ourPath}: field "${k}" must be a string`);
    if (o.normalize !== undefined && typeof o.normalize !== 'boolean')
      throw new Error(`${ourPath}: field "normalize" must be true or false`);
    if (o.maxLength !== undefined && !(Number.isInteger(o.maxLength) && (o.maxLength as number) >= 2))
      throw new Error(`${ourPath}: field "maxLength" must be an integer ≥ 2`);
    Object.assign(s, o);
  }
  const maxPos = rawConfig.max_position_embeddings;
  if (typeof maxPos === 'number') s.maxLength = Math.min(s.maxLength, maxPos);
  return s;
}

export interface BertFolder {
  dir: string;
  config: BertConfig;
  /** Internal names (bertTensorShapes: no `bert.` prefix). */
  tensors: TensorMap;
  tokenizer: HfTokenizer;
  settings: EncoderSettings;
  rawConfig: Json;
}

/** Tensors a checkpoint may carry that the forward pass does not use. */
function ignorable(name: string): boolean {
  return (
    name === 'embeddings.position_ids' ||
    name.startsWith('cls.predictions') || // BertForMaskedLM's LM head
    name.startsWith('cls.seq_relationship')
  );
}

/** Loads a BERT folder: config checked first, then tensor names/shapes from headers, then data. */
export function loadBertFolder(dir: string): BertFolder {
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${dir}: no config.json (not a Hugging Face model folder)`);
  const rawConfig = readJson(configPath);
  const config = parseBertConfig(rawConfig, configPath);
  const settings = encoderSettings(dir, rawConfig);
  const { files } = checkpointFiles(dir);
  const expected = new Map(bertTensorShapes(config).map((t) => [t.name, t.shape]));
  // Checkpoint name → internal name; encoder-only models have no pooler we need.
  const wanted = new Map<string, string>();
  const found = new Map<string, string>();
  for (const f of files) {
    const h = readSafetensorsHeader(f);
    for (const [ckName, e] of h.tensors) {
      const name = ckName.startsWith('bert.') ? ckName.slice(5) : ckName;
      const shape = expected.get(name);
      if (!shape) {
        if (ignorable(name) || (config.head === 'encoder' && name.startsWith('pooler.'))) continue;
        throw new SafetensorsError(f, 'is not a tensor of a BERT model with this config', ckName);
      }
      if (shape.join() !== e.shape.join())
        throw new SafetensorsError(f, `has shape [${e.shape}] but ${configPath} implies [${shape}]`, ckName);
      wanted.set(ckName, name);
      found.set(name, f);
    }
  }
  for (const name of expected.keys())
    if (!found.has(name))
      throw new SafetensorsError(
        files.length === 1 ? files[0] : dir,
        `missing (required by ${configPath})`,
        name,
      );
  const tokenizer = loadTokenizer(dir);
  const tensors: TensorMap = new Map();
  for (const f of files) {
    const part = readSafetensors(f, { names: new Set(wanted.keys()) });
    for (const [ck, t] of part) tensors.set(wanted.get(ck) as string, t);
  }
  for (const id of ['[CLS]', '[SEP]'])
    if (tokenizer.tokenToId(id) === undefined)
      throw new Error(`${join(dir, 'tokenizer.json')}: no ${id} token (not a BERT WordPiece tokenizer)`);
  return { dir, config, tensors, tokenizer, settings, rawConfig };
}

export interface SaveBertOptions {
  config: BertConfig;
  tensors: TensorMap;
  tokenizer: TokenizerFiles;
  settings?: Partial<EncoderSettings>;
}

/**
 * Writes a BERT folder transformers, sentence-transformers and llama.cpp's converter read
 * (modules.json + 1_Pooling so they pool as we do), plus search-r1-encoder.json. Atomic.
 */
export function saveBertFolder(dir: string, o: SaveBertOptions): void {
  const target = resolve(dir);
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, '1_Pooling'), { recursive: true });
  try {
    const entries: [string, TensorData][] = bertTensorShapes(o.config).map(({ name, shape }) => {
      const t = o.tensors.get(name);
      if (!t || t.shape.join() !== shape.join())
        throw new Error(`saveBertFolder(${dir}): tensor "${name}" missing or not of shape [${shape}]`);
      return [bertCheckpointName(o.config, name), t];
    });
    writeCheckpoint(tmp, entries, { dtype: 'F32' });
    const w = (f: string, v: unknown) => writeFileSync(join(tmp, f), JSON.stringify(v, null, 2) + '\n');
    w('config.json', bertConfigToHf(o.config));
    w('tokenizer.json', o.tokenizer.tokenizerJson);
    w('tokenizer_config.json', o.tokenizer.tokenizerConfig);
    if (o.config.head === 'encoder') {
      const s = { pooling: 'mean', normalize: true, ...o.settings };
      w('modules.json', [
        { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
        { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
        ...(s.normalize
          ? [{ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' }]
          : []),
      ]);
      w('1_Pooling/config.json', {
        word_embedding_dimension: o.config.hiddenSize,
        pooling_mode_cls_token: s.pooling === 'cls',
        pooling_mode_mean_tokens: s.pooling === 'mean',
        pooling_mode_max_tokens: false,
        pooling_mode_mean_sqrt_len_tokens: false,
      });
      w(ENCODER_SETTINGS_FILE, s);
    } else rmSync(join(tmp, '1_Pooling'), { recursive: true });
    const old = `${target}.old-${process.pid}-${Date.now()}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(tmp, target);
    rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

export interface InitBertOptions {
  out: string;
  seed: number;
  /** 'encoder' (a bi-encoder, E5-style) or 'classifier' (a cross-encoder reranker). */
  head?: BertConfig['head'];
  settings?: Partial<EncoderSettings>;
  vocabSize?: number;
  force?: boolean;
}

/** `model init --arch bert`: a random tiny BERT with a WordPiece tokenizer from built-in text. */
export function initBertFolder(o: InitBertOptions): BertConfig {
  if (existsSync(o.out) && !o.force) throw new Error(`${o.out} already exists (use --force to replace it)`);
  const tok = buildWordPieceTokenizer(builtinTokenizerCorpus(), o.vocabSize ?? 512);
  const vocab = Object.keys((tok.tokenizerJson.model as { vocab: Json }).vocab).length;
  const config = tinyBertConfig(vocab, o.head ?? 'encoder');
  const tensors = randomBertTensors(config, o.seed, { std: 0.2, randomNorms: true });
  saveBertFolder(o.out, {
    config,
    tensors,
    tokenizer: tok,
    settings: { queryPrefix: 'query: ', passagePrefix: 'passage: ', ...o.settings },
  });
  return config;
}
