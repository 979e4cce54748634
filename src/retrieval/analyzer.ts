// English analysis for BM25, the same as Lucene 8.x's EnglishAnalyzer (what Pyserini's wiki-18
// index uses): StandardTokenizer (UAX#29 word breaks) → EnglishPossessiveFilter →
// LowerCaseFilter → StopFilter (Lucene's 33 English stop words) → PorterStemFilter.
// docs/lucene-analysis.md says how it was checked (9,752 real Lucene token streams) and lists
// the few places where it still differs, with their reasons.
//
// The tokenizer follows the word-break grammar of Lucene's StandardTokenizerImpl.jflex:
// longest match among five rules at each position (words/numbers, emoji sequences, runs of
// South-East-Asian letters, one Han or Hiragana char), else the char is skipped. Word-break
// classes are derived from Node's Unicode properties with UAX#29's definitions (Lucene uses
// Unicode 9.0 data, Node a newer version: only characters assigned since then can differ).
import { porterStem } from './porter.ts';

/** Bump when the terms produced for some text change: BM25 indexes record it (meta.analyzer). */
export const ANALYZER_NAME = 'lucene-english-v2';

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

// ---- Word-break classes (UAX#29 Table 3, as of Unicode 9.0) ------------------------------------
const OTHER = 0;
const ALETTER = 1;
const HEBREW = 2; // Hebrew_Letter
const NUMERIC = 3;
const KATAKANA = 4;
const EXTNUM = 5; // ExtendNumLet
const MIDLETTER = 6;
const MIDNUMLET = 7;
const MIDNUM = 8;
const SQUOTE = 9;
const DQUOTE = 10;
const EXTEND = 11; // Extend | Format (absorbed by the preceding char, WB4)
const ZWJ = 12; // also absorbed, and glues emoji
const PRESSEL = 13; // U+FE0E / U+FE0F: Extend, but emoji sequences treat them apart
const HAN = 14;
const HIRAGANA = 15;
const SEASIAN = 16; // Line_Break = Complex_Context (Thai, Lao, Myanmar, Khmer …)
const RI = 17; // Regional_Indicator

// Emoji flags (Unicode emoji data; Lucene's grammar uses emoji 11.0).
const EM_CHAR = 1; // Extended_Pictographic, or Emoji minus RI, [0-9#*], ©®™〰〽 and modifiers
const EM_MODBASE = 2;
const EM_MOD = 4;

const MIDNUMLET_CPS = [0x2e, 0x2018, 0x2019, 0x2024, 0xfe52, 0xff07, 0xff0e];
const MIDLETTER_CPS = [0x3a, 0xb7, 0x387, 0x5f4, 0x2027, 0xfe13, 0xfe55, 0xff1a];
const MIDNUM_CPS = [
  0x2c, 0x3b, 0x37e, 0x589, 0x60c, 0x60d, 0x66c, 0x7f8, 0x2044, 0xfe10, 0xfe14, 0xfe50, 0xfe54, 0xff0c,
  0xff1b,
];
// Not Alphabetic, still ALetter (UAX#29).
const ALETTER_EXTRA: [number, number][] = [
  [0x2c2, 0x2c5],
  [0x2d2, 0x2d7],
  [0x2de, 0x2df],
  [0x2e5, 0x2eb],
  [0x2ed, 0x2ed],
  [0x2ef, 0x2ff],
  [0x5f3, 0x5f3],
  [0xa708, 0xa716],
  [0xa720, 0xa721],
  [0xa789, 0xa78a],
  [0xab5b, 0xab5b],
];
const KATAKANA_EXTRA = [0x3031, 0x3032, 0x3033, 0x3034, 0x3035, 0x309b, 0x309c, 0x30a0, 0x30fc, 0xff70];

const RE = {
  extend: /[\p{Grapheme_Extend}\p{gc=Mc}]/u,
  format: /\p{gc=Cf}/u,
  katakana: /\p{Script=Katakana}/u,
  hebrewLetter: /(?=\p{Script=Hebrew})\p{gc=Lo}/u,
  numeric: /\p{Nd}/u,
  seAsian:
    /(?=[\p{Script=Thai}\p{Script=Lao}\p{Script=Myanmar}\p{Script=Khmer}\p{Script=Tai_Le}\p{Script=New_Tai_Lue}\p{Script=Tai_Tham}\p{Script=Tai_Viet}\p{Script=Ahom}])[\p{L}\p{M}]/u,
  han: /\p{Script=Han}/u,
  hiragana: /\p{Script=Hiragana}/u,
  alphabetic: /\p{Alphabetic}/u,
  ideographic: /\p{Ideographic}/u,
  pc: /\p{gc=Pc}/u,
  extPict: /\p{Extended_Pictographic}/u,
  emoji: /\p{Emoji}/u,
  modBase: /\p{Emoji_Modifier_Base}/u,
  mod: /\p{Emoji_Modifier}/u,
};

