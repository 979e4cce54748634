// Storage faults: a checkpoint write that fails (disk full, a path that cannot be a folder), a
// checkpoint with one flipped byte or a truncated file, a torn metrics.jsonl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../../src/rl/trainer.ts';
import { readMetrics, MetricsLog } from '../../src/rl/metrics.ts';
import {
  CheckpointWriteError,
  CorruptCheckpointError,
  saveCheckpoint,
  verifyCheckpoint,
  type CheckpointState,
} from '../../src/rl/checkpoint.ts';
import type { Trainer } from '../../src/core/trainer.ts';
import type { TrainerSpec } from '../../src/policy/backends.ts';
import { fakeConfig, fakeFactory, makeTask, makeTokenizer } from '../rl/task.ts';
import { comparable } from './helpers.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'sr1-storage-'));

/** fakeFactory, with the policy's saveWeights failing like a full disk on the listed calls (0-based). */
function diskFullOn(calls: Set<number>) {
  const base = fakeFactory(makeTokenizer());
  return async (spec: TrainerSpec): Promise<Trainer> => {
    const t = await base(spec);
    if (spec.valueHead) return t;
    const save = t.saveWeights.bind(t);
    let n = 0;
    t.saveWeights = async (dir, o) => {
      if (!calls.has(n++)) return save(dir, o);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'tabular.json'), '{"half": '); // a partial file, then the disk is full
      throw Object.assign(new Error(`ENOSPC: no space left on device, write '${dir}/tabular.json'`), {
        code: 'ENOSPC',
      });
    };
    return t;
  };
}

async function run(
  dir: string,
  overrides: Record<string, unknown> = {},
  extra: { resume?: boolean; resumeFrom?: string; createTrainer?: (s: TrainerSpec) => Promise<Trainer> } = {},
) {
  const tok = makeTokenizer();
  const task = makeTask();
  const logs: string[] = [];
  const res = await train(fakeConfig({ runDir: dir, ...overrides }), {
    resume: extra.resume,
    resumeFrom: extra.resumeFrom,
    createTrainer: extra.createTrainer ?? fakeFactory(tok),
    retriever: task.retriever,
    data: { train: task.examples, val: task.examples.slice(0, 5) },
    log: (s) => logs.push(s),
  });
  return { res, logs, metrics: readMetrics(join(dir, 'metrics.jsonl')) };
}

const ckDir = (dir: string, step: number) =>
  join(dir, 'checkpoints', `step-${String(step).padStart(6, '0')}`);

