// Dataset resolution for `eval --dataset`: names under a data dir (FlashRAG layout and flat
// files), paths, the real NQ files in both published formats, mixed-source files split per source.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDatasets, resolveDatasetPath, sampleBySeed } from '../../src/eval/datasets.ts';

/** `../shared/data/<name>` relative to the repository root (CI has shared/ beside the clone). */
const shared = (f: string) => fileURLToPath(new URL(`../../../shared/data/${f}`, import.meta.url));

test('names resolve under the data dir (test split before dev), paths as given', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-ds-'));
  try {
    mkdirSync(join(dir, 'nq'));
    copyFileSync(shared('flashrag_nq_sample.jsonl'), join(dir, 'nq', 'test.jsonl'));
    writeFileSync(join(dir, 'nq', 'dev.jsonl'), '{"question":"dev?","golden_answers":["x"]}\n');
    copyFileSync(shared('nq_open.dev.jsonl'), join(dir, 'nq_open.dev.jsonl'));
    writeFileSync(join(dir, 'bamboogle.jsonl'), '{"id":"b1","question":"q?","golden_answers":["a"]}\n');
    assert.equal(resolveDatasetPath('nq', dir).path, join(dir, 'nq', 'test.jsonl'));
    assert.equal(resolveDatasetPath('bamboogle', dir).path, join(dir, 'bamboogle.jsonl'));
    assert.throws(() => resolveDatasetPath('popqa', dir), /--dataset popqa: not found under/);
    assert.throws(() => resolveDatasetPath('missing/file.jsonl', dir), /no such file/);

    const ds = await loadDatasets(`nq,bamboogle,${join(dir, 'nq_open.dev.jsonl')}`, {
      dataDir: dir,
      limit: 5,
    });
    assert.deepEqual(
      ds.map((d) => [d.name, d.examples.length]),
      [
        ['nq', 5],
        ['bamboogle', 1],
        ['nq_open', 5],
      ],
    );
    assert.deepEqual(ds[0].examples[0].goldenAnswers, ['Wilhelm Conrad Röntgen']);
    assert.equal(ds[0].examples[0].id, 'test_0');
    // NQ-open rows have no id: the line index is the id; answers come from `answer`.
    assert.equal(ds[2].examples[0].id, '0');
    assert.deepEqual(ds[2].examples[0].goldenAnswers, ['14 December 1972 UTC', 'December 1972']);
    await assert.rejects(loadDatasets('nq,nq', { dataDir: dir }), /"nq" appears twice/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a file mixing data sources becomes one dataset per source; --limit applies per dataset', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-ds-'));
  try {
    const rows = [
      { id: 'a1', question: 'q1?', golden_answers: ['x'], metadata: { data_source: 'single' } },
      { id: 'a2', question: 'q2?', golden_answers: ['x'], metadata: { data_source: 'single' } },
      { id: 'b1', question: 'q3?', golden_answers: ['x'], metadata: { data_source: 'multi' } },
    ];
    const f = join(dir, 'mixed.jsonl');
    writeFileSync(f, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const split = await loadDatasets(f, { dataDir: dir, limit: 1 });
    assert.deepEqual(
      split.map((d) => [d.name, d.examples.map((e) => e.id)]),
      [
        ['single', ['a1']],
        ['multi', ['b1']],
      ],
    );
    const whole = await loadDatasets(f, { dataDir: dir, splitBySource: false });
    assert.deepEqual(
      whole.map((d) => [d.name, d.examples.length]),
      [['mixed', 3]],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--sample: a seeded subset, the same on every call, in file order', () => {
  const xs = Array.from({ length: 50 }, (_, i) => ({
    id: `q${i}`,
    question: `q${i}?`,
    goldenAnswers: ['a'],
    dataSource: 'd',
  }));
  const a = sampleBySeed(xs, 10, 1);
  assert.equal(a.length, 10);
  assert.deepEqual(sampleBySeed(xs, 10, 1), a, 'deterministic');
  assert.notDeepEqual(
    sampleBySeed(xs, 10, 2).map((x) => x.id),
    a.map((x) => x.id),
    'another seed, another subset',
  );
  const idx = a.map((x) => Number(x.id.slice(1)));
  assert.deepEqual(
    idx,
    [...idx].sort((p, q) => p - q),
    'file order',
  );
  // Asking for more than there are returns them all.
  assert.equal(sampleBySeed(xs, 60, 1).length, 50);
});