function classify(cp: number): number {
  if (cp === 0x27) return SQUOTE;
  if (cp === 0x22) return DQUOTE;
  if (MIDNUMLET_CPS.includes(cp)) return MIDNUMLET;
  if (MIDLETTER_CPS.includes(cp)) return MIDLETTER;
  if (MIDNUM_CPS.includes(cp)) return MIDNUM;
  if (cp === 0x200d) return ZWJ;
  if (cp === 0xfe0e || cp === 0xfe0f) return PRESSEL;
  if (cp >= 0x1f1e6 && cp <= 0x1f1ff) return RI;
  const ch = String.fromCodePoint(cp);
  if (RE.seAsian.test(ch)) return SEASIAN;
  if (RE.mod.test(ch)) return OTHER; // E_Modifier in Unicode 9, not Extend
  if (RE.extend.test(ch)) return EXTEND;
  if (RE.format.test(ch)) return cp === 0x200b ? OTHER : EXTEND;
  if (RE.katakana.test(ch) || KATAKANA_EXTRA.includes(cp)) return KATAKANA;
  if (RE.hebrewLetter.test(ch)) return HEBREW;
  if (RE.numeric.test(ch) || cp === 0x66b) return NUMERIC;
  if (RE.han.test(ch)) return HAN;
  if (RE.hiragana.test(ch)) return HIRAGANA;
  if (
    (RE.alphabetic.test(ch) || ALETTER_EXTRA.some(([a, b]) => cp >= a && cp <= b)) &&
    !RE.ideographic.test(ch)
  )
    return ALETTER;
  if (RE.pc.test(ch)) return EXTNUM;
  return OTHER;
}

function classifyEmoji(cp: number): number {
  const ch = String.fromCodePoint(cp);
  let f = 0;
  const accidental = cp === 0xa9 || cp === 0xae || cp === 0x2122 || cp === 0x3030 || cp === 0x303d;
  const keycapBase = (cp >= 0x30 && cp <= 0x39) || cp === 0x23 || cp === 0x2a;
  const isRi = cp >= 0x1f1e6 && cp <= 0x1f1ff;
  const isMod = RE.mod.test(ch);
  if (RE.extPict.test(ch) || (RE.emoji.test(ch) && !accidental && !keycapBase && !isRi && !isMod))
    f |= EM_CHAR;
  if (RE.modBase.test(ch)) f |= EM_MODBASE;
  if (isMod) f |= EM_MOD;
  return f;
}

// Memoised per code point (255 = not yet classified): the regexes run once per distinct char.
const UNKNOWN = 255;
const wbTable = new Uint8Array(0x110000).fill(UNKNOWN);
const emTable = new Uint8Array(0x110000).fill(UNKNOWN);
function wb(cp: number): number {
  let k = wbTable[cp]!;
  if (k === UNKNOWN) k = wbTable[cp] = classify(cp);
  return k;
}
function em(cp: number): number {
  let k = emTable[cp]!;
  if (k === UNKNOWN) k = emTable[cp] = classifyEmoji(cp);
  return k;
}

/** The code point at i (a lone surrogate is itself). */
function cpAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
  }
  return c;
}
const width = (cp: number): number => (cp > 0xffff ? 2 : 1);

/** Past the Extend/Format/ZWJ chars at i (WB4); `presSel` false stops at U+FE0E/U+FE0F. */
function skipExt(s: string, i: number, presSel = true): number {
  while (i < s.length) {
    if (s.charCodeAt(i) < 0xad) break; // fast path: no Extend/Format/ZWJ below U+00AD (soft hyphen)
    const cp = cpAt(s, i);
    const k = wb(cp);
    if (k === EXTEND || k === ZWJ || (presSel && k === PRESSEL)) i += width(cp);
    else break;
  }
  return i;
}

