// LEARNING tests on the embedded engine: RL must make a tiny model use the retriever.
//
// Task (kb-learning.ts): "code of kN?" — each of 48 entities has a random code in {c0, c1} that
// exists only in the corpus (looked up by entity name); RL trains on 24 entities and validates on
// the 24 others, which appear in no training signal, so validation can only be answered by
// searching. The warm start (fixed seeds) learns the search → copy format with RANDOM codes, then
// its prior of searching is lowered to P ≈ 0.06–0.12: it almost never searches, and greedy
// decoding never does (validation EM 0 at step 0; its non-search outputs are malformed).
//
// Margin: validation EM (greedy, every validation question) must rise by ≥ 0.50 and searches per
// rollout by ≥ 0.5 within 30 steps of 8 prompts. 0.50 is a full half of the questions: far beyond
// the 0.5-chance of guessing a two-valued code, and the run is seeded, hence deterministic.
// Measured (notes/issue-5-rl.md): GRPO 0.00 → 0.88, PPO 0.00 → 0.96. A control evaluates the
// trained policy with the retriever removed: it is back at ≤ 0.2, so the gain is retrieval.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { parseConfig } from '../../src/rl/config.ts';
import { encodePrompt, runEnv, train, validate } from '../../src/rl/trainer.ts';
import { readMetrics } from '../../src/rl/metrics.ts';
import { kbTask, warmStartedModel, KB_TEMPLATE } from './kb-learning.ts';

const task = kbTask();
let root = '';

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'sr1-learn-'));
  const w = await warmStartedModel(task, join(root, 'init'), {
    lr: 1e-2,
    seed: 1,
    copyTarget: 0.9,
    maxCopySteps: 1500,
    searchRange: [0.06, 0.12],
  });
  // The premise of the test: the warm start answers right after a search but rarely searches.
  assert.ok(
    w.copyAfter >= 0.85,
    `warm start: copy probability ${w.copyAfter.toFixed(3)} after ${w.copySteps} steps`,
  );
  assert.ok(
    w.pSearch >= 0.06 && w.pSearch <= 0.12,
    `warm start: P(<search> first) = ${w.pSearch.toFixed(3)}`,
  );
  process.stderr.write(`warm start: ${JSON.stringify(w)}\n`);
});
after(() => rmSync(root, { recursive: true, force: true }));

async function learn(algo: 'grpo' | 'ppo') {
  const runDir = join(root, algo);
  const cfg = parseConfig({
    name: `kb-${algo}`,
    runDir,
    model: join(root, 'init'),
    algo,
    seed: 3,
    data: { train: ['(in memory)'], val: ['(in memory)'], promptTemplate: KB_TEMPLATE },
    retriever: { type: 'none' }, // the in-memory retriever is passed below
    rollout: { maxTurns: 2, maxTurnTokens: 10, maxObsTokens: 40, maxTotalTokens: 120, topk: 1 },
    steps: 30,
    promptsPerStep: 8,
    n: algo === 'ppo' ? 4 : 5,
    miniBatchPrompts: 4,
    actor: { lr: 1e-3, warmupRatio: 0, entropyCoef: 0 },
    critic: { lr: 1e-2, warmupRatio: 0 },
    val: { every: 30, batchSize: 64, maxTurns: 2 },
    checkpoint: { every: 30, keepLast: 1 },
  });
  await train(cfg, {
    createTrainer: (spec) =>
      EmbeddedTrainer.load(spec.model, { tokenizer: task.tok, valueHead: spec.valueHead, seed: spec.seed }),
    retriever: task.retriever,
    data: { train: task.train, val: task.val },
    log: () => {},
  });
  const m = readMetrics(join(runDir, 'metrics.jsonl'));
  const first = m[0];
  const last = m[m.length - 1];
  assert.equal(first.step, 0);
  assert.equal(last.step, 30);
  const em0 = first['val/em/kb'];
  const em1 = last['val/em/kb'];
  const s0 = m[1]['env/number_of_valid_search'];
  const s1 = last['env/number_of_valid_search'];
  assert.ok(em0 <= 0.2, `${algo}: greedy, the warm-started policy does not search and fails (val EM ${em0})`);
  assert.ok(em1 - em0 >= 0.5, `${algo}: val EM ${em0.toFixed(3)} → ${em1.toFixed(3)} (needs +0.50)`);
  assert.ok(s1 - s0 >= 0.5, `${algo}: searches per rollout ${s0.toFixed(2)} → ${s1.toFixed(2)} (needs +0.5)`);

  // Control: the trained policy without a retriever is back near chance.
  const trained = await EmbeddedTrainer.load(join(runDir, 'checkpoints', 'step-000030', 'policy'), {
    tokenizer: task.tok,
  });
  const items = task.val.map((e) => ({
    example: e,
    tokens: encodePrompt(task.tok, e.question, KB_TEMPLATE),
  }));
  const noSearch = await validate(trained, runEnv(cfg, null), items, cfg, 0);
  assert.ok(
    noSearch['val/em/kb'] <= 0.2,
    `${algo}: without the retriever val EM is ${noSearch['val/em/kb']}`,
  );
  return { em0, em1, s0, s1, noSearch: noSearch['val/em/kb'] };
}

test('GRPO teaches a warm-started tiny model to search: validation EM rises by ≥ 0.50', async () => {
  const r = await learn('grpo');
  process.stderr.write(
    `GRPO: val EM ${r.em0.toFixed(3)} → ${r.em1.toFixed(3)}, searches ${r.s0.toFixed(2)} → ${r.s1.toFixed(2)}, without retriever ${r.noSearch.toFixed(3)}\n`,
  );
});

test('PPO (critic with value head, GAE, KL in reward) does the same', async () => {
  const r = await learn('ppo');
  process.stderr.write(
    `PPO: val EM ${r.em0.toFixed(3)} → ${r.em1.toFixed(3)}, searches ${r.s0.toFixed(2)} → ${r.s1.toFixed(2)}, without retriever ${r.noSearch.toFixed(3)}\n`,
  );
});
