// One engine, one phase, in its own process (so peak memory is that engine's alone):
//   node --import tsx bench/retrieval/engine.ts <ours|lancedb|fts5> <build|query> <corpus.jsonl> <queries.json> <workdir>
// Prints one JSON line: build → {seconds, bytes, maxRssMb}; query → {qps, queries, seconds, top1, maxRssMb, ...}.
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { Bm25Pool } from '../../src/retrieval/bm25/pool.ts';

const [engine, phase, corpusPath, queriesPath, work] = process.argv.slice(2);
const QUERY_TIME_CAP_S = Number(process.env.BENCH_QUERY_CAP_S ?? 30);
const MIN_S = Number(process.env.BENCH_MIN_S ?? 5);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);

function dirBytes(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.size;
  return readdirSync(p).reduce((s, f) => s + dirBytes(join(p, f)), 0);
}

async function* rows(): AsyncGenerator<{ id: string; contents: string }> {
  const rl = createInterface({ input: createReadStream(corpusPath), crlfDelay: Infinity });
  for await (const line of rl) if (line) yield JSON.parse(line) as { id: string; contents: string };
}

const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

/** Time a sequential query loop (after one warm-up pass over the first 100), capped in time. */
async function timeQueries(queries: string[], run: (q: string) => Promise<string | null> | string | null) {
  for (const q of queries.slice(0, 100)) await run(q);
  const top1: (string | null)[] = [];
  const t0 = performance.now();
  for (const q of queries) {
    top1.push(await run(q));
    if ((performance.now() - t0) / 1000 > QUERY_TIME_CAP_S) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { qps: top1.length / seconds, queries: top1.length, seconds, top1 };
}

/** Queries/s of a loop repeated over all queries until MIN_S seconds have passed. */
function loopQps(queries: string[], run: (q: string) => unknown): number {
  const t0 = performance.now();
  let n = 0;
  do for (const q of queries) (run(q), n++);
  while ((performance.now() - t0) / 1000 < MIN_S);
  return n / ((performance.now() - t0) / 1000);
}

async function ours(): Promise<unknown> {
  const dir = join(work, 'ours');
  if (phase === 'build') {
    const t0 = performance.now();
    await buildIndex(corpusPath, dir, { threads: THREADS });
    const seconds = (performance.now() - t0) / 1000;
    return {
      seconds,
      bytes: dirBytes(dir),
      storedBytes: dirBytes(join(dir, 'store.bin')) + dirBytes(join(dir, 'store.idx')),
      maxRssMb: maxRssMb(),
    };
  }
  const queries = JSON.parse(readFileSync(queriesPath, 'utf8')) as string[];
  const t0 = performance.now();
  const idx = await Bm25Index.open(dir);
  const openSeconds = (performance.now() - t0) / 1000;
  for (const q of queries) idx.searchOne(q, 3); // warm-up
  const top1 = queries.map((q) => idx.searchOne(q, 3)[0]?.id ?? null);
  const qps = loopQps(queries, (q) => idx.searchDocs(q, 3));
  const qpsWithPassages = loopQps(queries, (q) => idx.searchOne(q, 3));
  // Exactness: every query against an unpruned exhaustive BM25 over the same postings.
  let exactMismatches = 0;
  for (const q of queries) {
    const terms = idx.queryTerms(q);
    const want = idx.exhaustiveTopK(terms, 3);
    const got = idx.topK(terms, 3);
    const same =
      want.docs.length === got.docs.length &&
      want.docs.every((d, i) => d === got.docs[i] && want.scores[i] === got.scores[i]);
    if (!same) exactMismatches++;
  }
  await idx.close();
  // Both cores: the serve worker pool, batches of 16 queries (batched /retrieve), 2 per thread in flight.
  const pool = await Bm25Pool.open(dir, { threads: THREADS });
  const batches: string[][] = [];
  for (let i = 0; i < queries.length; i += 16) batches.push(queries.slice(i, i + 16));
  for (const bt of batches) await pool.search(bt, 3);
  const tp = performance.now();
  let done = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while ((performance.now() - tp) / 1000 < MIN_S || next % batches.length !== 0) {
      const bt = batches[next++ % batches.length];
      await pool.search(bt, 3);
      done += bt.length;
    }
  };
  await Promise.all(Array.from({ length: 2 * THREADS }, lane));
  const qpsThreads = done / ((performance.now() - tp) / 1000);
  await pool.close();
  return {
    openSeconds,
    qps,
    qpsWithPassages,
    qpsThreads,
    threads: THREADS,
    queries: queries.length,
    top1,
    exactMismatches,
    maxRssMb: maxRssMb(),
  };
}

