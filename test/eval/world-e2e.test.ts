// `search-r1 eval` end to end on a generated world: the BM25 index, a tiny model folder run by our
// engine, all six methods, the table / results / trajectories / report; then `infer`, serve-model
// with the real engine behind the OpenAI client, and the bad-input errors (file and line; URL and
// cause after retries).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorld, writeWorld, type WorldFiles } from '../../src/world/world.ts';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { startRetrievalServer } from '../../src/retrieval/server.ts';
import { HfTokenizer, trainBpeTokenizer, SEARCH_R1_TAGS } from '../../src/engine/tokenizer.ts';
import { saveHfFolder } from '../../src/engine/io/hf.ts';
import { Model } from '../../src/engine/model.ts';
import type { ModelConfig } from '../../src/engine/config.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { OpenAISampler } from '../../src/policy/openai.ts';
import { evaluate, type EvalCliOptions } from '../../src/cli/commands/eval.ts';
import { infer } from '../../src/cli/commands/infer.ts';
import { serveModel } from '../../src/cli/commands/serve-model.ts';
import { METHOD_NAMES } from '../../src/eval/types.ts';
import { colourSegments, formatInferResult } from '../../src/eval/infer.ts';

let dir = '';
let files: WorldFiles;
let modelDir = '';
let indexDir = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'eval-world-'));
  const world = buildWorld({
    seed: 11,
    size: { countries: 3, citiesPerCountry: 2, people: 40, testFraction: 0.25 },
  });
  files = await writeWorld(world, join(dir, 'world'));
  indexDir = join(dir, 'index');
  await buildIndex(files.corpus, indexDir);
  // A tiny model: BPE trained on the world's passages, random weights (the shipped world model
  // is trained; here only the method code paths matter, and every row is produced by them).
  const texts = world.passages.map((p) => `${p.title} ${p.text}`);
  const tokFiles = trainBpeTokenizer(texts, { vocabSize: 600, addedTokens: SEARCH_R1_TAGS });
  const tok = new HfTokenizer(tokFiles);
  const config: ModelConfig = {
    arch: 'qwen2',
    vocabSize: tok.vocabSize,
    hiddenSize: 32,
    intermediateSize: 64,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    headDim: 16,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 2048,
  };
  const model = new Model(config, { seed: 3 });
  modelDir = join(dir, 'model');
  saveHfFolder(modelDir, { config, tensors: model.tensors(), tokenizer: tokFiles });
  model.dispose();
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

const base = (over: Partial<EvalCliOptions>): EvalCliOptions => ({
  dataset: files.testJsonl,
  method: 'direct,cot,rag,ircot,search-o1,search-r1',
  out: join(dir, 'run'),
  dataDir: dir,
  limit: 3,
  batchSize: 8,
  splitBySource: true,
  topk: 3,
  maxTurns: 2,
  maxTurnTokens: 12,
  maxAnswerTokens: 8,
  maxObsTokens: 200,
  ircotSteps: 2,
  searchO1Searches: 2,
  temperature: 0,
  topP: 1,
  quiet: true,
  model: modelDir,
  retriever: indexDir,
  ...over,
});

