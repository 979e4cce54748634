// A shortened `search-r1 demo` end to end: pretrain a very small model on the world (a few steps),
// then the demo pipeline twice with the same seed — world, index, baselines, GRPO, evaluation,
// report — and check the outputs and that the table is reproducible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pretrain } from '../../src/demo/pretrain.ts';
import { formatTable, rerenderReport, runDemo } from '../../src/demo/demo.ts';

test('demo: pretrain → baselines → GRPO → eval → report, seeded', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'demo-e2e-'));
  const quiet = () => {};
  try {
    const model = join(dir, 'base');
    const pt = await pretrain({
      out: model,
      workDir: join(dir, 'pt'),
      vocabSize: 320,
      model: { hiddenSize: 32, intermediateSize: 64, numLayers: 1, numHeads: 2, numKvHeads: 2 },
      epochs: 1,
      batchSize: 4,
      maxSteps: 2,
      shadowWorlds: 1,
      readingSteps: 1,
      checkpointEvery: 1,
      log: quiet,
    });
    assert.equal(pt.steps, 2);
    assert.ok(Number.isFinite(pt.finalLoss));
    for (const f of [
      'config.json',
      'model.safetensors',
      'tokenizer.json',
      'tokenizer_config.json',
      'generation_config.json',
      'README.md',
    ]) {
      assert.ok(existsSync(join(model, f)), f);
    }
    assert.ok(
      !('chat_template' in JSON.parse(readFileSync(join(model, 'tokenizer_config.json'), 'utf8'))),
      'a base model has no chat template',
    );

    const run = (name: string) =>
      runDemo({
        name,
        model,
        runsDir: join(dir, 'runs'),
        cacheDir: join(dir, 'cache'),
        evalPerType: 2,
        evalChunk: 4,
        steps: 1,
        promptsPerStep: 2,
        n: 2,
        valEvery: 0,
        log: quiet,
      });
    const a = await run('a');
    const methods = ['direct', 'rag', 'search-r1-base', 'search-r1'];
    assert.deepEqual(Object.keys(a.em), methods);
    for (const m of methods) for (const v of Object.values(a.em[m])) assert.ok(v >= 0 && v <= 1, `${m} ${v}`);
    assert.deepEqual(a.eval_questions, { single_hop: 2, two_hop: 2 });
    // Per-relation EM of every method over the same questions, and the question count per relation.
    const rels = Object.keys(a.eval_questions_by_relation);
    assert.equal(Object.values(a.eval_questions_by_relation).reduce((x, y) => x + y, 0), 4);
    assert.deepEqual(Object.keys(a.em_by_relation), methods);
    for (const m of methods) {
      assert.deepEqual(Object.keys(a.em_by_relation[m]).sort(), [...rels].sort());
      // The overall EM is the count-weighted mean of the per-relation EMs.
      const weighted = rels.reduce((s, r) => s + a.em_by_relation[m][r] * a.eval_questions_by_relation[r], 0) / 4;
      assert.ok(Math.abs(weighted - a.em[m].overall) < 1e-12, `${m}: ${weighted} vs ${a.em[m].overall}`);
    }
    assert.equal(a.searches_per_question.rag, 1);
    const summary = JSON.parse(readFileSync(join(dir, 'runs', 'a', 'summary.json'), 'utf8')) as typeof a;
    assert.deepEqual(summary.em, a.em);
    assert.deepEqual(summary.em_by_relation, a.em_by_relation);
    assert.deepEqual(summary.eval_questions_by_relation, a.eval_questions_by_relation);
    assert.ok(summary.wall_seconds > 0);
    const html = readFileSync(join(dir, 'runs', 'a', 'report.html'), 'utf8');
    assert.ok(html.includes('new uPlot(') && !/<script[^>]+src=/.test(html));
    assert.ok(html.includes('Reward (train batch mean)'), 'training curves drawn from metrics.jsonl');
    assert.ok(html.includes('class="seg injected"') || a.searches_per_question['search-r1-base'] === 0);
    assert.match(formatTable(a), /Search-R1 \(GRPO\)\s+\d\.\d{3}/);
    // --report-only: the same report and summary from the run's files, nothing re-run.
    const summaryText = readFileSync(join(dir, 'runs', 'a', 'summary.json'), 'utf8');
    rmSync(join(dir, 'runs', 'a', 'report.html'));
    assert.deepEqual(rerenderReport(join(dir, 'runs', 'a')).em, a.em);
    assert.equal(readFileSync(join(dir, 'runs', 'a', 'report.html'), 'utf8'), html);
    assert.equal(readFileSync(join(dir, 'runs', 'a', 'summary.json'), 'utf8'), summaryText);

    const b = await run('b');
    assert.deepEqual(b.em, a.em, 'same seed, same table');
    assert.deepEqual(b.searches_per_question, a.searches_per_question);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
