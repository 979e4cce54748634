// `npm run bench:retrieval`: our embedded BM25 vs Lucene 8.7 (Debian liblucene8-java, the engine
// under Pyserini; installed with apt-get when missing, bench/retrieval/LuceneBench.java compiled with
// javac), optionally LanceDB FTS (tantivy) and SQLite FTS5, side by side in one run on one generated
// wiki-18-shaped corpus, then a load test of `search-r1 serve` with autocannon.
//   BENCH_DOCS (default 200000; 21000000 = wiki-18 size), BENCH_QUERIES (1000), BENCH_THREADS (2),
//   BENCH_MIN_S (5 s per timed query loop), BENCH_LOAD_S (10 s autocannon; 0 skips),
//   BENCH_ENGINES (ours,lucene; also lancedb,fts5), BENCH_CACHE (.cache/bench-retrieval: the
//   generated corpus is kept there and reused), BENCH_KEEP=1 keeps the temp dir with the indexes.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

const NUM_DOCS = Number(process.env.BENCH_DOCS ?? 200_000);
const NUM_QUERIES = Number(process.env.BENCH_QUERIES ?? 1000);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const MIN_S = Number(process.env.BENCH_MIN_S ?? 5);
const LOAD_S = Number(process.env.BENCH_LOAD_S ?? 10);
const ENGINES = (process.env.BENCH_ENGINES ?? 'ours,lucene').split(',');
const CACHE = process.env.BENCH_CACHE ?? '.cache/bench-retrieval';
const work = mkdtempSync(join(tmpdir(), 'bench-retrieval-'));
const log = (s: string) => process.stderr.write(`${s}\n`);
const uptime = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const loadBefore = uptime();