test('eval on the world: a table with all six methods, each row from the real method code', async () => {
  const r = await evaluate(base({}));
  const sixMethods = METHOD_NAMES.filter((m) => m !== 'r1');
  assert.deepEqual(r.table.methods, sixMethods);
  assert.ok(r.table.datasets.length >= 1);
  for (const m of sixMethods) assert.match(r.markdown, new RegExp(`\\| ${m} \\| `));
  const results = readFileSync(r.files.results, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as {
          method: string;
          dataset: string;
          numSearches: number;
          numGenerations: number;
          em: number;
        },
    );
  const perDataset = r.table.datasets.map((d) => r.table.cells.direct[d].n);
  assert.equal(
    results.length,
    6 * perDataset.reduce((a, b) => a + b, 0),
    'every question of every dataset scored by every method',
  );
  for (const rec of results) {
    assert.ok(rec.numGenerations >= 1, `${rec.method} generated`);
    if (rec.method === 'direct' || rec.method === 'cot') assert.equal(rec.numSearches, 0);
    if (rec.method === 'rag') assert.equal(rec.numSearches, 1);
    if (rec.method === 'ircot') assert.ok(rec.numSearches >= 1);
    assert.ok(rec.em === 0 || rec.em === 1);
  }
  const traj = readFileSync(r.files.trajectories, 'utf8')
    .trim()
    .split('\n')
    .map(
      (l) =>
        JSON.parse(l) as { method: string; prompt: string; segments: { text: string; injected: boolean }[] },
    );
  const sr1 = traj.filter((t) => t.method === 'search-r1');
  assert.ok(
    sr1.length > 0 &&
      sr1.every((t) =>
        t.prompt.includes('Answer the given question. You must conduct reasoning inside <think>'),
      ),
    'Search-R1 prompt',
  );
  assert.ok(
    traj.filter((t) => t.method === 'rag').every((t) => /Doc 1\(Title: /.test(t.prompt)),
    'RAG prompts carry passages',
  );
  assert.ok(existsSync(r.files.report));
  assert.match(readFileSync(r.files.report, 'utf8'), /const TRAJS = /);
  // Resumed: nothing to do.
  const again = await evaluate(base({}));
  assert.equal(again.newlyScored, 0);
  assert.equal(again.markdown, r.markdown);
});

test('eval through serve-model (OpenAI API) gives the same predictions as in process', async () => {
  const methods = 'direct,ircot,search-o1,search-r1';
  const local = await evaluate(base({ method: methods, out: join(dir, 'local'), limit: 2 }));
  const srv = await serveModel({ model: modelDir, port: 0, host: '127.0.0.1', maxBatch: 16 });
  try {
    const remote = await evaluate(
      base({
        method: methods,
        out: join(dir, 'remote'),
        limit: 2,
        model: undefined,
        openaiUrl: srv.url,
        tokenizer: modelDir,
        concurrency: 4,
      }),
    );
    const key = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; prediction: string; numSearches: number; finish: string })
        .map((r) => `${r.key} ${JSON.stringify(r.prediction)} ${r.numSearches} ${r.finish}`)
        .sort();
    assert.deepEqual(key(remote.files.results), key(local.files.results));
    const transcripts = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; segments: { text: string }[] })
        .map((t) => `${t.key} ${JSON.stringify(t.segments.map((x) => x.text).join(''))}`)
        .sort();
    assert.deepEqual(
      transcripts(remote.files.trajectories),
      transcripts(local.files.trajectories),
      'same generated text, turn by turn',
    );
    assert.equal(
      remote.markdown.split('\n').slice(4).join('\n'),
      local.markdown.split('\n').slice(4).join('\n'),
    );
  } finally {
    await srv.close();
  }
});

test('eval with a remote Search-R1 retriever (/retrieve) equals the embedded index', async () => {
  const index = await Bm25Index.open(indexDir);
  const rs = await startRetrievalServer(index, { port: 0 });
  try {
    const methods = 'rag,ircot,search-r1';
    const local = await evaluate(base({ method: methods, out: join(dir, 'bm25-local'), limit: 2 }));
    const remote = await evaluate(
      base({
        method: methods,
        out: join(dir, 'bm25-remote'),
        limit: 2,
        retriever: undefined,
        retrieverUrl: `${rs.url}/retrieve`,
      }),
    );
    const prompts = (f: string) =>
      readFileSync(f, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { key: string; prompt: string; segments: { text: string }[] })
        .map(
          (t) =>
            `${t.key} ${JSON.stringify(t.prompt)} ${JSON.stringify(t.segments.map((x) => x.text).join(''))}`,
        )
        .sort();
    assert.deepEqual(
      prompts(remote.files.trajectories),
      prompts(local.files.trajectories),
      'same passages in the same prompts',
    );
  } finally {
    await rs.close();
    await index.close?.();
  }
});

test('--dataset world builds the bundled world and uses its index by default', async () => {
  const r = await evaluate(
    base({
      dataset: 'world',
      method: 'rag',
      limit: 1,
      retriever: undefined,
      dataDir: join(dir, 'no-data'),
      cacheDir: join(dir, 'cache'),
      out: join(dir, 'world-run'),
    }),
  );
  assert.deepEqual([...r.table.datasets].sort(), ['world_single_hop', 'world_two_hop']);
  assert.match(r.markdown, /retriever: bm25:.*world-\d+\/bm25/);
  assert.equal(r.table.cells.rag.world_single_hop.searches, 1);
});

