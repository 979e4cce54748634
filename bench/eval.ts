// Eval / serving benchmarks (node --import tsx bench/eval.ts [--quick]). Side by side, one run:
//   1. serve-model: the OpenAI client → HTTP → serve-model → engine, vs the same engine called in
//      process (peer). 16 prompts, greedy, 32 new tokens each, reference-preset random model.
//        direct-batched   one trainer.sample call with the 16 prompts
//        http-batched     16 concurrent HTTP requests (client concurrency 16); the server merges them
//        direct-serial    16 trainer.sample calls of one prompt, one after another
//        http-serial      16 HTTP requests, client concurrency 1
//      Ratios: http/direct (HTTP + JSON overhead), batched/serial (what request merging buys).
//   2. eval throughput: questions/s of each method on a generated world, tiny random model,
//      BM25 index (what the harness itself costs around the model).
//   3. GGUF sampler threads: the same reference-preset GGUF with 1 vs 2 llama.cpp threads
//      (peer: 1 thread, our default). --skip-gguf to leave it out.
// The machine is shared: wall times are printed with the load average.
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { presetConfig, type ModelConfig } from '../src/engine/config.ts';
import { Model } from '../src/engine/model.ts';
import { HfTokenizer, trainBpeTokenizer, SEARCH_R1_TAGS } from '../src/engine/tokenizer.ts';
import { builtinTokenizerCorpus } from '../src/engine/tokenizer-corpus.ts';
import { saveHfFolder } from '../src/engine/io/hf.ts';
import { EmbeddedTrainer } from '../src/policy/embedded.ts';
import { GgufSampler } from '../src/policy/gguf.ts';
import { writeGguf } from '../src/engine/io/gguf.ts';
import { OpenAISampler } from '../src/policy/openai.ts';
import { startOpenAIServer } from '../src/policy/openai-server.ts';
import { buildWorld, writeWorld } from '../src/world/world.ts';
import { buildIndex } from '../src/retrieval/bm25/index.ts';
import { evaluate } from '../src/cli/commands/eval.ts';
import { METHOD_NAMES } from '../src/eval/types.ts';

const quick = process.argv.includes('--quick');
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');

async function time<T>(fn: () => Promise<T>): Promise<{ ms: number; out: T }> {
  const t0 = performance.now();
  const out = await fn();
  return { ms: performance.now() - t0, out };
}

async function servingBench(dir: string): Promise<void> {
  const tokFiles = trainBpeTokenizer(builtinTokenizerCorpus(), {
    vocabSize: 512,
    addedTokens: SEARCH_R1_TAGS,
  });
  const tok = new HfTokenizer(tokFiles);
  const config: ModelConfig = { ...presetConfig('reference'), vocabSize: tok.vocabSize };
  const model = new Model(config, { seed: 1 });
  const modelDir = join(dir, 'ref-model');
  saveHfFolder(modelDir, { config, tensors: model.tensors(), tokenizer: tokFiles });
  model.dispose();
  const trainer = await EmbeddedTrainer.load(modelDir);
  const srv = await startOpenAIServer(trainer, { port: 0, maxBatch: 16 });
  const questions = [
    'who wrote the book',
    'where was she born',
    'when did the war end',
    'which river flows through the city',
  ];
  const prompts = Array.from({ length: 16 }, (_, i) =>
    tok.encode(`Answer the given question. Question: ${questions[i % 4]} (${i})?\n`),
  );
  const req = { prompts, maxTokens: quick ? 16 : 32, stop: [], temperature: 0, topP: 1, seed: 1 };
  const one = (p: number[]) => ({ ...req, prompts: [p] });
  const batchedClient = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, concurrency: 16, retries: 0 });
  const serialClient = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, concurrency: 1, retries: 0 });
  await trainer.sample(one(prompts[0])); // warm-up
  await batchedClient.sample(one(prompts[0]));
  const rows: [string, number, number][] = [];
  const count = (c: { tokens: number[] }[][]) => c.flat().reduce((s, x) => s + x.tokens.length, 0);
  const modes: [string, () => Promise<{ tokens: number[] }[][]>][] = [
    ['direct-batched', () => trainer.sample(req)],
    ['http-batched', () => batchedClient.sample(req)],
    [
      'direct-serial',
      async () => {
        const out = [];
        for (const p of prompts) out.push(...(await trainer.sample(one(p))));
        return out;
      },
    ],
    ['http-serial', () => serialClient.sample(req)],
  ];
  // Median of REPS interleaved rounds: the machine's load drifts, interleaving spreads it evenly.
  const REPS = quick ? 3 : 5;
  const times = new Map<string, number[]>(modes.map(([n]) => [n, []]));
  const tokens = new Map<string, number>();
  for (let rep = 0; rep < REPS; rep++) {
    for (const [name, fn] of modes) {
      const r = await time(fn);
      times.get(name)!.push(r.ms);
      tokens.set(name, count(r.out));
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [name] of modes) rows.push([name, median(times.get(name)!), tokens.get(name)!]);
  await srv.close();
  trainer.dispose();
  console.log(
    `\n## serve-model vs in-process engine (reference preset, ${prompts.length} prompts × ${req.maxTokens} tokens, greedy)`,
  );
  console.log(`load average: ${load()}`);
  console.log(`median of ${REPS} interleaved rounds`);
  console.log('mode            wall_ms   tokens   tokens/s');
  for (const [name, ms, n] of rows)
    console.log(
      `${name.padEnd(15)} ${ms.toFixed(0).padStart(7)} ${String(n).padStart(8)} ${(n / (ms / 1000)).toFixed(1).padStart(10)}`,
    );
  const ms = Object.fromEntries(rows.map(([n, m]) => [n, m]));
  console.log(
    `ratio http-batched / direct-batched: ${(ms['http-batched'] / ms['direct-batched']).toFixed(2)} (time)`,
  );
  console.log(
    `ratio http-serial / direct-serial:   ${(ms['http-serial'] / ms['direct-serial']).toFixed(2)} (time)`,
  );
  console.log(
    `ratio http-serial / http-batched:    ${(ms['http-serial'] / ms['http-batched']).toFixed(2)} (speed-up from server-side request merging)`,
  );
}

