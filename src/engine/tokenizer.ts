// Tokenizer: a Hugging Face `tokenizer.json` through @huggingface/tokenizers, plus a small
// byte-level BPE trainer (GPT-2 / Qwen2 style) for our tiny models.
//
// Conventions (documented in notes/issue-4-engine-io.md):
// - encode() adds no special tokens (no BOS): prompts come from chat templates, which carry their
//   own special tokens; token-in/token-out training never re-encodes text.
// - decode() keeps special tokens and never "cleans up" spaces, so decode(encode(s)) === s.
// - Search-R1 tags are added tokens (non-special) in tokenizers we train: one id each, decoded
//   to the same text, and stop strings match them like any text.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as HfTokenizerImpl } from '@huggingface/tokenizers';
import type { ChatMessage } from '../core/tokenizer.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import { renderChatTemplate } from '../protocol/prompt.ts';

export type Json = Record<string, unknown>;

/** The files that make a tokenizer (contents of tokenizer.json / tokenizer_config.json). */
export interface TokenizerFiles {
  tokenizerJson: Json;
  tokenizerConfig: Json;
}

/** Qwen2's pre-tokenizer split (Oniguruma syntax, as stored in tokenizer.json; llama.cpp pre "qwen2"). */
export const QWEN2_SPLIT_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** The same split in JavaScript syntax (used only to count words while training). */
const QWEN2_SPLIT_JS =
  /'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+/gu;

export const DEFAULT_SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;
export const SEARCH_R1_TAGS = [
  '<think>',
  '</think>',
  '<search>',
  '</search>',
  '<information>',
  '</information>',
  '<answer>',
  '</answer>',
] as const;

/** ChatML (as Qwen2.5 without tools and without a default system prompt): short for tiny models. */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** GPT-2's reversible byte → printable-unicode-char mapping used by byte-level BPE. */
export function byteToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i])));
  return out;
}

function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string')
    return (v as Json).content as string;
  return null;
}

export class HfTokenizer implements Tokenizer {
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  readonly chatTemplate: string | null;
  private readonly impl: HfTokenizerImpl;

