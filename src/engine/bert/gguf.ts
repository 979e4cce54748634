// GGUF export of BERT encoders and cross-encoders for llama.cpp (arch "bert"), following
// llama.cpp's convert_hf_to_gguf.py BertModel: WordPiece vocab as "phantom space" tokens (a word
// start gets "▁", a "##" continuation loses its prefix, CONTROL tokens stay as they are),
// token_type_count, non-causal attention, and the pooling type so llama.cpp pools as we do.
//
// One deliberate difference: llama.cpp's converter drops BERT's pooler, so a converted
// BertForSequenceClassification scores CLS → classifier without the pooler's tanh(dense) that
// transformers applies. We write the pooler as llama.cpp's optional `cls` tensor (dense + tanh
// in its RANK pooling) and the classifier as `cls.output`, which is exactly transformers' head.
import { basename } from 'node:path';
import { ggufTensorType, TokenType, writeGgufFile } from '../io/gguf.ts';
import type { GgufDtype, GgufTensor, KV } from '../io/gguf.ts';
import type { BertFolder } from './folder.ts';

/** llama.cpp pooling types (llama.h enum llama_pooling_type). */
export const GgufPooling = { NONE: 0, MEAN: 1, CLS: 2, LAST: 3, RANK: 4 } as const;

/** Internal BERT tensor name → llama.cpp name (null: not exported). */
export function bertGgufTensorName(name: string, head: 'encoder' | 'classifier'): string | null {
  const fixed: Record<string, string> = {
    'embeddings.word_embeddings.weight': 'token_embd.weight',
    'embeddings.position_embeddings.weight': 'position_embd.weight',
    'embeddings.token_type_embeddings.weight': 'token_types.weight',
    'embeddings.LayerNorm.weight': 'token_embd_norm.weight',
    'embeddings.LayerNorm.bias': 'token_embd_norm.bias',
    'classifier.weight': 'cls.output.weight',
    'classifier.bias': 'cls.output.bias',
  };
  if (name in fixed) return fixed[name];
  if (name.startsWith('pooler.dense.')) return head === 'classifier' ? `cls.${name.slice(13)}` : null;
  const m = /^encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$/.exec(name);
  if (!m) return null;
  const part: Record<string, string> = {
    'attention.self.query': 'attn_q',
    'attention.self.key': 'attn_k',
    'attention.self.value': 'attn_v',
    'attention.output.dense': 'attn_output',
    'attention.output.LayerNorm': 'attn_output_norm',
    'intermediate.dense': 'ffn_up',
    'output.dense': 'ffn_down',
    'output.LayerNorm': 'layer_output_norm',
  };
  const p = part[m[2]];
  return p ? `blk.${m[1]}.${p}.${m[3]}` : null;
}

