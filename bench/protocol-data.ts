// Foundation benchmarks, each side by side with a named peer in the same run:
//  1. corpus reading: our streaming readCorpus (JSONL, line by line) vs the naive in-memory peer
//     (readFileSync + split + JSON.parse), on a generated wiki-18-shaped file;
//  2. reward normalisation + EM: ours vs the Python reference code (python3, when installed),
//     on the real NQ-open dev answers;
//  3. Search-R1 parquet: write + read of the real NQ-open dev set.
// Run: node --import tsx bench/protocol-data.ts [--lines 200000]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCorpus } from '../src/data/corpus.ts';
import { readQaFile } from '../src/data/qa.ts';
import {
  buildSearchR1Rows,
  readSearchR1Parquet,
  writeSearchR1Parquet,
} from '../src/data/searchr1-parquet.ts';
import { exactMatch } from '../src/protocol/rewards.ts';

const argLines = process.argv.indexOf('--lines');
const LINES = argLines > 0 ? Number(process.argv[argLines + 1]) : 200_000;
const shared = (n: string) => fileURLToPath(new URL(`../../shared/data/${n}`, import.meta.url));
const ms = (t0: bigint) => Number(process.hrtime.bigint() - t0) / 1e6;

const dir = mkdtempSync(join(tmpdir(), 'search-r1-bench-'));
try {
  console.log(
    `load average: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  // 1. Corpus reading.
  const words = 'the of and in to was is for on as by with he that at from his it an were are which'.split(
    ' ',
  );
  const lines: string[] = [];
  for (let i = 0; i < LINES; i++) {
    let text = '';
    for (let w = 0; w < 100; w++) text += `${words[(i * 7 + w * 13) % words.length]} `;
    lines.push(JSON.stringify({ id: String(i), contents: `"Title ${i}"\n${text}` }));
  }
  const corpus = join(dir, 'corpus.jsonl');
  writeFileSync(corpus, lines.join('\n') + '\n');
  const mb = readFileSync(corpus).length / 1e6;
  // Alternate the two sides 3 times and report medians: single runs on a shared machine swing by 2x.
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const oursRuns: number[] = [];
  const peerRuns: number[] = [];
  let n = 0;
  let naiveDocs = 0;
  for (let rep = 0; rep < 3; rep++) {
    let t = process.hrtime.bigint();
    n = 0;
    for await (const _ of readCorpus(corpus)) n++;
    oursRuns.push(ms(t));
    t = process.hrtime.bigint();
    const naive = readFileSync(corpus, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { id: string; contents: string });
    naiveDocs = naive.length;
    peerRuns.push(ms(t));
  }
  const ours = median(oursRuns);
  const peer = median(peerRuns);
  console.log(
    `corpus ${LINES} lines (${mb.toFixed(1)} MB), median of 3: readCorpus ${ours.toFixed(0)} ms (${((n / ours) * 1000).toFixed(0)} docs/s, streaming) | ` +
      `naive readFileSync+JSON.parse ${peer.toFixed(0)} ms (${naiveDocs} docs, whole file in memory) | ratio ours/naive ${(ours / peer).toFixed(2)}`,
  );

  // 2. Normalisation + EM vs the Python reference.
  const qa = await readQaFile(shared('nq_open.dev.jsonl'));
  const pairs = qa.map((q) => [q.goldenAnswers[0]!, q.goldenAnswers] as const);
  const REPS = 20;
  let t0 = process.hrtime.bigint();
  let hits = 0;
  for (let r = 0; r < REPS; r++) for (const [p, g] of pairs) hits += exactMatch(p, g);
  const oursEm = ms(t0);
  const calls = REPS * pairs.length;
  let pyLine = 'python3 not available: no peer';
  try {
    const pairsFile = join(dir, 'pairs.json');
    writeFileSync(pairsFile, JSON.stringify(pairs));
    const py = `
import json, re, string, time
def normalize_answer(s):
    def remove_articles(text): return re.sub(r"\\b(a|an|the)\\b", " ", text)
    def white_space_fix(text): return " ".join(text.split())
    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)
    return white_space_fix(remove_articles(remove_punc(s.lower())))
def em_check(prediction, golden_answers):
    p = normalize_answer(prediction)
    for g in golden_answers:
        if normalize_answer(g) == p: return 1
    return 0
pairs = json.load(open(${JSON.stringify(pairsFile)}))
t0 = time.perf_counter(); hits = 0
for _ in range(${REPS}):
    for p, g in pairs: hits += em_check(p, g)
print((time.perf_counter() - t0) * 1000, hits)`;
    const [pyMs, pyHits] = execFileSync('python3', ['-c', py], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    pyLine = `python reference em_check ${pyMs!.toFixed(0)} ms (hits ${pyHits}) | ratio python/ours ${(pyMs! / oursEm).toFixed(2)}`;
    if (pyHits !== hits) pyLine += `  MISMATCH: ours ${hits}`;
  } catch (e) {
    pyLine = `python3 failed: ${(e as Error).message.split('\n')[0]}`;
  }
  console.log(
    `EM ${calls} calls: ours ${oursEm.toFixed(0)} ms (${((calls / oursEm) * 1000).toFixed(0)} calls/s, hits ${hits}) | ${pyLine}`,
  );

  // 3. Parquet round trip.
  const rows = buildSearchR1Rows([{ dataSource: 'nq', examples: qa }], 'test');
  const pq = join(dir, 'nq.parquet');
  t0 = process.hrtime.bigint();
  await writeSearchR1Parquet(pq, rows);
  const w = ms(t0);
  t0 = process.hrtime.bigint();
  const back = await readSearchR1Parquet(pq);
  const rd = ms(t0);
  console.log(
    `parquet ${rows.length} rows (${(readFileSync(pq).length / 1e3).toFixed(0)} kB): write ${w.toFixed(0)} ms, read+validate ${rd.toFixed(0)} ms (${back.rows.length} rows); no peer (pyarrow not installed)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