async function evalBench(dir: string): Promise<void> {
  const world = buildWorld({
    seed: 5,
    size: { countries: 4, citiesPerCountry: 2, people: 80, testFraction: 0.25 },
  });
  const files = await writeWorld(world, join(dir, 'world'));
  await buildIndex(files.corpus, join(dir, 'index'));
  const tokFiles = trainBpeTokenizer(
    world.passages.map((p) => `${p.title} ${p.text}`),
    { vocabSize: 800, addedTokens: SEARCH_R1_TAGS },
  );
  const tok = new HfTokenizer(tokFiles);
  const config: ModelConfig = { ...presetConfig('tiny'), vocabSize: tok.vocabSize };
  const model = new Model(config, { seed: 2 });
  saveHfFolder(join(dir, 'tiny-model'), { config, tensors: model.tensors(), tokenizer: tokFiles });
  model.dispose();
  const limit = quick ? 8 : 24;
  console.log(
    `\n## eval throughput (tiny preset random model, world test set, ${limit} questions per dataset, batch 8, turn budget 32 tokens)`,
  );
  console.log(`load average: ${load()}`);
  console.log('method        questions   wall_s   questions/s');
  for (const m of METHOD_NAMES) {
    const r = await time(() =>
      evaluate({
        dataset: files.testJsonl,
        method: m,
        out: join(dir, `run-${m}`),
        dataDir: dir,
        limit,
        batchSize: 8,
        splitBySource: false,
        topk: 3,
        maxTurns: 4,
        maxTurnTokens: 32,
        maxAnswerTokens: 16,
        maxObsTokens: 500,
        ircotSteps: 5,
        searchO1Searches: 5,
        temperature: 0,
        topP: 1,
        quiet: true,
        model: join(dir, 'tiny-model'),
        retriever: join(dir, 'index'),
      }),
    );
    console.log(
      `${m.padEnd(13)} ${String(r.out.newlyScored).padStart(9)} ${(r.ms / 1000).toFixed(2).padStart(8)} ${(r.out.newlyScored / (r.ms / 1000)).toFixed(2).padStart(13)}`,
    );
  }
}

async function ggufThreadsBench(dir: string): Promise<void> {
  const tok = new HfTokenizer(trainBpeTokenizer(builtinTokenizerCorpus(), { vocabSize: 512 }));
  const config: ModelConfig = { ...presetConfig('reference'), vocabSize: tok.vocabSize };
  const model = new Model(config, { seed: 1 });
  const path = join(dir, 'ref.gguf');
  writeGguf(path, config, model.tensors(), tok);
  model.dispose();
  const prompts = Array.from({ length: 8 }, (_, i) =>
    tok.encode(`Answer the given question. Question: who wrote book ${i}?`),
  );
  console.log(
    '\n## GGUF sampler: llama.cpp threads (reference preset, 8 prompts × 32 greedy tokens, 8 sequences)',
  );
  console.log(`load average: ${load()}`);
  console.log('threads   wall_ms   tokens   tokens/s');
  const rows: [number, number][] = [];
  for (const threads of [1, 2]) {
    const s = await GgufSampler.load(path, { tokenizer: tok, threads, sequences: 8, contextSize: 512 });
    await s.sample({ prompts: [prompts[0]], maxTokens: 4, stop: [], temperature: 0, topP: 1 });
    const r = await time(() => s.sample({ prompts, maxTokens: 32, stop: [], temperature: 0, topP: 1 }));
    const n = r.out.flat().reduce((a, c) => a + c.tokens.length, 0);
    rows.push([threads, r.ms]);
    console.log(
      `${String(threads).padEnd(7)} ${r.ms.toFixed(0).padStart(9)} ${String(n).padStart(8)} ${(n / (r.ms / 1000)).toFixed(0).padStart(10)}`,
    );
    await s.close();
  }
  console.log(`ratio 2 threads / 1 thread: ${(rows[1][1] / rows[0][1]).toFixed(2)} (time)`);
}

const dir = mkdtempSync(join(tmpdir(), 'bench-eval-'));
try {
  console.log(`# eval benchmarks${quick ? ' (--quick)' : ''}; load average at start: ${load()}`);
  await servingBench(dir);
  await evalBench(dir);
  if (!process.argv.includes('--skip-gguf')) await ggufThreadsBench(dir);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