test('a checkpoint write that fails (disk full) leaves the previous one intact, says so, and training goes on', async () => {
  const straight = tmp();
  const dir = tmp();
  try {
    const a = await run(straight, { checkpoint: { every: 2, keepLast: 3 } });
    // saveWeights calls: step 2 → 0, step 4 → 1 (fails), step 6 → 2
    const b = await run(
      dir,
      { checkpoint: { every: 2, keepLast: 3 } },
      { createTrainer: diskFullOn(new Set([1])) },
    );
    const warning = b.logs.find((l) => l.startsWith('warning: the checkpoint of step 4'));
    assert.ok(warning, b.logs.join('\n'));
    assert.match(warning, /ENOSPC: no space left on device/);
    assert.match(warning, new RegExp(`the previous checkpoint ${ckDir(dir, 2)} is intact`));
    assert.match(warning, /training continues, the next checkpoint is due at step 6/);
    assert.deepEqual(
      readdirSync(join(dir, 'checkpoints')).sort(),
      ['step-000002', 'step-000006'],
      'no temp folder left',
    );
    assert.deepEqual(verifyCheckpoint(ckDir(dir, 2)), { problems: [], legacy: false });
    assert.ok(
      readFileSync(join(ckDir(dir, 2), 'policy', 'tabular.json')).equals(
        readFileSync(join(ckDir(straight, 2), 'policy', 'tabular.json')),
      ),
    );
    assert.deepEqual(b.metrics.map(comparable), a.metrics.map(comparable));
    // The final checkpoint must exist: a failure there ends the run with the error.
    const dir2 = tmp();
    await assert.rejects(
      run(
        dir2,
        { steps: 4, checkpoint: { every: 2, keepLast: 3 } },
        { createTrainer: diskFullOn(new Set([1])) },
      ),
      (e: Error) => e instanceof CheckpointWriteError && e.previous === ckDir(dir2, 2),
    );
    rmSync(dir2, { recursive: true, force: true });
  } finally {
    rmSync(straight, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a checkpoint folder that cannot be created (its parent is a file): a clear CheckpointWriteError', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'checkpoints'), 'not a folder');
  const tok = makeTokenizer();
  const policy = await fakeFactory(tok)({ backend: 'embedded', model: 'fake', seed: 1 } as TrainerSpec);
  const state: CheckpointState = {
    format: 'search-r1-rl-checkpoint',
    version: 1,
    step: 3,
    seed: 1,
    loader: { epoch: 0, cursor: 0 } as CheckpointState['loader'],
    consecutiveBadSteps: 0,
    configHash: 'x',
  };
  await assert.rejects(saveCheckpoint(dir, { policy, critic: null }, state, 2), (e: Error) => {
    assert.ok(e instanceof CheckpointWriteError);
    assert.match(
      e.message,
      /the checkpoint of step 3 could not be written to .*step-000003: .*(EEXIST|ENOTDIR)/,
    );
    assert.match(e.message, /there is no earlier checkpoint/);
    return true;
  });
  assert.equal(readFileSync(join(dir, 'checkpoints'), 'utf8'), 'not a folder');
  rmSync(dir, { recursive: true, force: true });
});

test('one flipped byte in the newest checkpoint: --resume refuses it and names the previous; --resume-from that one equals the uninterrupted run', async () => {
  const straight = tmp();
  const dir = tmp();
  try {
    const a = await run(straight, { steps: 8, checkpoint: { every: 2, keepLast: 3 } });
    await run(dir, { steps: 6, checkpoint: { every: 2, keepLast: 3 } });
    const victim = join(ckDir(dir, 6), 'policy', 'tabular.json');
    const bytes = readFileSync(victim);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    writeFileSync(victim, bytes);
    await assert.rejects(
      run(dir, { steps: 8, checkpoint: { every: 2, keepLast: 3 } }, { resume: true }),
      (e: Error) => {
        assert.ok(e instanceof CorruptCheckpointError, String(e));
        assert.match(e.message, /step-000006 is damaged: policy\/tabular\.json does not match its sha256/);
        assert.match(e.message, /resume from it with --resume-from step-000004/);
        return true;
      },
    );
    const b = await run(
      dir,
      { steps: 8, checkpoint: { every: 2, keepLast: 3 } },
      { resumeFrom: 'step-000004' },
    );
    assert.ok(
      b.logs.some((l) => /step-000006: damaged, set aside as .*step-000006\.corrupt-\d+/.test(l)),
      b.logs.join('\n'),
    );
    assert.ok(b.logs.some((l) => l.startsWith(`resumed from ${ckDir(dir, 4)} at step 4`)));
    assert.deepEqual(b.metrics.map(comparable), a.metrics.map(comparable));
    assert.ok(
      readFileSync(join(ckDir(dir, 8), 'policy', 'tabular.json')).equals(
        readFileSync(join(ckDir(straight, 8), 'policy', 'tabular.json')),
      ),
    );
    // A truncated file is named as such.
    truncateSync(join(ckDir(dir, 8), 'state.json'), 10);
    await assert.rejects(
      run(dir, { steps: 9 }, { resume: true }),
      /state\.json has 10 bytes, the manifest says \d+ \(truncated\?\)/,
    );
  } finally {
    rmSync(straight, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a torn last line in metrics.jsonl is repaired on resume (and reported); a bad line before it is an error', async () => {
  const straight = tmp();
  const dir = tmp();
  try {
    const a = await run(straight, { steps: 6, val: { every: 2 } });
    await run(dir, { steps: 4, val: { every: 2 } });
    const path = join(dir, 'metrics.jsonl');
    appendFileSync(path, '{"step":5,"critic/score/mean":0.1'); // killed mid-write
    const b = await run(dir, { steps: 6, val: { every: 2 } }, { resume: true });
    assert.ok(
      b.logs.some(
        (l) =>
          l === `${path}:6: dropped a torn last line (33 characters, no newline) left by an interrupted run`,
      ),
      b.logs.join('\n'),
    );
    assert.deepEqual(b.metrics.map(comparable), a.metrics.map(comparable));
    const lines = readFileSync(path, 'utf8').split('\n');
    lines[2] = lines[2].slice(0, 20);
    writeFileSync(path, lines.join('\n'));
    assert.throws(
      () => new MetricsLog(path).truncateAfter(6),
      new RegExp(`${path}:3: not a JSON metrics record`),
    );
    assert.ok(!existsSync(`${path}.tmp`));
  } finally {
    rmSync(straight, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
