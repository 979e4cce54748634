// Lucene-exact English analysis: throughput on the real 2Wiki passages, and our Porter stemmer
// side by side with the `stemmer` npm package (Porter's algorithm, not Lucene's variant).
// Run: npm run bench:analyzer   (numbers in BENCHMARKS.md)
import { readFileSync } from 'node:fs';
import { stemmer } from 'stemmer';
import {
  EnglishAnalyzer,
  LUCENE_ENGLISH_STOP_WORDS,
  lowerCase,
  removePossessive,
  tokenize,
} from '../src/retrieval/analyzer.ts';
import { porterStem } from '../src/retrieval/porter.ts';

const CORPUS = new URL('../../shared/data/2wikimultihopqa_corpus.json', import.meta.url).pathname;
const docs = (JSON.parse(readFileSync(CORPUS, 'utf8')) as { title: string; text: string }[]).map(
  (d) => `"${d.title}"\n${d.text}`,
);
const chars = docs.reduce((n, d) => n + d.length, 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function time(fn: () => void, reps = 5): number {
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

// 1. Whole analyzer, cold cache each rep (a fresh analyzer), over all passages.
const tAn = time(() => {
  const a = new EnglishAnalyzer();
  for (const d of docs) a.analyze(d);
});
const tTok = time(() => {
  for (const d of docs) tokenize(d);
});
console.log(
  `analyzer: ${docs.length} passages, ${(chars / 1e6).toFixed(2)} M chars: ${tAn.toFixed(0)} ms (${(chars / 1e3 / tAn).toFixed(0)} M chars/s), tokenizer alone ${tTok.toFixed(0)} ms`,
);

// 2. Stemming: every (non-stop) lower-cased token of the corpus, no cache, ours vs `stemmer`.
const words: string[] = [];
for (const d of docs)
  for (const t of tokenize(d)) {
    const w = lowerCase(removePossessive(t));
    if (!LUCENE_ENGLISH_STOP_WORDS.has(w)) words.push(w);
  }
let sink = 0;
const tOurs = time(() => {
  for (const w of words) sink += porterStem(w).length;
});
const tPeer = time(() => {
  for (const w of words) sink += stemmer(w).length;
});
let differ = 0;
for (const w of new Set(words)) if (porterStem(w) !== stemmer(w)) differ++;
console.log(
  `porter: ${words.length} tokens: ours ${tOurs.toFixed(0)} ms, stemmer pkg ${tPeer.toFixed(0)} ms, ratio ours/peer ${(tOurs / tPeer).toFixed(2)}; ` +
    `${differ} of ${new Set(words).size} distinct words stem differently (${sink > 0 ? 'ok' : ''})`,
);
