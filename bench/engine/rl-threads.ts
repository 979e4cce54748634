// One RL step of the `world` preset (GRPO: rollouts with retrieval + old log-probs + update) on one
// engine thread vs on N, as an A/B in one run: each step runs in a fresh process (the kernels are
// process-wide), alternating 1, N, 1, N… over the same world, index and model.
//   node --import tsx bench/engine/rl-threads.ts [--threads N] [--rounds R]
// Part of `npm run bench:engine` (bench/engine.ts calls it unless --skip-rl).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: String(availableParallelism()) },
    rounds: { type: 'string', default: '2' },
    child: { type: 'string' },
    work: { type: 'string' },
  },
  strict: false, // imported by bench/engine.ts, whose own flags are not ours
}) as { values: Record<string, string | undefined> };

/** Child: one GRPO step of the world preset on `threads` engine threads; prints its metrics. */
async function child(work: string, threads: number): Promise<void> {
  const { setEngineThreads } = await import('../../src/engine/kernels/index.ts');
  setEngineThreads(threads);
  const { loadConfig } = await import('../../src/rl/config.ts');
  const { train } = await import('../../src/rl/trainer.ts');
  const cfg = loadConfig({
    preset: 'world',
    overrides: {
      algo: 'grpo',
      runDir: join(work, `run-${threads}-${process.pid}`),
      steps: 1,
      data: { train: [join(work, 'world', 'train.jsonl')], val: [join(work, 'world', 'test.jsonl')] },
      retriever: { type: 'bm25', index: join(work, 'index') },
      val: { every: 0, beforeTrain: false },
      checkpoint: { every: 0 },
    },
  });
  let last: Record<string, number> = {};
  const c0 = process.cpuUsage();
  await train(cfg, { onStep: (m) => (last = m), log: () => {} });
  const cu = process.cpuUsage(c0);
  console.log(JSON.stringify({ ...last, cpu_s: (cu.user + cu.system) / 1e6 }));
}

export async function benchRlThreads(threads: number, rounds: number): Promise<void> {
  const { buildWorld, DEFAULT_WORLD_SEED, writeWorld } = await import('../../src/world/world.ts');
  const { buildIndex } = await import('../../src/retrieval/bm25/index.ts');
  const work = mkdtempSync(join(tmpdir(), 'sr1-bench-rl-threads-'));
  try {
    const files = await writeWorld(buildWorld({ seed: DEFAULT_WORLD_SEED }), join(work, 'world'));
    await buildIndex(files.corpus, join(work, 'index'));
    const self = fileURLToPath(import.meta.url);
    const steps: Record<number, number[]> = { 1: [], [threads]: [] };
    const gen: Record<number, number[]> = { 1: [], [threads]: [] };
    console.log(
      `\n## one RL step, world preset (GRPO, models/world-base), --threads 1 vs ${threads}, ${rounds} alternating rounds   load: ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')}`,
    );
    console.log('| round | threads | step s | generation s | update s | CPU s of the process |');
    console.log('|---|---|---|---|---|---|');
    for (let r = 0; r < rounds; r++)
      for (const t of [1, threads]) {
        const p = spawnSync(
          process.execPath,
          ['--import', 'tsx', self, `--child=${t}`, `--work=${work}`],
          { encoding: 'utf8', env: { ...process.env, SEARCH_R1_THREADS: String(t) } },
        );
        if (p.status !== 0) throw new Error(`RL step on ${t} threads failed: ${p.stderr}`);
        const m = JSON.parse(p.stdout.trim().split('\n').pop()!) as Record<string, number>;
        steps[t].push(m['timing_s/step']);
        gen[t].push(m['timing_s/gen']);
        console.log(
          `| ${r + 1} | ${t} | ${m['timing_s/step'].toFixed(2)} | ${m['timing_s/gen'].toFixed(2)} | ${(m['timing_s/update_actor'] ?? 0).toFixed(2)} | ${m.cpu_s.toFixed(1)} |`,
        );
      }
    const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor((a.length - 1) / 2)];
    console.log(
      `median step: ${med(steps[1]).toFixed(2)} s on 1 thread, ${med(steps[threads]).toFixed(2)} s on ${threads} → ` +
        `${(med(steps[1]) / med(steps[threads])).toFixed(2)}× faster (goal ≥ 1.6×); generation ${(med(gen[1]) / med(gen[threads])).toFixed(2)}×`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (args.child) await child(args.work!, Number(args.child));
  else await benchRlThreads(Number(args.threads), Number(args.rounds));
}