  constructor(
    readonly files: TokenizerFiles,
    generationConfig: Json | null = null,
    readonly source = 'tokenizer.json',
  ) {
    const { tokenizerJson, tokenizerConfig } = files;
    const model = tokenizerJson.model as Json | undefined;
    if (!model || typeof model !== 'object') throw new Error(`${source}: missing field "model"`);
    try {
      this.impl = new HfTokenizerImpl(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new Error(`${source}: cannot load tokenizer (${(e as Error).message})`);
    }
    const vocab = this.impl.get_vocab(true);
    let max = -1;
    for (const id of vocab.values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const idOf = (field: string, v: unknown): number | null => {
      const c = tokenContent(v);
      if (c === null) return null;
      const id = this.impl.token_to_id(c);
      if (id === undefined)
        throw new Error(
          `${source}: tokenizer_config field "${field}" names token ${JSON.stringify(c)}, which is not in the vocabulary`,
        );
      return id;
    };
    const eos = new Set<number>();
    const g = generationConfig?.eos_token_id;
    for (const id of Array.isArray(g) ? g : g !== undefined && g !== null ? [g] : []) {
      if (typeof id !== 'number')
        throw new Error(`generation_config.json: field "eos_token_id" must be a number or a list of numbers`);
      eos.add(id);
    }
    const cfgEos = idOf('eos_token', tokenizerConfig.eos_token);
    if (cfgEos !== null) eos.add(cfgEos);
    this.eosTokenIds = [...eos];
    this.bosTokenId = idOf('bos_token', tokenizerConfig.bos_token);
    const ct = tokenizerConfig.chat_template;
    // A list of named templates (some models): take "default".
    if (Array.isArray(ct))
      this.chatTemplate =
        ((ct.find((t: Json) => t.name === 'default') as Json | undefined)?.template as string) ?? null;
    else this.chatTemplate = typeof ct === 'string' ? ct : null;
  }

  static load(dir: string): HfTokenizer {
    return loadTokenizer(dir);
  }

  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    return this.impl.encode(text, { add_special_tokens: opts.addSpecialTokens ?? false }).ids;
  }

  decode(ids: readonly number[], opts: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    const fast = this.byteDecoder();
    if (fast) return fast.decode(ids, opts.skipSpecialTokens ?? false);
    return this.impl.decode([...ids], {
      skip_special_tokens: opts.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  private fastDecoder: ByteLevelDecoder | null | undefined = undefined;

  /** The byte-table decoder when this is a plain byte-level BPE (built on first use), else null. */
  private byteDecoder(): ByteLevelDecoder | null {
    if (this.fastDecoder === undefined)
      this.fastDecoder = ByteLevelDecoder.tryBuild(this.files.tokenizerJson);
    return this.fastDecoder;
  }

  tokenToId(token: string): number | undefined {
    return this.impl.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.impl.id_to_token(id);
  }

  applyChatTemplate(messages: ChatMessage[], opts: { addGenerationPrompt?: boolean } = {}): string | null {
    if (!this.chatTemplate) return null;
    const c = this.files.tokenizerConfig;
    return renderChatTemplate(this.chatTemplate, messages, {
      addGenerationPrompt: opts.addGenerationPrompt ?? false,
      bosToken: tokenContent(c.bos_token) ?? '',
      eosToken: tokenContent(c.eos_token) ?? '',
    });
  }
}

/**
 * decode() for byte-level BPE without the library: each id's bytes come from a table, and the
 * concatenation is UTF-8 decoded once (invalid/partial sequences → U+FFFD, as the library does).
 * ~10× faster, which matters because samplers decode the whole completion at every step to look
 * for stop strings. Only used when the decoder is exactly ByteLevel and there is no normalizer
 * that could make added-token text differ; otherwise decode() goes through the library.
 */
class ByteLevelDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private constructor(
    private readonly pieces: (Uint8Array | undefined)[],
    private readonly special: Set<number>,
  ) {}

  static tryBuild(tj: Json): ByteLevelDecoder | null {
    const dec = tj.decoder as Json | null | undefined;
    const model = tj.model as Json | undefined;
    if (!dec || dec.type !== 'ByteLevel' || !model || model.type !== 'BPE') return null;
    const vocab = model.vocab as Record<string, number> | undefined;
    if (!vocab) return null;
    const toByte = new Map<string, number>(byteToUnicode().map((c, b) => [c, b]));
    const pieces: (Uint8Array | undefined)[] = [];
    for (const [tok, id] of Object.entries(vocab)) {
      const bytes = new Uint8Array(tok.length);
      let n = 0;
      for (const ch of tok) {
        const b = toByte.get(ch);
        if (b === undefined) return null; // not a byte-level vocabulary after all
        bytes[n++] = b;
      }
      pieces[id] = bytes.subarray(0, n);
    }
    const enc = new TextEncoder();
    const special = new Set<number>();
    for (const a of (tj.added_tokens ?? []) as { id: number; content: string; special?: boolean }[]) {
      // Added tokens decode to their content (the library maps it through the byte table only when
      // every character is in it; ASCII-printable content is the same either way).
      if (![...a.content].every((c) => c.charCodeAt(0) > 0x20 && c.charCodeAt(0) < 0x7f)) return null;
      pieces[a.id] = enc.encode(a.content);
      if (a.special) special.add(a.id);
    }
    return new ByteLevelDecoder(pieces, special);
  }

  decode(ids: readonly number[], skipSpecial: boolean): string {
    // Ids without a token (embedding rows beyond the tokenizer) decode to nothing, as in the
    // library and in llama.cpp (UNUSED tokens).
    let len = 0;
    for (const id of ids) if (!(skipSpecial && this.special.has(id))) len += this.pieces[id]?.length ?? 0;
    const buf = new Uint8Array(len);
    let o = 0;
    for (const id of ids) {
      const p = this.pieces[id];
      if (p === undefined || (skipSpecial && this.special.has(id))) continue;
      buf.set(p, o);
      o += p.length;
    }
    return this.utf8.decode(buf);
  }
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/** Loads tokenizer.json (+ tokenizer_config.json and generation_config.json when present) from a folder. */
export function loadTokenizer(dir: string): HfTokenizer {
  const tj = join(dir, 'tokenizer.json');
  if (!existsSync(tj)) throw new Error(`${dir}: no tokenizer.json (only fast tokenizers are supported)`);
  const tc = join(dir, 'tokenizer_config.json');
  const gc = join(dir, 'generation_config.json');
  const tokenizerConfig = existsSync(tc) ? readJson(tc) : {};
  // Newer transformers save the template beside the config (chat_template.jinja / .json).
  if (tokenizerConfig.chat_template === undefined) {
    const jinja = join(dir, 'chat_template.jinja');
    const json = join(dir, 'chat_template.json');
    if (existsSync(jinja)) tokenizerConfig.chat_template = readFileSync(jinja, 'utf8');
    else if (existsSync(json)) {
      const t = readJson(json).chat_template;
      if (typeof t !== 'string') throw new Error(`${json}: field "chat_template" must be a string`);
      tokenizerConfig.chat_template = t;
    }
  }
  return new HfTokenizer(
    { tokenizerJson: readJson(tj), tokenizerConfig },
    existsSync(gc) ? readJson(gc) : null,
    tj,
  );
}

export interface TrainBpeOptions {
  /** Total size: 256 byte tokens + merges + special tokens + added tokens. */
  vocabSize: number;
  /** Special (control) tokens, appended after the BPE vocabulary. Default: endoftext, im_start, im_end. */
  specialTokens?: readonly string[];
  /** Ordinary added tokens (e.g. SEARCH_R1_TAGS): always one token, decoded to themselves. */
  addedTokens?: readonly string[];
  /** Pairs seen fewer times than this are never merged (default 2). */
  minFrequency?: number;
  chatTemplate?: string;
}

/**
 * Trains a byte-level BPE on `texts` and returns tokenizer.json + tokenizer_config.json contents
 * loadable by @huggingface/tokenizers, transformers and (through our GGUF export) llama.cpp.
 * Merges are chosen greedily by pair frequency over pre-tokenized words (ties: lowest pair ids,
 * so training is deterministic). Stops early when no pair reaches minFrequency.
 */
export function trainBpeTokenizer(texts: Iterable<string>, opts: TrainBpeOptions): TokenizerFiles {
  const specials = [...(opts.specialTokens ?? DEFAULT_SPECIAL_TOKENS)];
  const added = [...(opts.addedTokens ?? [])];
  const reserved = 256 + specials.length + added.length;
  if (opts.vocabSize < reserved) {
    throw new Error(
      `trainBpeTokenizer: vocabSize ${opts.vocabSize} < 256 bytes + ${specials.length} special + ${added.length} added tokens`,
    );
  }
  const minFreq = opts.minFrequency ?? 2;
  const b2u = byteToUnicode();
  const enc = new TextEncoder();
  const splitOn = [...specials, ...added];

  // Word counts over pre-tokenized chunks (added/special tokens are cut out first, as at encode time).
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    for (const piece of splitOnTokens(text, splitOn)) {
      for (const m of piece.matchAll(QWEN2_SPLIT_JS)) wordCounts.set(m[0], (wordCounts.get(m[0]) ?? 0) + 1);
    }
  }
  const words: number[][] = [];
  const counts: number[] = [];
  for (const [w, c] of wordCounts) {
    words.push([...enc.encode(w)]);
    counts.push(c);
  }

  // symbols: id → string (byte-level chars); ids 0..255 are the bytes.
  const symbols: string[] = b2u.slice();
  const merges: string[] = [];
  const K = 1 << 20; // pair key = a*K + b (vocab < 2^20)
  const pairCounts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const touched: number[] = [];
  const addPairs = (wi: number, sign: number) => {
    const w = words[wi];
    for (let i = 0; i + 1 < w.length; i++) {
      const k = w[i] * K + w[i + 1];
      pairCounts.set(k, (pairCounts.get(k) ?? 0) + sign * counts[wi]);
      if (sign < 0) touched.push(k);
      if (sign > 0) {
        let s = where.get(k);
        if (!s) where.set(k, (s = new Set()));
        s.add(wi);
      }
    }
  };
  for (let wi = 0; wi < words.length; wi++) addPairs(wi, 1);

  const target = opts.vocabSize - specials.length - added.length;
  while (symbols.length < target) {
    let best = -1;
    let bestCount = minFreq - 1;
    for (const [k, c] of pairCounts) {
      if (c > bestCount || (c === bestCount && c >= minFreq && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best < 0) break;
    const a = Math.floor(best / K);
    const b = best % K;
    const id = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push(`${symbols[a]} ${symbols[b]}`);
    for (const wi of where.get(best) ?? []) {
      const w = words[wi];
      addPairs(wi, -1);
      const out: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          out.push(id);
          i++;
        } else out.push(w[i]);
      }
      words[wi] = out;
      addPairs(wi, 1);
    }
    pairCounts.delete(best);
    where.delete(best);
    for (const k of touched) if ((pairCounts.get(k) ?? 0) <= 0) pairCounts.delete(k);
    touched.length = 0;
  }

  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  const addedTokens = [
    ...specials.map((content) => ({ content, special: true })),
    ...added.map((content) => ({ content, special: false })),
  ].map((t, i) => ({
    id: symbols.length + i,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: t.special,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizerJson: Json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    // No normalizer: NFC would change non-normalised input and break the byte-exact round trip.
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_SPLIT_REGEX }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const addedDecoder: Record<string, Json> = {};
  for (const t of addedTokens) {
    addedDecoder[String(t.id)] = {
      content: t.content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: t.special,
    };
  }
  const eos = specials.includes('<|endoftext|>') ? '<|endoftext|>' : (specials[0] ?? null);
  const tokenizerConfig: Json = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: addedDecoder,
    additional_special_tokens: specials.filter((s) => s !== eos),
    bos_token: null,
    chat_template: opts.chatTemplate ?? CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: eos,
    errors: 'replace',
    model_max_length: 32768,
    pad_token: eos,
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  return { tokenizerJson, tokenizerConfig };
}

/** Splits text around occurrences of the given tokens (longest first), dropping the tokens. */
function splitOnTokens(text: string, tokens: readonly string[]): string[] {
  if (tokens.length === 0) return [text];
  const esc = [...tokens]
    .sort((a, b) => b.length - a.length)
    .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return text.split(new RegExp(esc.join('|'), 'u')).filter((s) => s.length > 0);
}
