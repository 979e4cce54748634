// SIGTERM at seeded random points of a run: the child checkpoints the last completed step and
// exits 143 with the resume command; --resume then gives the same metrics and parameters as the
// uninterrupted run. Also: a second signal exits at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { train } from '../../src/rl/trainer.ts';
import { readMetrics } from '../../src/rl/metrics.ts';
import { mulberry32 } from '../../src/core/rng.ts';
import { makeTask, makeTokenizer } from '../rl/task.ts';
import { comparable, searchingFactory, signalTestConfig, slowRetriever } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'sr1-signals-'));

function child(dir: string, resume: boolean) {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/faults/fixtures/train-child.ts', dir, resume ? '1' : '0'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; stderr: string }>((res) =>
    p.on('exit', (code) => res({ code, stderr })),
  );
  return { p, exit };
}

const stepsDone = (dir: string) => {
  const path = join(dir, 'metrics.jsonl');
  return existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}')).length
    : 0;
};

test('SIGTERM at seeded random points: checkpoint of the last completed step, exit 143 with the resume command, resume equals the uninterrupted run', async () => {
  const straight = tmp();
  const tok = makeTokenizer();
  const task = makeTask();
  await train(signalTestConfig(straight), {
    createTrainer: searchingFactory(tok),
    retriever: slowRetriever(task.retriever, 15),
    data: { train: task.examples, val: task.examples.slice(0, 5) },
    log: () => {},
  });
  const want = readMetrics(join(straight, 'metrics.jsonl')).map(comparable);
  const wantPolicy = readFileSync(join(straight, 'checkpoints', 'step-000006', 'policy', 'tabular.json'));
  const rand = mulberry32(20);
  for (let trial = 0; trial < 2; trial++) {
    // a point: after k steps are in metrics.jsonl (1..4), wait 0–120 ms more
    const k = 1 + Math.floor(rand() * 4);
    const extraMs = Math.floor(rand() * 120);
    const dir = tmp();
    const victim = child(dir, false);
    await new Promise<void>((resolve) => {
      const iv = setInterval(() => {
        if (stepsDone(dir) >= k) {
          clearInterval(iv);
          setTimeout(() => {
            victim.p.kill('SIGTERM');
            resolve();
          }, extraMs);
        }
      }, 5);
    });
    const v = await victim.exit;
    const ctx = `trial ${trial} (k=${k}, +${extraMs} ms):\n${v.stderr}`;
    assert.equal(v.code, 143, ctx);
    const m =
      /SIGTERM: stopped after step (\d+) of 6; the checkpoint of step \1 is (\S+)\. Resume with: search-r1 .*--resume/.exec(
        v.stderr,
      );
    assert.ok(m, ctx);
    const stopped = Number(m[1]);
    assert.ok(stopped >= k && stopped < 6, ctx);
    assert.ok(existsSync(join(m[2], 'manifest.json')), ctx);
    const r = await child(dir, true).exit;
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`resumed from .*step-${String(stopped).padStart(6, '0')} at step ${stopped}`),
    );
    assert.deepEqual(readMetrics(join(dir, 'metrics.jsonl')).map(comparable), want, ctx);
    assert.ok(
      readFileSync(join(dir, 'checkpoints', 'step-000006', 'policy', 'tabular.json')).equals(wantPolicy),
      ctx,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  rmSync(straight, { recursive: true, force: true });
});
