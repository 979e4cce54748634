import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/core/rng.ts';
import { buildWorld, writeWorld } from '../../src/world/world.ts';
import { entity } from '../../src/world/kb.ts';
import { readSearchR1Parquet } from '../../src/data/searchr1-parquet.ts';

const world = buildWorld({ seed: 7 });
const passageOf = new Map(world.passages.map((p) => [p.entityId, p]));

test('rng: deterministic, uniform-ish, forks independent', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 1000 }, () => a.float());
  assert.deepEqual(xs, Array.from({ length: 1000 }, () => b.float()));
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  const counts = new Array(10).fill(0);
  const r = new Rng(3);
  for (let i = 0; i < 10_000; i++) counts[r.int(10)]++;
  for (const c of counts) assert.ok(c > 850 && c < 1150, `bucket ${c}`);
  assert.notDeepEqual(new Rng(1).shuffle([1, 2, 3, 4, 5, 6, 7, 8]), new Rng(2).shuffle([1, 2, 3, 4, 5, 6, 7, 8]));
});

test('world: same seed same world, other seed other world', () => {
  const again = buildWorld({ seed: 7 });
  assert.deepEqual(again.passages, world.passages);
  assert.deepEqual(again.test, world.test);
  const other = buildWorld({ seed: 8 });
  assert.notDeepEqual(other.passages.map((p) => p.title), world.passages.map((p) => p.title));
});

test('world: every entity name is unique (no ambiguous answers)', () => {
  const names = world.passages.map((p) => p.title.toLowerCase());
  assert.equal(new Set(names).size, names.length);
});

test('world: every golden answer occurs in some passage, and in the passage of the answer chain', () => {
  const corpusText = world.passages.map((p) => `${p.title}\n${p.text}`).join('\n');
  for (const q of [...world.pretrain, ...world.train, ...world.test]) {
    assert.ok(q.goldenAnswers.length > 0, q.id);
    for (const g of q.goldenAnswers) assert.ok(corpusText.includes(g), `${q.id}: "${g}" not in corpus`);
    // Derivable: each hop's passage names the next entity; the last hop's passage states a gold answer.
    const { chain } = q.metadata;
    for (let i = 0; i + 1 < chain.length; i++) {
      const next = entity(world.kb, chain[i + 1]);
      assert.ok(passageOf.get(chain[i])!.text.includes(next.name), `${q.id}: hop ${i} does not name ${next.name}`);
    }
    const last = passageOf.get(chain[chain.length - 1])!;
    assert.ok(q.goldenAnswers.some((g) => last.text.includes(g)), `${q.id}: answer not in final passage ${last.title}`);
    // The question names its subject, so a search for the question's entity can find the first passage.
    assert.ok(q.question.includes(q.metadata.firstQuery), q.id);
  }
});

test('world: pretrain, train and test questions are about disjoint entities; chains stay in their split', () => {
  const splits = ['pretrain', 'train', 'test'] as const;
  const entitiesOf = Object.fromEntries(
    splits.map((s) => [s, new Set(world[s].flatMap((q) => q.metadata.chain.filter((id) => !/^(city|country)-/.test(id))))]),
  ) as Record<(typeof splits)[number], Set<string>>;
  for (const s of splits) {
    assert.ok(entitiesOf[s].size > 0, s);
    for (const id of entitiesOf[s]) {
      assert.equal((entity(world.kb, id) as { split?: string }).split, s, `${id} in ${s} questions`);
      for (const other of splits) if (other !== s) assert.ok(!entitiesOf[other].has(id), `${id} in ${s} and ${other}`);
    }
  }
  // Pretraining reads only pretrain-split and shared passages: no RL-train or test entity is named there.
  const heldOutNames = [...entitiesOf.train, ...entitiesOf.test].map((id) => entity(world.kb, id).name);
  for (const p of world.passages.filter((p) => p.split === 'pretrain' || p.split === 'shared')) {
    for (const n of heldOutNames) assert.ok(!p.text.includes(n) && p.title !== n, `${n} leaks into ${p.title}`);
  }
  assert.ok(world.test.length >= 100, `test set ${world.test.length}`);
  assert.ok(world.train.length >= world.test.length, `train set ${world.train.length}`);
  for (const type of ['single_hop', 'two_hop']) assert.ok(world.test.some((q) => q.metadata.type === type));
});

test('world: files are wiki-18 corpus and FlashRAG jsonl', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-'));
  try {
    const files = await writeWorld(world, dir);
    const corpus = readFileSync(files.corpus, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string; contents: string });
    assert.equal(corpus.length, world.passages.length);
    assert.equal(corpus[3].contents, `"${world.passages[3].title}"\n${world.passages[3].text}`);
    const test0 = JSON.parse(readFileSync(files.testJsonl, 'utf8').split('\n')[0]) as { question: string; golden_answers: string[] };
    assert.equal(test0.question, world.test[0].question);
    assert.deepEqual(test0.golden_answers, world.test[0].goldenAnswers);
    const { rows } = await readSearchR1Parquet(files.testParquet);
    assert.equal(rows.length, world.test.length);
    assert.deepEqual(rows[5].reward_model.ground_truth.target, world.test[5].goldenAnswers);
    assert.ok(rows[5].prompt[0].content.endsWith(`Question: ${world.test[5].question}\n`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