// 1. Corpus (JSONL, wiki-18 shaped, cached by size) and queries: half windows of real passages,
//    half Zipf words.
const gen = spawnSync(
  process.execPath,
  ['--import', 'tsx', 'bench/retrieval/corpus.ts', String(NUM_DOCS), String(NUM_QUERIES), CACHE],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
if (gen.status !== 0) throw new Error(`corpus generation failed (exit ${gen.status})`);
const {
  corpus: corpusPath,
  queries: queriesPath,
  seconds: genSeconds,
} = JSON.parse(gen.stdout.trim()) as {
  corpus: string;
  queries: string;
  seconds: number;
};
log(
  `corpus: ${NUM_DOCS} passages → ${corpusPath} (${genSeconds.toFixed(0)} s to generate), ${NUM_QUERIES} queries`,
);

interface BuildResult {
  seconds: number;
  bytes: number;
  storedBytes?: number;
  maxRssMb: number;
}
interface QueryResult {
  qps: number;
  queries: number;
  top1: (string | null)[];
  maxRssMb: number;
  qpsWithPassages?: number;
  qpsThreads?: number;
  threads?: number;
  exactMismatches?: number;
  openSeconds?: number;
}

function child(engine: string, phase: 'build' | 'query' | 'interleaved'): unknown {
  const env = { ...process.env, LANCE_CPU_THREADS: process.env.LANCE_CPU_THREADS ?? '4' };
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', 'bench/retrieval/engine.ts', engine, phase, corpusPath, queriesPath, work],
    { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 },
  );
  if (r.status !== 0) throw new Error(`${engine} ${phase} failed (exit ${r.status})`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Lucene 8.7 from Debian, compiled benchmark program; runs under /usr/bin/time for peak RSS. */
function lucene(): { build: BuildResult; query: QueryResult } {
  const jar = (n: string) => `/usr/share/java/lucene-${n}-8.7.0.jar`;
  if (!existsSync(jar('core'))) {
    log('lucene: installing liblucene8-java (apt-get)…');
    const r = spawnSync('sh', ['-c', 'apt-get update -qq && apt-get install -y -qq liblucene8-java'], {
      stdio: 'inherit',
    });
    if (r.status !== 0 || !existsSync(jar('core'))) throw new Error('could not install liblucene8-java');
  }
  const classes = join(work, 'java');
  mkdirSync(classes, { recursive: true });
  const cp = [jar('core'), jar('analyzers-common'), classes].join(':');
  const javac = spawnSync('javac', ['-d', classes, '-cp', cp, 'bench/retrieval/LuceneBench.java'], {
    stdio: 'inherit',
  });
  if (javac.status !== 0) throw new Error('javac failed (Java 17 JDK needed)');
  const time = existsSync('/usr/bin/time');
  const java = (args: string[]): { out: Record<string, unknown>; maxRssMb: number } => {
    const cmd = ['java', '-Xmx8g', '-cp', cp, 'LuceneBench', ...args];
    const r = spawnSync(
      time ? '/usr/bin/time' : cmd[0],
      time ? ['-f', 'maxrss_kb=%M', ...cmd] : cmd.slice(1),
      {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      },
    );
    if (r.status !== 0) throw new Error(`LuceneBench ${args[0]} failed: ${r.stderr}`);
    const rss = /maxrss_kb=(\d+)/.exec(r.stderr);
    const lines = r.stdout.trim().split('\n');
    return {
      out: JSON.parse(lines[lines.length - 1]) as Record<string, unknown>,
      maxRssMb: rss ? Number(rss[1]) / 1024 : NaN,
    };
  };
  const dir = join(work, 'lucene');
  log(`lucene: building (${THREADS} indexing threads, forceMerge(1))…`);
  const b = java(['build', corpusPath, dir, String(THREADS)]);
  log(`lucene: built in ${(b.out.seconds as number).toFixed(1)} s; querying…`);
  const q1 = java(['query', dir, queriesPath, '1', '3', String(MIN_S)]);
  const qn = java(['query', dir, queriesPath, String(THREADS), '3', String(MIN_S)]);
  return {
    build: {
      seconds: b.out.seconds as number,
      bytes: b.out.bytes as number,
      storedBytes: b.out.storedBytes as number,
      maxRssMb: b.maxRssMb,
    },
    query: {
      qps: q1.out.qps as number,
      qpsWithPassages: q1.out.qpsWithPassages as number,
      qpsThreads: qn.out.qps as number,
      threads: THREADS,
      openSeconds: q1.out.openSeconds as number,
      queries: NUM_QUERIES,
      top1: q1.out.top1 as (string | null)[],
      maxRssMb: Math.max(q1.maxRssMb, qn.maxRssMb),
    },
  };
}

const results: Record<string, { build: BuildResult; query: QueryResult }> = {};
for (const e of ENGINES) {
  if (e === 'lucene') {
    results.lucene = lucene();
  } else {
    log(`${e}: building…`);
    const build = child(e, 'build') as BuildResult;
    log(`${e}: built in ${build.seconds.toFixed(1)} s; querying…`);
    results[e] = { build, query: child(e, 'query') as QueryResult };
  }
  log(`${e}: ${results[e].query.qps.toFixed(0)} QPS`);
}

// 2. Table: ratios against Lucene (the reference engine) when it ran.
const ours = results.ours;
const peer = results.lucene;
const mb = (x: number) => (x / 1e6).toFixed(1);
const lines: string[] = [];
lines.push(`${NUM_DOCS.toLocaleString('en-US')} passages, ${NUM_QUERIES} queries, top-3, k1 = 0.9, b = 0.4`);
lines.push('');
lines.push(
  `| engine | build s | index MB (with passages) | index MB without passages | peak RSS build / query MB | open s | QPS 1 thread | QPS 1 thread with passages | QPS ${THREADS} threads | top-1 = ours |`,
);
lines.push(`|---|---|---|---|---|---|---|---|---|---|`);
for (const [e, r] of Object.entries(results)) {
  const agree = ours
    ? r.query.top1.filter((id, i) => id !== null && id === ours.query.top1[i]).length /
      Math.min(r.query.top1.length, ours.query.top1.length)
    : NaN;
  lines.push(
    `| ${e} | ${r.build.seconds.toFixed(1)} | ${mb(r.build.bytes)} | ${r.build.storedBytes !== undefined ? mb(r.build.bytes - r.build.storedBytes) : '—'} | ` +
      `${r.build.maxRssMb.toFixed(0)} / ${r.query.maxRssMb.toFixed(0)} | ${r.query.openSeconds?.toFixed(2) ?? '—'} | ${r.query.qps.toFixed(0)} | ` +
      `${r.query.qpsWithPassages?.toFixed(0) ?? '—'} | ${r.query.qpsThreads?.toFixed(0) ?? '—'} | ${e === 'ours' ? '(reference)' : `${(agree * 100).toFixed(1)}%`} |`,
  );
}
if (ours && peer) {
  const o = ours;
  const l = peer;
  lines.push('');
  lines.push(
    `ours ÷ Lucene: QPS 1 thread ${(o.query.qps / l.query.qps).toFixed(2)}× (goal ≥ 2), with passages ${(o.query.qpsWithPassages! / l.query.qpsWithPassages!).toFixed(2)}×, ` +
      `${THREADS} threads ${(o.query.qpsThreads! / l.query.qpsThreads!).toFixed(2)}×; build time ${(o.build.seconds / l.build.seconds).toFixed(2)}× (goal ≤ 1); ` +
      `index size with passages ${(o.build.bytes / l.build.bytes).toFixed(2)}×, without ${((o.build.bytes - o.build.storedBytes!) / (l.build.bytes - l.build.storedBytes!)).toFixed(2)}× (goal ≤ 1)`,
  );
}
if (ours) {
  lines.push(
    `ours: ${THREADS} threads ÷ 1 thread = ${(ours.query.qpsThreads! / ours.query.qps).toFixed(2)}× (goal ≥ 1.8); exact vs exhaustive BM25: ` +
      `${NUM_QUERIES - (ours.query.exactMismatches ?? 0)}/${NUM_QUERIES} queries identical top-3 (ids and scores)`,
  );
}
lines.push('');

// 2b. Same-process interleaved QPS (ours vs LanceDB alternate every 50 queries: same load for both).
if (results.ours && results.lancedb && process.env.BENCH_INTERLEAVED !== '0') {
  const r = child('pair', 'interleaved') as { oursQps: number; lanceQps: number };
  lines.push('');
  lines.push(
    `interleaved in one process (alternating every 50 queries, ours with passage reads): ours ${r.oursQps.toFixed(0)} QPS, ` +
      `LanceDB ${r.lanceQps.toFixed(0)} QPS → ours ${(r.oursQps / r.lanceQps).toFixed(1)}× faster`,
  );
}

// 3. Load test of the server (separate process) with 200 concurrent connections.
if (ours && LOAD_S > 0) {
  const port = 18000 + Math.floor(Math.random() * 1000);
  const srv = spawn(
    process.execPath,
    [
      'bin/search-r1.mjs',
      'serve',
      '--index',
      join(work, 'ours'),
      '--port',
      String(port),
      '--quiet',
      '--max-concurrency',
      '8',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    srv.stderr.on('data', (c: Buffer) => c.toString().includes('POST http') && resolve());
    srv.on('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  const queries = JSON.parse(readFileSync(queriesPath, 'utf8')) as string[];
  let qi = 0;
  const res = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 200,
    duration: LOAD_S,
    requests: [
      {
        method: 'POST',
        path: '/retrieve',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({
          ...req,
          body: JSON.stringify({ queries: [queries[qi++ % queries.length]], topk: 3, return_scores: true }),
        }),
      },
    ],
  });
  srv.kill('SIGTERM');
  await new Promise((r) => srv.once('exit', r));
  lines.push('');
  lines.push(
    `server load test (autocannon, 200 connections, ${LOAD_S} s, 1 query/request, server in its own process): ` +
      `${res.requests.average.toFixed(0)} req/s, latency p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms, ` +
      `errors ${res.errors}, timeouts ${res.timeouts}, non-2xx ${res.non2xx}, requests ${res.requests.total}`,
  );
}
lines.push('');
lines.push(`load average (1/5/15 min) before: ${loadBefore}; after: ${uptime()} (2 vCPUs, shared)`);
console.log(lines.join('\n'));
if (!process.env.BENCH_KEEP) rmSync(work, { recursive: true, force: true });
