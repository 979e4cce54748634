// BERT-family encoder configuration (Hugging Face `model_type: "bert"`: E5, BGE, MiniLM sentence
// encoders and ms-marco cross-encoders), the tensor names and shapes it implies, and a random
// initialisation for tests (`model init --arch bert`). Docs: docs/dense-retrieval.md.
import type { Json } from '../tokenizer.ts';
import type { TensorData, TensorMap } from '../io/safetensors.ts';
import { Rng } from '../../core/rng.ts';

export interface BertConfig {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  typeVocabSize: number;
  layerNormEps: number;
  /**
   * 'encoder': BertModel (hidden states, pooled by the encoder settings);
   * 'classifier': BertForSequenceClassification with one logit (a cross-encoder reranker).
   */
  head: 'encoder' | 'classifier';
}

/** Supported `architectures` entries and the head they imply. */
const ARCHITECTURES: Record<string, BertConfig['head']> = {
  BertModel: 'encoder',
  BertForMaskedLM: 'encoder',
  BertForSequenceClassification: 'classifier',
};

function int(raw: Json, field: string, source: string, dflt?: number): number {
  const v = raw[field] ?? dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
    throw new Error(`${source}: field "${field}" must be a positive integer (got ${JSON.stringify(v)})`);
  return v;
}

/** Parses a BERT config.json; anything we would compute differently is refused by field name. */
export function parseBertConfig(raw: Json, source = 'config.json'): BertConfig {
  if (raw.model_type !== 'bert')
    throw new Error(
      `${source}: model_type ${JSON.stringify(raw.model_type)} is not supported as an encoder (only "bert": E5, BGE, MiniLM)`,
    );
  const archs = Array.isArray(raw.architectures) ? (raw.architectures as string[]) : ['BertModel'];
  const head = ARCHITECTURES[archs[0]];
  if (!head)
    throw new Error(
      `${source}: architectures ${JSON.stringify(archs)} is not supported (expected one of ${Object.keys(ARCHITECTURES).join(', ')})`,
    );
  const act = raw.hidden_act ?? 'gelu';
  if (act !== 'gelu')
    throw new Error(`${source}: field "hidden_act" ${JSON.stringify(act)} is not supported (only "gelu")`);
  const pos = raw.position_embedding_type ?? 'absolute';
  if (pos !== 'absolute')
    throw new Error(
      `${source}: field "position_embedding_type" ${JSON.stringify(pos)} is not supported (only "absolute")`,
    );
  if (head === 'classifier') {
    const labels = raw.id2label ? Object.keys(raw.id2label as Json).length : (raw.num_labels ?? 1);
    if (labels !== 1)
      throw new Error(
        `${source}: a sequence classifier with ${String(labels)} labels is not supported (a reranker has one logit)`,
      );
  }
  const c: BertConfig = {
    vocabSize: int(raw, 'vocab_size', source),
    hiddenSize: int(raw, 'hidden_size', source),
    numLayers: int(raw, 'num_hidden_layers', source),
    numHeads: int(raw, 'num_attention_heads', source),
    intermediateSize: int(raw, 'intermediate_size', source),
    maxPositionEmbeddings: int(raw, 'max_position_embeddings', source, 512),
    typeVocabSize: int(raw, 'type_vocab_size', source, 2),
    layerNormEps: typeof raw.layer_norm_eps === 'number' ? raw.layer_norm_eps : 1e-12,
    head,
  };
  if (c.hiddenSize % c.numHeads !== 0)
    throw new Error(
      `${source}: hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numHeads}`,
    );
  return c;
}

/** config.json contents for a BertConfig (what transformers writes, minus training-only fields). */
export function bertConfigToHf(c: BertConfig): Json {
  return {
    architectures: [c.head === 'classifier' ? 'BertForSequenceClassification' : 'BertModel'],
    model_type: 'bert',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    intermediate_size: c.intermediateSize,
    max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize,
    layer_norm_eps: c.layerNormEps,
    hidden_act: 'gelu',
    position_embedding_type: 'absolute',
    pad_token_id: 0,
    ...(c.head === 'classifier' ? { id2label: { '0': 'LABEL_0' }, label2id: { LABEL_0: 0 } } : {}),
    torch_dtype: 'float32',
  };
}

