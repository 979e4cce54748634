// Deterministic synthetic corpora for tests and benchmarks, wiki-18 shaped at any size (up to its
// 21M passages): Zipf-distributed words (real English stop words at the top ranks), a vocabulary
// that grows with the corpus, 100-word passages grouped in titled articles, and queries of 3–6
// words, half copied from passages (so full of frequent words), half drawn from the vocabulary.
import { mulberry32 } from '../core/rng.ts';
import type { CorpusDoc } from './bm25/build.ts';
import { BinWriter } from './bm25/format.ts';

const GUIDE = 1 << 16;


const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ren',
  'tas',
  'vu',
  'zel',
  'dor',
  'pin',
  'shu',
  'gra',
  'bel',
  'nox',
  'tri',
  'qua',
  'mer',
  'fo',
  'dak',
  'sim',
  'bro',
  'wen',
  'hal',
  'jor',
  'cy',
];
const SUFFIXES = ['', '', '', 's', 'ing', 'ed', 'er', 'ation', 'ly', 'ness'];
const STOPS = [
  'the',
  'of',
  'and',
  'in',
  'to',
  'a',
  'was',
  'is',
  'for',
  'on',
  'as',
  'by',
  'with',
  'that',
  'it',
];

export interface SyntheticOptions {
  numDocs: number;
  /** Distinct words. Default grows with the corpus as natural text does (Heaps' law, see
   *  defaultVocabSize): 50,000 at 200k passages, ~1M at wiki-18's 21M. */
  vocabSize?: number;
  /** Words per passage: wiki-18 cuts articles into 100-word passages, so most have exactly this
   *  many and an article's last passage is shorter (default 100). */
  wordsPerDoc?: number;
  zipfS?: number; // default 1.0
  seed?: number;
}

/** Heaps' law V = K·n^β over n = 100·numDocs tokens, fitted to give 50,000 words at 200k
 *  passages (the earlier fixed size) with β = 0.6 (English Wikipedia's range is 0.5–0.7). */
export function defaultVocabSize(numDocs: number): number {
  const tokens = Math.max(1, numDocs) * 100;
  const v = Math.round(50_000 * Math.pow(tokens / 2e7, 0.6));
  return Math.min(2_000_000, Math.max(2_000, v));
}

/**
 * Wiki-18-shaped passages: articles of a geometric number of passages (mean 3.5) sharing a title of
 * 1–3 rare-ish words; words Zipf-distributed over the vocabulary (real English stop words at the top
 * ranks), with 10% drawn from the article's own 8 topic words so terms recur within a passage and
 * an article, as in real text (tf > 1, bursty document frequencies).
 */
export class SyntheticCorpus {
  readonly vocab: string[];
  private readonly cdf: Float64Array;
  /** guide[j] = first rank whose cdf ≥ j/GUIDE: O(1) expected Zipf sampling. */
  private readonly guide: Int32Array;
  private readonly rand: () => number;
  constructor(readonly opts: SyntheticOptions) {
    const V = opts.vocabSize ?? defaultVocabSize(opts.numDocs);
    this.rand = mulberry32(opts.seed ?? 1);
    const seen = new Set<string>();
    this.vocab = [...STOPS];
    for (const s of STOPS) seen.add(s);
    const r = mulberry32((opts.seed ?? 1) ^ 0x9e3779b9);
    // 24 syllables × 1–6 → ~200M stems: far more than any vocabSize we ask for.
    if (V > 5_000_000)
      throw new Error(`vocabSize ${V} too large for the synthetic word generator (max 5,000,000)`);
    while (this.vocab.length < V) {
      // Frequent words are short, rare ones longer (as in natural language).
      const rank = this.vocab.length;
      const maxSyl = rank < 1000 ? 2 : rank < 50_000 ? 4 : 6;
      const n = 1 + Math.floor(r() * maxSyl);
      let w = '';
      for (let i = 0; i < n; i++) w += SYLLABLES[Math.floor(r() * SYLLABLES.length)];
      w += SUFFIXES[Math.floor(r() * SUFFIXES.length)];
      if (!seen.has(w)) {
        seen.add(w);
        this.vocab.push(w);
      }
    }
    const s = opts.zipfS ?? 1.0;
    this.cdf = new Float64Array(V);
    let acc = 0;
    for (let i = 0; i < V; i++) {
      acc += 1 / Math.pow(i + 1, s);
      this.cdf[i] = acc;
    }
    for (let i = 0; i < V; i++) this.cdf[i] /= acc;
    this.cdf[V - 1] = 1;
    this.guide = new Int32Array(GUIDE + 1);
    let i = 0;
    for (let j = 0; j <= GUIDE; j++) {
      while (i < V - 1 && this.cdf[i] < j / GUIDE) i++;
      this.guide[j] = i;
    }
  }