test('the shipped models/world-base on the bundled world: all six methods, default settings', async () => {
  const shipped = fileURLToPath(new URL('../../models/world-base', import.meta.url));
  const r = await evaluate({
    ...base({}),
    dataset: 'world',
    sample: 2,
    model: shipped,
    retriever: undefined,
    dataDir: join(dir, 'no-data'),
    cacheDir: join(dir, 'cache'),
    out: join(dir, 'shipped-run'),
    // The paper's evaluation settings (greedy, 4 turns, 500-token turns), not the test's short ones.
    maxTurns: 4,
    maxTurnTokens: 500,
    maxAnswerTokens: 64,
    ircotSteps: 5,
    searchO1Searches: 5,
  });
  assert.deepEqual(
    r.table.methods,
    METHOD_NAMES.filter((m) => m !== 'r1'),
  );
  assert.deepEqual([...r.table.datasets].sort(), ['world_single_hop', 'world_two_hop']);
  for (const m of r.table.methods)
    for (const d of r.table.datasets) assert.equal(r.table.cells[m][d].n, 2, `${m} ${d}`);
  assert.match(r.markdown, /model: model:.*models\/world-base/);
});

test('infer: one question through the agent, JSON-able result', async () => {
  const q = readFileSync(files.testJsonl, 'utf8').split('\n')[0];
  const question = (JSON.parse(q) as { question: string }).question;
  const r = await infer(question, {
    method: 'search-r1',
    topk: 3,
    maxTurns: 2,
    maxTurnTokens: 12,
    temperature: 0,
    topP: 1,
    model: modelDir,
    retriever: indexDir,
  });
  assert.equal(r.question, question);
  assert.ok(r.segments.length >= 1);
  assert.ok(r.prompt.includes(question.trim()));
  assert.ok(r.prompt.startsWith('<|im_start|>user\n'), "the tokenizer's chat template is applied");
  const raw = await infer(question, {
    method: 'search-r1',
    topk: 3,
    maxTurns: 1,
    maxTurnTokens: 4,
    temperature: 0,
    topP: 1,
    model: modelDir,
    retriever: indexDir,
    chatTemplate: false,
  });
  assert.ok(raw.prompt.startsWith('Answer the given question.'), '--no-chat-template: raw text');
  const text = formatInferResult(r, { colour: false });
  assert.ok(text.startsWith(`Question: ${question}`));
  assert.ok(text.includes(`Answer: ${r.prediction || '(none)'}`));
});

