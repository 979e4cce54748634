import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfig, lrAt, ConfigError } from '../../src/rl/config.ts';
import { ALL_PRESETS, WORLD_PRESETS } from '../../src/demo/presets.ts';
import { flagsToOverrides } from '../../src/cli/commands/train.ts';

const data = { data: { train: ['t.jsonl'] }, retriever: { type: 'none' } };

test('defaults are the reference values (docs/rl.md), algorithm-dependent ones resolved', () => {
  const grpo = parseConfig({ ...data, algo: 'grpo' });
  assert.equal(grpo.n, 5);
  assert.equal(grpo.actor.lr, 1e-6);
  assert.equal(grpo.actor.klLoss.use, true);
  assert.equal(grpo.actor.klLoss.estimator, 'low_var_kl');
  assert.equal(grpo.actor.klLoss.coef, 0.001);
  assert.equal(grpo.klInReward.use, false);
  assert.equal(grpo.actor.clipEpsLow, 0.2);
  assert.equal(grpo.actor.entropyCoef, 0.001);
  assert.equal(grpo.actor.gradClip, 1);
  assert.equal(grpo.actor.aggregation, 'token-mean');
  assert.equal(grpo.actor.stateMasking, true);
  assert.deepEqual(
    [
      grpo.rollout.maxTurns,
      grpo.rollout.topk,
      grpo.rollout.maxTurnTokens,
      grpo.rollout.maxObsTokens,
      grpo.rollout.maxTotalTokens,
    ],
    [2, 3, 500, 500, 4096],
  );
  assert.equal(grpo.runDir, 'runs/run');
  const ppo = parseConfig({ ...data, algo: 'ppo' });
  assert.equal(ppo.n, 1);
  assert.equal(ppo.actor.klLoss.use, false);
  assert.equal(ppo.klInReward.use, true);
  assert.equal(ppo.klInReward.estimator, 'k1');
  assert.deepEqual(
    [
      ppo.gae.gamma,
      ppo.gae.lambda,
      ppo.critic.lr,
      ppo.critic.valueClip,
      ppo.actor.warmupRatio,
      ppo.critic.warmupRatio,
    ],
    [1, 1, 1e-5, 0.5, 0.285, 0.015],
  );
});

test('unknown and mistyped keys are reported by their path, with the file name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sr1-cfg-'));
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ ...data, actor: { lr: 'fast', klLos: {} }, rollot: {}, steps: 2.5 }));
  assert.throws(
    () => loadConfig({ file }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message.startsWith(file) &&
      /"actor\.lr": .*number/.test(e.message) &&
      /unknown key "actor\.klLos"/.test(e.message) &&
      /unknown key "rollot"/.test(e.message) &&
      /"steps": /.test(e.message),
  );
  writeFileSync(file, '{ not json');
  assert.throws(
    () => loadConfig({ file }),
    new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`),
  );
  assert.throws(
    () => loadConfig({ preset: 'nope', presets: ALL_PRESETS }),
    /unknown preset "nope" \(known: reference, world, smoke\)/,
  );
  assert.throws(
    () => parseConfig({ data: { train: ['x'] }, retriever: { type: 'bm25' } }),
    /"retriever\.index": required/,
  );
  assert.throws(() => parseConfig({ ...data, algo: 'grpo', n: 1 }), /grpo needs at least 2/);
});

test('layers: preset ← file ← flags (flags win, objects merge key by key)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sr1-cfg-'));
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ steps: 9, actor: { entropyCoef: 0 }, rollout: { maxTurns: 3 } }));
  const cfg = loadConfig({
    preset: 'smoke',
    presets: WORLD_PRESETS,
    file,
    overrides: flagsToOverrides({ steps: 4, lr: 0.5, stateMasking: false, algo: 'ppo', noRetriever: true }),
  });
  assert.equal(cfg.steps, 4);
  assert.equal(cfg.actor.lr, 0.5);
  assert.equal(cfg.actor.entropyCoef, 0);
  assert.equal(cfg.actor.stateMasking, false);
  assert.equal(cfg.rollout.maxTurns, 3);
  assert.equal(cfg.rollout.maxTurnTokens, (WORLD_PRESETS.smoke.rollout as { maxTurnTokens: number }).maxTurnTokens);
  assert.equal(cfg.algo, 'ppo');
  assert.equal(cfg.retriever.type, 'none');
  assert.equal(cfg.n, 2); // the preset's n
});

test('--base-url/--base-model layer over backendOptions from a config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sr1-cfg-'));
  const file = join(dir, 'tinker.json');
  writeFileSync(
    file,
    JSON.stringify({ ...data, backend: 'tinker', backendOptions: { tokenizerDir: 'tok' } }),
  );
  const cfg = loadConfig({
    file,
    overrides: flagsToOverrides({ baseUrl: 'http://127.0.0.1:9', baseModel: 'world-base' }),
  });
  assert.equal(cfg.backend, 'tinker');
  assert.deepEqual(cfg.backendOptions, {
    tokenizerDir: 'tok',
    baseUrl: 'http://127.0.0.1:9',
    baseModel: 'world-base',
  });
});

test('learning-rate warmup is linear over ⌊ratio·steps⌋ steps, then constant', () => {
  assert.equal(lrAt(0, 1, 0.25, 8), 0.5);
  assert.equal(lrAt(1, 1, 0.25, 8), 1);
  assert.equal(lrAt(7, 1, 0.25, 8), 1);
  assert.equal(lrAt(0, 2, 0, 8), 2);
});

test('CLI: search-r1 train reports a bad config file with the key and exits non-zero; --print-config resolves layers', async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'sr1-cfg-'));
  const file = join(dir, 'bad.json');
  writeFileSync(
    file,
    JSON.stringify({ data: { train: ['t.jsonl'] }, retriever: { type: 'none' }, actr: {} }),
  );
  const bad = spawnSync(process.execPath, ['bin/search-r1.mjs', 'train', '--config', file], {
    encoding: 'utf8',
  });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /unknown key "actr"/);
  const ok = spawnSync(
    process.execPath,
    [
      'bin/search-r1.mjs',
      'train',
      '--preset',
      'smoke',
      '--algo',
      'ppo',
      '--steps',
      '7',
      '--no-state-masking',
      '--print-config',
    ],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(ok.status, 0, ok.stderr);
  const cfg = JSON.parse(ok.stdout) as {
    algo: string;
    steps: number;
    n: number;
    actor: { stateMasking: boolean };
    klInReward: { use: boolean };
  };
  assert.deepEqual(
    [cfg.algo, cfg.steps, cfg.n, cfg.actor.stateMasking, cfg.klInReward.use],
    ['ppo', 7, 2, false, true],
  );
});
