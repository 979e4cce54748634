// English analysis for BM25, modelled on Lucene's EnglishAnalyzer (what pyserini's default
// analyzer is): StandardTokenizer → EnglishPossessiveFilter → LowerCaseFilter → StopFilter
// (Lucene's English stop set) → PorterStemFilter.
//
// Deviations from Lucene (deliberate, documented in BENCHMARKS.md):
// - The tokenizer approximates UAX#29 word breaking, not the full rule set: tokens are runs of
//   letters, marks, digits and '_'; '.', '\'', '’' join two letters ("U.S", "don't"); '.', ',',
//   '\'' join two digits ("3.14", "1,000"); ':' never joins; a split surrogate is skipped.
//   Han and Hiragana characters become one token each (as Lucene does); Katakana joins into words.
// - Porter stemming comes from the `stemmer` npm package (Porter's reference algorithm, the
//   same one Lucene's PorterStemmer implements).
import { stemmer } from 'stemmer';

/** Lucene's EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (33 words). */
export const LUCENE_ENGLISH_STOP_WORDS: ReadonlySet<string> = new Set([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
]);

/** Lucene StandardTokenizer's default maximum token length; longer runs are split. */
export const MAX_TOKEN_LENGTH = 255;

// Character classes of the tokenizer. ASCII is a table lookup; other code points are classified
// once by Unicode property regexes and memoised (the scanner is ~10× faster than one big regex).
const OTHER = 0;
const LETTER = 1; // \p{L}, \p{M}, '_'
const DIGIT = 2; // \p{N}
const IDEO = 3; // Han, Hiragana: one token per character
const ASCII_CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  ASCII_CLASS[c] = /[A-Za-z_]/.test(ch) ? LETTER : /[0-9]/.test(ch) ? DIGIT : OTHER;
}
const IDEO_RE = /[\p{Script=Han}\p{Script=Hiragana}]/u;
const LETTER_RE = /[\p{L}\p{M}]/u;
const DIGIT_RE = /\p{N}/u;
const classCache = new Map<number, number>();
function charClass(cp: number): number {
  if (cp < 128) return ASCII_CLASS[cp];
  let k = classCache.get(cp);
  if (k === undefined) {
    const ch = String.fromCodePoint(cp);
    k = IDEO_RE.test(ch) ? IDEO : LETTER_RE.test(ch) ? LETTER : DIGIT_RE.test(ch) ? DIGIT : OTHER;
    if (classCache.size < 1 << 16) classCache.set(cp, k);
  }
  return k;
}
/** Joiners: between two letters (' ’ .), between two digits (. , '). */
function joins(cp: number, before: number, after: number): boolean {
  if (before === LETTER && after === LETTER) return cp === 0x27 || cp === 0x2019 || cp === 0x2e;
  if (before === DIGIT && after === DIGIT) return cp === 0x2e || cp === 0x2c || cp === 0x27;
  return false;
}

/** Calls `emit` with each surface token of `text` in order (the tokenizer stage alone). */
export function scanTokens(text: string, emit: (token: string) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    let cp = text.charCodeAt(i);
    if (cp >= 0xd800 && cp <= 0xdbff) cp = text.codePointAt(i) ?? cp;
    const width = cp > 0xffff ? 2 : 1;
    const k = charClass(cp);
    if (k === OTHER) {
      i += width;
      continue;
    }
    if (k === IDEO) {
      emit(text.slice(i, i + width));
      i += width;
      continue;
    }
    // A word: letters/digits/'_' with inner joiners.
    const start = i;
    let prev = k;
    i += width;
    while (i < n) {
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff) c = text.codePointAt(i) ?? c;
      const w = c > 0xffff ? 2 : 1;
      const kc = charClass(c);
      if (kc === LETTER || kc === DIGIT) {
        prev = kc;
        i += w;
        continue;
      }
      if (kc === OTHER && i + w < n) {
        let c2 = text.charCodeAt(i + w);
        if (c2 >= 0xd800 && c2 <= 0xdbff) c2 = text.codePointAt(i + w) ?? c2;
        if (joins(c, prev, charClass(c2))) {
          i += w;
          continue;
        }
      }
      break;
    }
    if (i - start <= MAX_TOKEN_LENGTH) emit(text.slice(start, i));
    else
      for (let s = start; s < i; s += MAX_TOKEN_LENGTH)
        emit(text.slice(s, Math.min(i, s + MAX_TOKEN_LENGTH)));
  }
}

/** Surface tokens in order (no lowercasing or filtering). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  scanTokens(text, (t) => out.push(t));
  return out;
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
    scanTokens(text, (surface) => {
      const term = this.term(surface);
      if (term !== null) out.push(term);
    });
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
