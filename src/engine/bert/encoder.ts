// Text → vectors (bi-encoder) and (query, passage) → relevance logit (cross-encoder) on the
// engine's BERT forward. Inputs are tokenized without padding and batched by length so each
// forward call packs ~`batchTokens` tokens into its GEMMs.
import { loadBertFolder } from './folder.ts';
import type { BertFolder, EncoderSettings } from './folder.ts';
import { BertModel } from './model.ts';
import type { BertInput, GeluKind } from './model.ts';
import type { HfTokenizer } from '../tokenizer.ts';

export type PrefixKind = 'none' | 'query' | 'passage';

export interface EncoderOptions {
  /** Override the folder's settings (e.g. maxLength). */
  settings?: Partial<EncoderSettings>;
  /** Tokens per forward call (memory ∝ this; GEMM efficiency grows with it up to a point). */
  batchTokens?: number;
  gelu?: GeluKind;
}

abstract class BertRunner {
  readonly model: BertModel;
  readonly tokenizer: HfTokenizer;
  readonly settings: EncoderSettings;
  readonly dir: string;
  protected readonly cls: number;
  protected readonly sep: number;
  protected readonly batchTokens: number;

  constructor(folder: BertFolder, o: EncoderOptions) {
    this.dir = folder.dir;
    this.model = new BertModel(folder.config, folder.tensors, o.gelu ?? 'erf');
    this.tokenizer = folder.tokenizer;
    this.settings = { ...folder.settings, ...o.settings };
    this.cls = folder.tokenizer.tokenToId('[CLS]') as number;
    this.sep = folder.tokenizer.tokenToId('[SEP]') as number;
    this.batchTokens = o.batchTokens ?? 4096;
  }

  /** Runs `f` over inputs in length-sorted chunks of ≤ batchTokens tokens; results in input order. */
  protected batched<R>(inputs: BertInput[], f: (chunk: BertInput[]) => R[]): R[] {
    const order = inputs.map((_, i) => i).sort((a, b) => inputs[a].ids.length - inputs[b].ids.length);
    const out = new Array<R>(inputs.length);
    let i = 0;
    while (i < order.length) {
      let tokens = 0;
      let j = i;
      while (j < order.length && (j === i || tokens + inputs[order[j]].ids.length <= this.batchTokens))
        tokens += inputs[order[j++]].ids.length;
      const chunk = order.slice(i, j);
      const res = f(chunk.map((k) => inputs[k]));
      chunk.forEach((k, n) => (out[k] = res[n]));
      i = j;
    }
    return out;
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** A bi-encoder (E5, BGE, MiniLM): texts → pooled (normalised) embeddings. */
export class BertEncoder extends BertRunner {
  static load(dir: string, o: EncoderOptions = {}): BertEncoder {
    const f = loadBertFolder(dir);
    if (f.config.head !== 'encoder')
      throw new Error(`${dir}: is a ${f.config.head} (cross-encoder), not a text encoder`);
    return new BertEncoder(f, o);
  }

  get dim(): number {
    return this.model.config.hiddenSize;
  }

  /** [CLS] prefix+text [SEP], truncated to maxLength tokens. */
  tokenize(text: string, prefix: PrefixKind = 'none'): number[] {
    const p =
      prefix === 'query'
        ? this.settings.queryPrefix
        : prefix === 'passage'
          ? this.settings.passagePrefix
          : '';
    const ids = this.tokenizer.encode(p + text);
    return [this.cls, ...ids.slice(0, this.settings.maxLength - 2), this.sep];
  }

  /** One embedding per text (normalised when the settings say so). */
  embed(texts: readonly string[], prefix: PrefixKind = 'none'): Float32Array[] {
    return this.embedIds(texts.map((t) => this.tokenize(t, prefix)));
  }

  /** Embeddings of already tokenized inputs (with their [CLS]/[SEP]). */
  embedIds(ids: readonly (readonly number[])[], normalize = this.settings.normalize): Float32Array[] {
    return this.batched(
      ids.map((x) => ({ ids: x })),
      (chunk) => this.model.pool(chunk, this.settings.pooling),
    ).map((v) => (normalize ? l2normalize(v) : v));
  }
}

/** A cross-encoder reranker (BertForSequenceClassification, one logit, e.g. ms-marco MiniLM). */
export class CrossEncoder extends BertRunner {
  static load(dir: string, o: EncoderOptions = {}): CrossEncoder {
    const f = loadBertFolder(dir);
    if (f.config.head !== 'classifier')
      throw new Error(
        `${dir}: is a text encoder, not a cross-encoder (expected architectures ["BertForSequenceClassification"])`,
      );
    // Cross-encoders see query and passage together: allow the model's full length (ms-marco: 512).
    return new CrossEncoder(f, {
      ...o,
      settings: { maxLength: f.config.maxPositionEmbeddings, ...o.settings },
    });
  }

  /**
   * [CLS] query [SEP] passage [SEP] with token types 0 / 1, truncated longest-first (as the
   * transformers tokenizer does for pairs) to maxLength tokens.
   */
  tokenizePair(query: string, passage: string): BertInput {
    const a = this.tokenizer.encode(query);
    const b = this.tokenizer.encode(passage);
    let na = a.length;
    let nb = b.length;
    while (na + nb > this.settings.maxLength - 3) {
      if (na > nb) na--;
      else nb--;
    }
    const ids = [this.cls, ...a.slice(0, na), this.sep, ...b.slice(0, nb), this.sep];
    const types = ids.map((_, i) => (i < na + 2 ? 0 : 1));
    return { ids, types };
  }

  /** Relevance logits of each passage for the query (higher = more relevant). */
  score(query: string, passages: readonly string[]): number[] {
    return this.scoreInputs(passages.map((p) => this.tokenizePair(query, p)));
  }

  scoreInputs(inputs: BertInput[]): number[] {
    return this.batched(inputs, (chunk) => this.model.classify(chunk));
  }
}

export function l2normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
  for (let i = 0; i < v.length; i++) v[i] *= inv;
  return v;
}