async function lancedb(): Promise<unknown> {
  if (!process.env.LANCE_CPU_THREADS)
    throw new Error('set LANCE_CPU_THREADS=4 (index builds hang on 2 cores without it)');
  const lance = await import('@lancedb/lancedb');
  const dir = join(work, 'lancedb');
  const db = await lance.connect(dir);
  if (phase === 'build') {
    const t0 = performance.now();
    let table: Awaited<ReturnType<typeof db.createTable>> | null = null;
    let batch: { id: string; contents: string }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      if (!table) table = await db.createTable('passages', batch, { mode: 'overwrite' });
      else await table.add(batch);
      batch = [];
    };
    for await (const r of rows()) {
      batch.push(r);
      if (batch.length >= 50_000) await flush();
    }
    await flush();
    await table!.createIndex('contents', {
      config: lance.Index.fts({
        withPosition: false,
        stem: true,
        removeStopWords: true,
        language: 'English',
        lowercase: true,
      }),
    });
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, bytes: dirBytes(dir), maxRssMb: maxRssMb() };
  }
  const table = await db.openTable('passages');
  const queries = JSON.parse(readFileSync(queriesPath, 'utf8')) as string[];
  const r = await timeQueries(queries, async (q) => {
    const res = (await table.search(q, 'fts').select(['id', '_score']).limit(3).toArray()) as {
      id: string;
    }[];
    return res[0]?.id ?? null;
  });
  return { ...r, maxRssMb: maxRssMb() };
}

async function fts5(): Promise<unknown> {
  const Database = (await import('better-sqlite3')).default;
  mkdirSync(work, { recursive: true });
  const file = join(work, 'fts5.sqlite');
  if (phase === 'build') {
    const t0 = performance.now();
    const db = new Database(file);
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(
      "DROP TABLE IF EXISTS p; CREATE VIRTUAL TABLE p USING fts5(id UNINDEXED, contents, tokenize = 'porter unicode61')",
    );
    const ins = db.prepare('INSERT INTO p (id, contents) VALUES (?, ?)');
    let batch: { id: string; contents: string }[] = [];
    const flush = db.transaction((b: { id: string; contents: string }[]) => {
      for (const r of b) ins.run(r.id, r.contents);
    });
    for await (const r of rows()) {
      batch.push(r);
      if (batch.length >= 10_000) {
        flush(batch);
        batch = [];
      }
    }
    flush(batch);
    db.exec("INSERT INTO p(p) VALUES('optimize')");
    db.close();
    return { seconds: (performance.now() - t0) / 1000, bytes: dirBytes(file), maxRssMb: maxRssMb() };
  }
  const db = new Database(file, { readonly: true });
  const stmt = db.prepare('SELECT id FROM p WHERE p MATCH ? ORDER BY bm25(p) LIMIT 3');
  const queries = JSON.parse(readFileSync(queriesPath, 'utf8')) as string[];
  const r = await timeQueries(queries, (q) => {
    const terms = q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
    if (terms.length === 0) return null;
    const row = stmt.get(terms.map((t) => `"${t}"`).join(' OR ')) as { id: string } | undefined;
    return row?.id ?? null;
  });
  db.close();
  return { ...r, maxRssMb: maxRssMb() };
}

/** ours and LanceDB in one process, alternating every 50 queries, so both see the same machine
 *  load (the per-engine loops above run minutes apart on a shared machine). */
async function interleaved(): Promise<unknown> {
  if (!process.env.LANCE_CPU_THREADS) throw new Error('set LANCE_CPU_THREADS=4');
  const lance = await import('@lancedb/lancedb');
  const table = await (await lance.connect(join(work, 'lancedb'))).openTable('passages');
  const idx = await Bm25Index.open(join(work, 'ours'));
  const queries = JSON.parse(readFileSync(queriesPath, 'utf8')) as string[];
  const runOurs = (q: string) => idx.searchOne(q, 3);
  const runLance = (q: string) => table.search(q, 'fts').select(['id', '_score']).limit(3).toArray();
  for (const q of queries.slice(0, 100)) {
    runOurs(q);
    await runLance(q);
  }
  let tOurs = 0;
  let tLance = 0;
  for (let s = 0; s < queries.length; s += 50) {
    const chunk = queries.slice(s, s + 50);
    let t0 = performance.now();
    for (const q of chunk) runOurs(q);
    tOurs += performance.now() - t0;
    t0 = performance.now();
    for (const q of chunk) await runLance(q);
    tLance += performance.now() - t0;
  }
  await idx.close();
  return { oursQps: queries.length / (tOurs / 1000), lanceQps: queries.length / (tLance / 1000) };
}

const run =
  engine === 'pair' && phase === 'interleaved'
    ? interleaved
    : { ours, lancedb, fts5 }[engine as 'ours' | 'lancedb' | 'fts5'];
if (!run || (phase !== 'build' && phase !== 'query' && phase !== 'interleaved')) {
  console.error(
    'usage: engine.ts <ours|lancedb|fts5> <build|query> | pair interleaved  <corpus.jsonl> <queries.json> <workdir>',
  );
  process.exit(2);
}
const out = await run();
process.stdout.write(JSON.stringify(out) + '\n');