// Word rule states (the jflex word grammar as a DFA over WB4-collapsed units).
const S_START = 0; // nothing yet / only ExtendNumLet so far (not accepting)
const S_KATA = 1; // after Katakana (accepting)
const S_EXT = 2; // after ExtendNumLet following a segment (accepting)
const S_LETTER = 3; // after ALetter / Hebrew_Letter (accepting)
const S_LMID = 4; // letter + MidLetter/MidNumLet/' : needs a letter
const S_HQ = 5; // Hebrew_Letter + ' (accepting, WB7a)
const S_HDQ = 6; // Hebrew_Letter + " : needs a Hebrew letter
const S_NUM = 7; // after Numeric (accepting)
const S_NMID = 8; // number + MidNum/MidNumLet/' : needs a digit
const ACCEPTING = [false, true, true, true, false, true, false, true, false];

/** End of the longest word/number token starting at i, or i when none. */
function matchWord(s: string, i: number): number {
  let state = S_START;
  let hebrew = false; // was the last letter a Hebrew_Letter?
  let best = i;
  let p = i;
  while (p < s.length) {
    const cp = cpAt(s, p);
    const k = wb(cp);
    let next = -1;
    const letter = k === ALETTER || k === HEBREW;
    switch (state) {
      case S_START:
      case S_EXT:
        if (k === EXTNUM) next = state;
        else if (k === KATAKANA) next = S_KATA;
        else if (letter) next = S_LETTER;
        else if (k === NUMERIC) next = S_NUM;
        break;
      case S_KATA:
        if (k === KATAKANA) next = S_KATA;
        else if (k === EXTNUM) next = S_EXT;
        break;
      case S_LETTER:
        if (letter) next = S_LETTER;
        else if (k === NUMERIC) next = S_NUM;
        else if (k === EXTNUM) next = S_EXT;
        else if (k === SQUOTE && hebrew) next = S_HQ;
        else if (k === MIDLETTER || k === MIDNUMLET || k === SQUOTE) next = S_LMID;
        else if (k === DQUOTE && hebrew) next = S_HDQ;
        break;
      case S_HQ:
        if (letter) next = S_LETTER;
        else if (k === NUMERIC) next = S_NUM;
        else if (k === EXTNUM) next = S_EXT;
        break;
      case S_LMID:
        if (letter) next = S_LETTER;
        break;
      case S_HDQ:
        if (k === HEBREW) next = S_LETTER;
        break;
      case S_NUM:
        if (k === NUMERIC) next = S_NUM;
        else if (letter) next = S_LETTER;
        else if (k === EXTNUM) next = S_EXT;
        else if (k === MIDNUM || k === MIDNUMLET || k === SQUOTE) next = S_NMID;
        break;
      case S_NMID:
        if (k === NUMERIC) next = S_NUM;
        break;
    }
    if (next < 0) break;
    if (letter) hebrew = k === HEBREW;
    state = next;
    p = skipExt(s, p + width(cp));
    if (ACCEPTING[state]) best = p;
  }
  return best;
}

/** One emoji_zwj_element (char, presentation or modifier sequence) at i; its end, or -1. */
function emojiElement(s: string, i: number): number {
  let p = i;
  while (p < s.length && s.charCodeAt(p) === 0x200d) p++;
  if (p >= s.length) return -1;
  const cp = cpAt(s, p);
  const f = em(cp);
  if (f & EM_MODBASE) {
    const r = skipExt(s, p + width(cp), false);
    if (r < s.length && em(cpAt(s, r)) & EM_MOD) return skipExt(s, r + 2, false);
  }
  if (f & EM_CHAR) {
    const r = skipExt(s, p + width(cp), false);
    return r < s.length && s.charCodeAt(r) === 0xfe0f ? r + 1 : r;
  }
  if (f & EM_MOD && p === i) return skipExt(s, p + width(cp), false);
  return -1;
}