/**
 * Every tensor of the model, HF names without the `bert.` prefix (a classifier checkpoint stores
 * the encoder under `bert.`; loading strips it, saving adds it back).
 */
export function bertTensorShapes(c: BertConfig): { name: string; shape: number[] }[] {
  const D = c.hiddenSize;
  const I = c.intermediateSize;
  const out: { name: string; shape: number[] }[] = [
    { name: 'embeddings.word_embeddings.weight', shape: [c.vocabSize, D] },
    { name: 'embeddings.position_embeddings.weight', shape: [c.maxPositionEmbeddings, D] },
    { name: 'embeddings.token_type_embeddings.weight', shape: [c.typeVocabSize, D] },
    { name: 'embeddings.LayerNorm.weight', shape: [D] },
    { name: 'embeddings.LayerNorm.bias', shape: [D] },
  ];
  for (let l = 0; l < c.numLayers; l++) {
    const p = `encoder.layer.${l}.`;
    for (const m of ['query', 'key', 'value']) {
      out.push({ name: `${p}attention.self.${m}.weight`, shape: [D, D] });
      out.push({ name: `${p}attention.self.${m}.bias`, shape: [D] });
    }
    out.push({ name: `${p}attention.output.dense.weight`, shape: [D, D] });
    out.push({ name: `${p}attention.output.dense.bias`, shape: [D] });
    out.push({ name: `${p}attention.output.LayerNorm.weight`, shape: [D] });
    out.push({ name: `${p}attention.output.LayerNorm.bias`, shape: [D] });
    out.push({ name: `${p}intermediate.dense.weight`, shape: [I, D] });
    out.push({ name: `${p}intermediate.dense.bias`, shape: [I] });
    out.push({ name: `${p}output.dense.weight`, shape: [D, I] });
    out.push({ name: `${p}output.dense.bias`, shape: [D] });
    out.push({ name: `${p}output.LayerNorm.weight`, shape: [D] });
    out.push({ name: `${p}output.LayerNorm.bias`, shape: [D] });
  }
  if (c.head === 'classifier') {
    out.push({ name: 'pooler.dense.weight', shape: [D, D] });
    out.push({ name: 'pooler.dense.bias', shape: [D] });
    out.push({ name: 'classifier.weight', shape: [1, D] });
    out.push({ name: 'classifier.bias', shape: [1] });
  }
  return out;
}

/** Checkpoint name (with `bert.` for a classifier's encoder) of an internal tensor name. */
export function bertCheckpointName(c: BertConfig, name: string): string {
  return c.head === 'classifier' && !name.startsWith('classifier.') ? `bert.${name}` : name;
}

/** Tiny preset for tests and `model init --arch bert` (vocab comes from the tokenizer). */
export function tinyBertConfig(vocabSize: number, head: BertConfig['head'] = 'encoder'): BertConfig {
  return {
    vocabSize,
    hiddenSize: 64,
    numLayers: 2,
    numHeads: 4,
    intermediateSize: 128,
    maxPositionEmbeddings: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
    head,
  };
}

/**
 * Random weights (normal, std 0.02 as transformers' BERT init unless `std` is given; LayerNorm
 * weight 1 / bias 0 unless `randomNorms`, which tests use so every tensor matters).
 */
export function randomBertTensors(
  c: BertConfig,
  seed: number,
  opts: { std?: number; randomNorms?: boolean } = {},
): TensorMap {
  const rng = new Rng(seed);
  const std = opts.std ?? 0.02;
  const out: TensorMap = new Map();
  for (const { name, shape } of bertTensorShapes(c)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = name.includes('LayerNorm');
    if (isNorm && name.endsWith('.weight'))
      for (let i = 0; i < n; i++) data[i] = opts.randomNorms ? 0.5 + rng.uniform() : 1;
    else if (name.endsWith('.bias') || isNorm)
      for (let i = 0; i < n; i++) data[i] = opts.randomNorms ? rng.uniform() - 0.5 : 0;
    else for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    out.set(name, { shape, data } satisfies TensorData);
  }
  return out;
}