test('infer output colours tags in a terminal', () => {
  const coloured = colourSegments([
    { text: '<think>hmm</think><search> q </search>', injected: false },
    { text: '\n\n<information>Doc 1</information>\n\n', injected: true },
    { text: '<answer> x </answer>', injected: false },
  ]);
  assert.ok(coloured.includes('\x1b[33mhmm\x1b[0m'), 'think in yellow');
  assert.ok(coloured.includes('\x1b[1;32m q \x1b[0m'), 'search in bold green');
  assert.ok(coloured.includes('\x1b[36mDoc 1\x1b[0m'), 'information in cyan');
  assert.ok(coloured.includes('\x1b[1;31m x \x1b[0m'), 'answer in bold red');
  assert.equal(
    coloured.replace(/\x1b\[[0-9;]*m/g, ''),
    '<think>hmm</think><search> q </search>\n\n<information>Doc 1</information>\n\n<answer> x </answer>',
  );
});

test("serve-model with the real engine: the OpenAI client gets the engine's own tokens and log-probs", async () => {
  const srv = await serveModel({ model: modelDir, port: 0, host: '127.0.0.1', maxBatch: 8 });
  try {
    const trainer = await EmbeddedTrainer.load(modelDir);
    const client = new OpenAISampler({ baseUrl: srv.url, tokenizer: trainer.tokenizer, retries: 0 });
    const prompts = ['Answer the given question.', 'Doc 1(Title: x)'].map((t) => trainer.tokenizer.encode(t));
    const req = {
      prompts,
      maxTokens: 10,
      stop: ['</search>', '</answer>'],
      temperature: 0,
      topP: 1,
      seed: 5,
    };
    const direct = await trainer.sample(req);
    const viaHttp = await client.sample(req);
    assert.equal(client.currentMode, 'tokens');
    for (let i = 0; i < prompts.length; i++) {
      assert.deepEqual(viaHttp[i][0].tokens, direct[i][0].tokens);
      assert.equal(viaHttp[i][0].text, direct[i][0].text);
      assert.equal(viaHttp[i][0].finish, direct[i][0].finish);
      viaHttp[i][0].logprobs.forEach((x, k) => assert.ok(Math.abs(x - direct[i][0].logprobs[k]) < 1e-6));
    }
    trainer.dispose();
  } finally {
    await srv.close();
  }
});

test('the CLI: eval prints the table, infer --json, a bad flag exits 1 with one clear line', () => {
  const cli = fileURLToPath(new URL('../../bin/search-r1.mjs', import.meta.url));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  const ev = run([
    'eval',
    '--dataset',
    files.testJsonl,
    '--method',
    'direct,rag',
    '--model',
    modelDir,
    '--retriever',
    indexDir,
    '--limit',
    '2',
    '--max-answer-tokens',
    '4',
    '--out',
    join(dir, 'cli-run'),
    '--no-split-by-source',
    '--no-chat-template',
    '--quiet',
  ]);
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stdout, /\| Method \| world \(n=2\) \| Avg\. \|/);
  assert.match(ev.stdout, /\| rag \| /);
  assert.match(ev.stdout, /model: model:.* \(no chat template\)/);
  assert.ok(existsSync(join(dir, 'cli-run', 'report.html')));
  const inf = run([
    'infer',
    'Where was Alpha born?',
    '--json',
    '--model',
    modelDir,
    '--retriever',
    indexDir,
    '--max-turns',
    '1',
    '--max-turn-tokens',
    '4',
  ]);
  assert.equal(inf.status, 0, inf.stderr);
  const j = JSON.parse(inf.stdout) as { question: string; method: string; segments: unknown[] };
  assert.equal(j.question, 'Where was Alpha born?');
  assert.equal(j.method, 'search-r1');
  const bad = run(['eval', '--dataset', files.testJsonl, '--method', 'magic', '--model', modelDir]);
  assert.equal(bad.status, 1);
  assert.match(
    bad.stderr,
    /^search-r1: --method: unknown method "magic" \(known: direct, cot, rag, ircot, search-o1, search-r1, r1\)/m,
  );
  const badInt = run(['eval', '--dataset', files.testJsonl, '--limit', 'x']);
  assert.notEqual(badInt.status, 0);
  assert.match(badInt.stderr, /--limit must be a positive integer, got "x"/);
});

test('bad dataset rows fail with file and line', async () => {
  const bad1 = join(dir, 'missing.jsonl');
  writeFileSync(bad1, '{"id":"a","question":"q1?","golden_answers":["x"]}\n{"id":"b","question":"q2?"}\n');
  await assert.rejects(
    evaluate(base({ dataset: bad1, method: 'direct', out: join(dir, 'bad1') })),
    (e: Error) => {
      assert.match(
        e.message,
        new RegExp(`${bad1.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: field "golden_answers"`),
      );
      return true;
    },
  );
  const bad2 = join(dir, 'nonstring.jsonl');
  writeFileSync(
    bad2,
    '{"id":"a","question":"q1?","golden_answers":["x"]}\n{"id":"b","question":"q2?","golden_answers":["y"]}\n{"id":"c","question":"q3?","golden_answers":[42]}\n',
  );
  await assert.rejects(
    evaluate(base({ dataset: bad2, method: 'direct', out: join(dir, 'bad2') })),
    (e: Error) => {
      assert.match(e.message, /nonstring\.jsonl:3: field "golden_answers/);
      return true;
    },
  );
  await assert.rejects(
    evaluate(base({ dataset: 'nq', method: 'direct', out: join(dir, 'bad3') })),
    /--dataset nq: not found under/,
  );
});

test('an unreachable model server fails with the URL and the cause after the retries', async () => {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const url = `http://127.0.0.1:${port}`;
  await assert.rejects(
    evaluate(
      base({
        method: 'direct',
        out: join(dir, 'unreachable'),
        model: undefined,
        openaiUrl: url,
        openaiModel: 'm',
        tokenizer: modelDir,
        retries: 2,
      }),
    ),
    (e: Error) => {
      assert.match(e.message, new RegExp(`${url}/v1/completions failed after 3 attempts: .*ECONNREFUSED`));
      return true;
    },
  );
});
