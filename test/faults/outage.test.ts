// A retriever that goes away mid-run: refused for 5 s then back (the run rides it out and its
// metrics equal a run without the outage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/rl/trainer.ts';
import { RunInterrupted } from '../../src/rl/interrupt.ts';
import { RemoteRetrieverError } from '../../src/retrieval/remote.ts';
import { readMetrics } from '../../src/rl/metrics.ts';
import { fakeConfig, makeTask, makeTokenizer } from '../rl/task.ts';
import { comparable, FlakyRetrievalServer, searchingFactory, shortRetryRetriever } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'sr1-faults-'));
const STEPS = 4;

async function runWithRemote(dir: string, url: string, budgetMs: number, onStep?: (step: number) => void) {
  const tok = makeTokenizer();
  const task = makeTask();
  const logs: string[] = [];
  const retriever = shortRetryRetriever(url, budgetMs, (l) => logs.push(l));
  await train(fakeConfig({ runDir: dir, steps: STEPS, val: { every: 2, beforeTrain: false } }), {
    createTrainer: searchingFactory(tok),
    retriever,
    data: { train: task.examples, val: task.examples.slice(0, 5) },
    log: (s) => logs.push(s),
    onStep: (m) => onStep?.(m.step),
  });
  return { logs, metrics: readMetrics(join(dir, 'metrics.jsonl')) };
}

test('a retriever refused for 5 s after step 2: waits are logged, the run completes with the same metrics', async () => {
  const task = makeTask();
  const server = new FlakyRetrievalServer(task.retriever);
  await server.up();
  const straight = tmp();
  const outage = tmp();
  try {
    const a = await runWithRemote(straight, server.url, 30_000);
    assert.ok(!a.logs.some((l) => l.startsWith('retry:')), 'no retries without an outage');
    let backAt = 0;
    const b = await runWithRemote(outage, server.url, 30_000, (step) => {
      if (step !== 2) return;
      // onStep is synchronous: take the server down now, bring it back on the same port in 5 s.
      void server.down().then(() => {
        setTimeout(() => void server.up().then(() => (backAt = Date.now())), 5_000);
      });
    });
    assert.ok(backAt > 0, 'the server came back during the run:\n' + b.logs.join('\n'));
    const waits = b.logs.filter((l) =>
      /^retry: POST http:\/\/127\.0\.0\.1:\d+\/retrieve: connection error/.test(l),
    );
    assert.ok(waits.length >= 3, `several waits logged:\n${b.logs.join('\n')}`);
    assert.match(waits[0], /waiting [\d.]+ s before attempt 2 \(.* of the 30 s retry budget left\)/);
    assert.ok(b.logs.some((l) => /^retry: POST .*\/retrieve is back after [\d.]+ s/.test(l)));
    assert.deepEqual(b.metrics.map(comparable), a.metrics.map(comparable));
    assert.equal(b.metrics.length, STEPS);
    assert.ok(b.metrics[2]['env/number_of_valid_search'] > 0, 'step 3 (during the outage) searched');
  } finally {
    await server.down();
    rmSync(straight, { recursive: true, force: true });
    rmSync(outage, { recursive: true, force: true });
  }
});

test('a retriever that never returns: a clear failure after the budget, the last completed step checkpointed, resume completes', async () => {
  const task = makeTask();
  const server = new FlakyRetrievalServer(task.retriever);
  await server.up();
  const straight = tmp();
  const dir = tmp();
  const cfg = {
    steps: STEPS,
    val: { every: 2, beforeTrain: false },
    checkpoint: { every: 100, keepLast: 3 },
  };
  const go = async (d: string, budgetMs: number, resume: boolean, onStep?: (s: number) => void) => {
    const logs: string[] = [];
    await train(fakeConfig({ runDir: d, ...cfg }), {
      resume,
      createTrainer: searchingFactory(makeTokenizer()),
      retriever: shortRetryRetriever(server.url, budgetMs, (l) => logs.push(l)),
      data: { train: task.examples, val: task.examples.slice(0, 5) },
      log: (s) => logs.push(s),
      onStep: (m) => onStep?.(m.step),
    });
    return logs;
  };
  try {
    await go(straight, 30_000, false);
    await assert.rejects(
      go(dir, 1_500, false, (step) => {
        if (step === 3) void server.down();
      }),
      (e: Error) => {
        assert.ok(e instanceof RunInterrupted, String(e));
        assert.equal(e.exitCode, 1);
        assert.ok(e.cause instanceof RemoteRetrieverError);
        assert.match(
          e.message,
          /^POST http:\/\/127\.0\.0\.1:\d+\/retrieve failed after \d+ attempts: connection error: ECONNREFUSED \(gave up after/,
        );
        assert.match(
          e.message,
          /stopped after step 3 of 4\); the checkpoint of step 3 is \S+step-000003\. Resume with: search-r1 .*--resume$/,
        );
        return true;
      },
    );
    await server.up();
    const logs = await go(dir, 30_000, true);
    assert.ok(
      logs.some((l) => /^resumed from .*step-000003 at step 3$/.test(l)),
      logs.join('\n'),
    );
    assert.deepEqual(
      readMetrics(join(dir, 'metrics.jsonl')).map(comparable),
      readMetrics(join(straight, 'metrics.jsonl')).map(comparable),
    );
  } finally {
    await server.down();
    rmSync(straight, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
