// Deterministic synthetic corpora for tests and benchmarks: passages of Zipf-distributed words
// (including real English stop words at the top ranks, as in natural text) and queries of 3–6
// words, half copied from passages (so full of frequent words), half drawn from the vocabulary.
import type { CorpusDoc } from './bm25/build.ts';

/** mulberry32: small, fast, seedable PRNG → [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
  vocabSize?: number; // default 50,000
  wordsPerDoc?: number; // mean, default 100 (uniform ±30%)
  zipfS?: number; // default 1.0
  seed?: number;
}

export class SyntheticCorpus {
  readonly vocab: string[];
  private readonly cdf: Float64Array;
  private readonly rand: () => number;
  constructor(readonly opts: SyntheticOptions) {
    const V = opts.vocabSize ?? 50_000;
    this.rand = rng(opts.seed ?? 1);
    const seen = new Set<string>();
    this.vocab = [...STOPS];
    for (const s of STOPS) seen.add(s);
    const r = rng((opts.seed ?? 1) ^ 0x9e3779b9);
    // 24 syllables × up to 4 → ~350k stems (× suffixes): far more than any vocabSize we ask for.
    if (V > 300_000)
      throw new Error(`vocabSize ${V} too large for the synthetic word generator (max 300,000)`);
    while (this.vocab.length < V) {
      const n = 1 + Math.floor(r() * 4);
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
  }

  word(): string {
    const u = this.rand();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return this.vocab[lo];
  }

  passageText(): string {
    const mean = this.opts.wordsPerDoc ?? 100;
    const n = Math.max(1, Math.round(mean * (0.7 + 0.6 * this.rand())));
    const words: string[] = [];
    for (let i = 0; i < n; i++) words.push(this.word());
    return words.join(' ');
  }

  /** All passages, wiki-18 shaped (`"Title"\ntext`), generated lazily. */
  *docs(): Generator<CorpusDoc & { title: string; text: string }> {
    for (let i = 0; i < this.opts.numDocs; i++) {
      const title = `${this.word()} ${this.word()}`;
      const text = this.passageText();
      yield { id: String(i), title, text, contents: `"${title}"\n${text}` };
    }
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