  /** A Zipf-distributed vocabulary rank. */
  rank(): number {
    const u = this.rand();
    const j = Math.floor(u * GUIDE);
    let lo = this.guide[j];
    let hi = this.guide[j + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  word(): string {
    return this.vocab[this.rank()];
  }

  /** A content word (rank ≥ 1,000: no stop words or very common words), for titles and topics. */
  private contentWord(): string {
    let r = this.rank();
    while (r < 1000 && this.vocab.length > 2000) r = this.rank();
    return this.vocab[r];
  }

  passageText(topic: string[] = [], n = this.opts.wordsPerDoc ?? 100): string {
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      const u = this.rand();
      words.push(topic.length > 0 && u < 0.1 ? topic[Math.floor(u * 10 * topic.length)] : this.word());
    }
    return words.join(' ');
  }

  /** All passages, wiki-18 shaped (`"Title"\ntext`), generated lazily. */
  *docs(): Generator<CorpusDoc & { title: string; text: string }> {
    const full = this.opts.wordsPerDoc ?? 100;
    let i = 0;
    while (i < this.opts.numDocs) {
      const titleWords: string[] = [];
      const tw = 1 + Math.floor(this.rand() * 3);
      for (let j = 0; j < tw; j++) titleWords.push(this.contentWord());
      const title = titleWords.join(' ');
      const topic = [...titleWords];
      while (topic.length < 8) topic.push(this.contentWord());
      // Geometric number of passages, mean 3.5; the last one is a partial chunk.
      let parts = 1;
      while (this.rand() < 1 - 1 / 3.5) parts++;
      for (let p = 0; p < parts && i < this.opts.numDocs; p++, i++) {
        const n = p === parts - 1 ? Math.max(1, Math.round(full * (0.1 + 0.9 * this.rand()))) : full;
        const text = this.passageText(topic, n);
        yield { id: String(i), title, text, contents: `"${title}"\n${text}` };
      }
    }
  }

  /** Stream the corpus to `path` as wiki-18 JSONL (`{"id", "contents"}` per line); returns up to
   *  `sample` passage texts (for query generation). */
  writeJsonl(path: string, sample = 20_000): string[] {
    const w = new BinWriter(path, 4 << 20);
    const enc = new TextEncoder();
    const texts: string[] = [];
    for (const d of this.docs()) {
      if (texts.length < sample) texts.push(d.text);
      w.write(enc.encode(JSON.stringify({ id: d.id, contents: d.contents }) + '\n'));
    }
    w.close();
    return texts;
  }
  /** Queries: half a window of 3–6 consecutive words from one of `passages`, half random words. */
  queries(n: number, passages: string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const len = 3 + Math.floor(this.rand() * 4);
      if (i % 2 === 0 && passages.length > 0) {
        const words = passages[Math.floor(this.rand() * passages.length)].split(' ');
        const start = Math.floor(this.rand() * Math.max(1, words.length - len));
        out.push(words.slice(start, start + len).join(' '));
      } else {
        const words: string[] = [];
        for (let j = 0; j < len; j++) words.push(this.word());
        out.push(words.join(' '));
      }
    }
    return out;
  }
}