/** End of the longest emoji sequence at i (zwj sequences, keycaps, flags), or i when none. */
function matchEmoji(s: string, i: number): number {
  const cp = cpAt(s, i);
  if ((cp >= 0x30 && cp <= 0x39) || cp === 0x23 || cp === 0x2a) {
    // Keycap: base, Extend except U+20E3 / presentation selectors, U+FE0F?, U+20E3.
    let r = i + 1;
    while (r < s.length) {
      const c = cpAt(s, r);
      const k = wb(c);
      if ((k === EXTEND || k === ZWJ) && c !== 0x20e3) r += width(c);
      else break;
    }
    if (r < s.length && s.charCodeAt(r) === 0xfe0f) r++;
    return r < s.length && s.charCodeAt(r) === 0x20e3 ? skipExt(s, r + 1, false) : i;
  }
  if (wb(cp) === RI) {
    const r = skipExt(s, i + 2);
    return r < s.length && wb(cpAt(s, r)) === RI ? skipExt(s, r + 2) : i;
  }
  let end = emojiElement(s, i);
  if (end < 0) return i;
  for (;;) {
    // (ZWJ element)*: the ZWJ may have been taken in by the previous element's WB4 tail.
    const glued = end > i && s.charCodeAt(end - 1) === 0x200d;
    if (!glued && !(end < s.length && s.charCodeAt(end) === 0x200d)) break;
    const next = emojiElement(s, glued ? end : end + 1);
    if (next < 0) break;
    end = next;
  }
  return end;
}

/** Calls `emit` with each surface token of `text` in order (the tokenizer stage alone). */
export function scanTokens(text: string, emit: (token: string) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const cp = cpAt(text, i);
    const k = wb(cp);
    let end = i;
    if (k === ALETTER || k === HEBREW || k === NUMERIC || k === KATAKANA || k === EXTNUM)
      end = matchWord(text, i);
    // Emoji sequences start with a non-ASCII char or a keycap base (0-9 # *).
    if (cp >= 0x80 || cp === 0x23 || cp === 0x2a || (cp >= 0x30 && cp <= 0x39)) {
      const e = matchEmoji(text, i);
      if (e > end) end = e;
    }
    if (end === i) {
      if (k === SEASIAN) {
        end = i;
        while (end < n && wb(cpAt(text, end)) === SEASIAN) end = skipExt(text, end + width(cpAt(text, end)));
      } else if (k === HAN || k === HIRAGANA) end = skipExt(text, i + width(cp));
    }
    if (end === i) {
      i += width(cp); // not part of any token (WB999): dropped
      continue;
    }
    if (end - i <= MAX_TOKEN_LENGTH) emit(text.slice(i, end));
    else
      for (let s = i; s < end; s += MAX_TOKEN_LENGTH)
        emit(text.slice(s, Math.min(end, s + MAX_TOKEN_LENGTH)));
    i = end;
  }
}

/** Surface tokens in order (no lowercasing or filtering). */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  scanTokens(text, (t) => out.push(t));
  return out;
}

/** EnglishPossessiveFilter: drop a trailing 's, ’s or ＇s (s in either case). */
export function removePossessive(tok: string): string {
  const n = tok.length;
  if (n < 2) return tok;
  const s = tok.charCodeAt(n - 1);
  const q = tok.charCodeAt(n - 2);
  if ((s === 0x73 || s === 0x53) && (q === 0x27 || q === 0x2019 || q === 0xff07)) return tok.slice(0, n - 2);
  return tok;
}

/**
 * LowerCaseFilter: Java's Character.toLowerCase per code point (the simple mapping: İ → i, no
 * combining dot; Σ → σ everywhere, no final-sigma rule), unlike String.prototype.toLowerCase.
 */
export function lowerCase(tok: string): string {
  let ascii = true;
  for (let i = 0; i < tok.length; i++) if (tok.charCodeAt(i) >= 0x80) ascii = false;
  if (ascii) return tok.toLowerCase();
  let out = '';
  // Per code point, so no context rule applies; U+0130 is the one char whose full lowercase
  // mapping (i + U+0307) differs from its simple one.
  for (const ch of tok) out += ch === '\u0130' ? 'i' : ch.toLowerCase();
  return out;
}

/** One surface token → its index term, or null for a stop word. */
export function analyzeToken(surface: string): string | null {
  const lower = lowerCase(removePossessive(surface));
  if (lower === '' || LUCENE_ENGLISH_STOP_WORDS.has(lower)) return null;
  return porterStem(lower);
}

/**
 * The analyzer: text → index terms. Terms are memoised per surface form because stemming
 * dominates indexing time and natural text repeats words heavily (bounded cache).
 */
export class EnglishAnalyzer {
  readonly name = ANALYZER_NAME;
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
    const term = analyzeToken(surface);
    if (this.cache.size >= this.maxCache) this.cache.clear();
    this.cache.set(surface, term);
    return term;
  }
}
