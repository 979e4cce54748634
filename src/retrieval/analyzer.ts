// English analysis for BM25, modelled on Lucene's EnglishAnalyzer (what pyserini's default
// analyzer is): StandardTokenizer → EnglishPossessiveFilter → LowerCaseFilter → StopFilter
// (Lucene's English stop set) → PorterStemFilter.
//
// Deviations from Lucene (deliberate, documented in docs/benchmarks/retrieval.md):
// - The tokenizer is a regex approximation of UAX#29 word breaking, not the full rule set:
//   tokens are runs of letters, marks, digits and '_'; '.', '\'', '’' join two letters
//   ("U.S", "don't"); '.', ',', '\'' join two digits ("3.14", "1,000"); ':' never joins.
//   Han and Hiragana characters become one token each (as Lucene does); Katakana joins into words.
// - Porter stemming comes from the `stemmer` npm package (Porter's reference algorithm, the
//   same one Lucene's PorterStemmer implements).
import { stemmer } from 'stemmer';

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (33 words). */
export const LUCENE_ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it',
  'no', 'not', 'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these',
  'they', 'this', 'to', 'was', 'will', 'with',
]);

/** Lucene StandardTokenizer's default maximum token length; longer runs are split. */
export const MAX_TOKEN_LENGTH = 255;

// One token: an ideograph alone, or a word whose inner joins depend on the characters around them.
const TOKEN_RE =
  /[\p{Script=Han}\p{Script=Hiragana}]|(?:[\p{L}\p{M}\p{N}_](?:[\p{L}\p{M}\p{N}_]|(?<=\p{L})['’.](?=\p{L})|(?<=\p{N})[.,'](?=\p{N}))*)/gu;
const IDEOGRAPH_RE = /[\p{Script=Han}\p{Script=Hiragana}]/u;

/** Surface tokens in order (no lowercasing or filtering): the tokenizer stage alone. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(TOKEN_RE)) {
    const tok = m[0];
    // A word run may contain ideographs glued to letters only if the regex alternation picked the
    // word branch; split them off so every ideograph stands alone.
    if (tok.length > 1 && IDEOGRAPH_RE.test(tok)) {
      let cur = '';
      for (const ch of tok) {
        if (IDEOGRAPH_RE.test(ch)) {
          if (cur) out.push(...chunk(cur));
          out.push(ch);
          cur = '';
        } else cur += ch;
      }
      if (cur) out.push(...chunk(cur));
      continue;
    }
    if (tok.length > MAX_TOKEN_LENGTH) out.push(...chunk(tok));
    else out.push(tok);
  }
  return out;
}

function chunk(tok: string): string[] {
  if (tok.length <= MAX_TOKEN_LENGTH) return [tok];
  const parts: string[] = [];
  for (let i = 0; i < tok.length; i += MAX_TOKEN_LENGTH) parts.push(tok.slice(i, i + MAX_TOKEN_LENGTH));
  return parts;
}

/** EnglishPossessiveFilter: drop a trailing 's / ’s (any case of s). */
export function removePossessive(tok: string): string {
  const n = tok.length;
  if (n >= 2 && (tok[n - 1] === 's' || tok[n - 1] === 'S') && (tok[n - 2] === "'" || tok[n - 2] === '’')) {
    return tok.slice(0, n - 2);
  }
  return tok;
}

/**
 * The analyzer: text → index terms. Stems are memoised per surface form because stemming
 * dominates indexing time and natural text repeats words heavily (bounded cache).
 */
export class EnglishAnalyzer {
  private readonly cache = new Map<string, string | null>();
  constructor(private readonly maxCache = 1 << 20) {}

  /** Terms of `text` in order (stop words removed, stems kept; duplicates kept). */
  analyze(text: string): string[] {
    const out: string[] = [];
    for (const m of text.matchAll(TOKEN_RE)) {
      const surface = m[0];
      if (surface.length > MAX_TOKEN_LENGTH || (surface.length > 1 && IDEOGRAPH_RE.test(surface))) {
        for (const t of tokenize(surface)) {
          const term = this.term(t);
          if (term !== null) out.push(term);
        }
        continue;
      }
      const term = this.term(surface);
      if (term !== null) out.push(term);
    }
    return out;
  }

  /** One surface token → its term, or null when it is a stop word (or empties out). */
  term(surface: string): string | null {
    const hit = this.cache.get(surface);
    if (hit !== undefined) return hit;
    const lower = removePossessive(surface).toLowerCase();
    const term = lower === '' || LUCENE_ENGLISH_STOP_WORDS.has(lower) ? null : stemmer(lower);
    if (this.cache.size >= this.maxCache) this.cache.clear();
    this.cache.set(surface, term);
    return term;
  }
}
