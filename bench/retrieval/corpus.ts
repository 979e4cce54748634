// Generate (once) the benchmark's synthetic wiki-18-shaped corpus and queries, cached by size:
//   node --import tsx bench/retrieval/corpus.ts <numDocs> <numQueries> <cacheDir>
// Prints {corpus, queries, seconds} as one JSON line. Reused across runs: generating 21M passages
// takes longer than indexing them.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SyntheticCorpus } from '../../src/retrieval/synthetic.ts';

const [numDocs, numQueries, cacheDir] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
if (!(numDocs > 0) || !(numQueries > 0) || !cacheDir) {
  console.error('usage: corpus.ts <numDocs> <numQueries> <cacheDir>');
  process.exit(2);
}
mkdirSync(cacheDir, { recursive: true });
const corpus = join(cacheDir, `synthetic-v2-${numDocs}.jsonl`);
const queries = join(cacheDir, `synthetic-v2-${numDocs}-queries-${numQueries}.json`);
const t0 = performance.now();
if (!existsSync(corpus) || !existsSync(queries)) {
  const syn = new SyntheticCorpus({ numDocs, seed: 1 });
  const sample = syn.writeJsonl(corpus + '.tmp');
  renameSync(corpus + '.tmp', corpus);
  writeFileSync(queries, JSON.stringify(syn.queries(numQueries, sample)));
}
console.log(JSON.stringify({ corpus, queries, seconds: (performance.now() - t0) / 1000 }));
