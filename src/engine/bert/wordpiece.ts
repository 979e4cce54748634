// A small uncased WordPiece tokenizer.json (BERT's format: BertNormalizer, BertPreTokenizer,
// [CLS] A [SEP] (B [SEP]) template, WordPiece model) for random tiny encoders. Real encoders
// (E5, BGE, MiniLM) ship their own tokenizer.json; this only has to be a valid, stable one.
import type { Json, TokenizerFiles } from '../tokenizer.ts';

export const BERT_SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

/**
 * Vocabulary: the specials, every printable ASCII character and its `##` continuation, then the
 * most frequent lowercased words of `texts` (ties by first appearance) up to `vocabSize`.
 */
export function buildWordPieceTokenizer(texts: readonly string[], vocabSize: number): TokenizerFiles {
  const vocab: string[] = [...BERT_SPECIALS];
  const seen = new Set<string>(vocab);
  const add = (t: string) => {
    if (!seen.has(t) && vocab.length < vocabSize) {
      seen.add(t);
      vocab.push(t);
    }
  };
  const chars: string[] = [];
  for (let c = 0x21; c < 0x7f; c++) {
    const ch = String.fromCharCode(c);
    if (ch >= 'A' && ch <= 'Z') continue; // uncased
    chars.push(ch);
  }
  for (const ch of chars) add(ch);
  for (const ch of chars) if (/[a-z0-9]/.test(ch)) add(`##${ch}`);
  const counts = new Map<string, number>();
  for (const t of texts)
    for (const w of t.toLowerCase().match(/[a-z0-9]+/g) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].filter(([w]) => w.length > 1).sort((a, b) => b[1] - a[1]);
  for (const [w] of words) add(w);
  if (vocab.length < 2 * BERT_SPECIALS.length) throw new Error(`WordPiece vocab ${vocabSize} is too small`);
  const id = (t: string) => vocab.indexOf(t);
  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: BERT_SPECIALS.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
  const tokenizerConfig: Json = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    cls_token: '[CLS]',
    sep_token: '[SEP]',
    pad_token: '[PAD]',
    unk_token: '[UNK]',
    mask_token: '[MASK]',
    model_max_length: 512,
  };
  return { tokenizerJson, tokenizerConfig };
}