/** tokenizer.ggml.* for a WordPiece vocabulary, as llama.cpp's converter writes it. */
function bertTokenizerKv(f: BertFolder): [string, KV][] {
  const tj = f.tokenizer.files.tokenizerJson;
  const model = tj.model as {
    type?: string;
    vocab?: Record<string, number>;
    continuing_subword_prefix?: string;
  };
  if (model.type !== 'WordPiece')
    throw new Error(
      `${f.dir}/tokenizer.json: model type "${model.type}" is not WordPiece (GGUF BERT export)`,
    );
  const prefix = model.continuing_subword_prefix ?? '##';
  const n = f.config.vocabSize;
  const tokens = new Array<string>(n);
  const types = new Array<number>(n).fill(TokenType.NORMAL);
  for (const [t, id] of Object.entries(model.vocab ?? {})) if (id < n) tokens[id] = t;
  const special = new Set<number>();
  for (const a of (tj.added_tokens ?? []) as { id: number; content: string; special: boolean }[]) {
    if (a.id >= n) continue;
    tokens[a.id] = a.content;
    types[a.id] = a.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    if (a.special) special.add(a.id);
  }
  for (let i = 0; i < n; i++) {
    if (tokens[i] === undefined) {
      tokens[i] = `[PAD${i}]`;
      types[i] = TokenType.UNUSED;
    } else if (!special.has(i))
      tokens[i] = tokens[i].startsWith(prefix) ? tokens[i].slice(prefix.length) : `\u2581${tokens[i]}`;
  }
  const id = (t: unknown, field: string): number => {
    const v = typeof t === 'string' ? f.tokenizer.tokenToId(t) : undefined;
    if (v === undefined) throw new Error(`${f.dir}/tokenizer_config.json: field "${field}" names no token`);
    return v;
  };
  const cfg = f.tokenizer.files.tokenizerConfig;
  const cls = id(cfg.cls_token ?? '[CLS]', 'cls_token');
  const sep = id(cfg.sep_token ?? '[SEP]', 'sep_token');
  const kv: [string, KV][] = [
    ['tokenizer.ggml.model', { type: 'str', value: 'bert' }],
    ['tokenizer.ggml.pre', { type: 'str', value: 'default' }],
    ['tokenizer.ggml.tokens', { type: 'str[]', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.token_type_count', { type: 'u32', value: f.config.typeVocabSize }],
    // As the converter's SpecialVocab: BOS = [CLS], EOS = SEP = [SEP], both added.
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: cls }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: sep }],
    ['tokenizer.ggml.seperator_token_id', { type: 'u32', value: sep }],
    ['tokenizer.ggml.cls_token_id', { type: 'u32', value: cls }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_sep_token', { type: 'bool', value: false }],
  ];
  for (const [key, field, dflt] of [
    ['tokenizer.ggml.unknown_token_id', 'unk_token', '[UNK]'],
    ['tokenizer.ggml.padding_token_id', 'pad_token', '[PAD]'],
    ['tokenizer.ggml.mask_token_id', 'mask_token', '[MASK]'],
  ] as const) {
    const v = f.tokenizer.tokenToId(typeof cfg[field] === 'string' ? (cfg[field] as string) : dflt);
    if (v !== undefined) kv.push([key, { type: 'u32', value: v }]);
  }
  return kv;
}

/** Writes a BERT folder as GGUF (f32, or f16 for 2-D weights). */
export function writeBertGguf(
  outPath: string,
  f: BertFolder,
  opts: { dtype?: GgufDtype; name?: string; onProgress?: (done: number, total: number) => void } = {},
): void {
  const c = f.config;
  const dtype = opts.dtype ?? 'f32';
  const pooling =
    c.head === 'classifier'
      ? GgufPooling.RANK
      : f.settings.pooling === 'cls'
        ? GgufPooling.CLS
        : GgufPooling.MEAN;
  const kvs: [string, KV][] = [
    ['general.architecture', { type: 'str', value: 'bert' }],
    ['general.name', { type: 'str', value: opts.name ?? basename(outPath).replace(/\.gguf$/, '') }],
    ['general.alignment', { type: 'u32', value: 32 }],
    ['general.file_type', { type: 'u32', value: dtype === 'f16' ? 1 : 0 }],
    ['bert.vocab_size', { type: 'u32', value: c.vocabSize }],
    ['bert.context_length', { type: 'u32', value: c.maxPositionEmbeddings }],
    ['bert.embedding_length', { type: 'u32', value: c.hiddenSize }],
    ['bert.feed_forward_length', { type: 'u32', value: c.intermediateSize }],
    ['bert.block_count', { type: 'u32', value: c.numLayers }],
    ['bert.attention.head_count', { type: 'u32', value: c.numHeads }],
    ['bert.attention.layer_norm_epsilon', { type: 'f32', value: c.layerNormEps }],
    ['bert.attention.causal', { type: 'bool', value: false }],
    ['bert.pooling_type', { type: 'u32', value: pooling }],
    ...(c.head === 'classifier'
      ? ([['bert.classifier.output_labels', { type: 'str[]', value: ['LABEL_0'] }]] as [string, KV][])
      : []),
    ...bertTokenizerKv(f),
  ];
  const out: GgufTensor[] = [];
  for (const [name, t] of f.tensors) {
    const g = bertGgufTensorName(name, c.head);
    if (g === null) continue;
    out.push({ name: g, t, type: ggufTensorType(dtype, t.shape) });
  }
  writeGgufFile(outPath, kvs, out, opts.onProgress);
}
