// The eval runner: scoring, the markdown table, resumability (skip done, survive a partial last
// line), refusing to mix runs, and the HTML report with its trajectory viewer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEval } from '../../src/eval/run.ts';
import { dropPartialTail, forEachLine } from '../../src/eval/store.ts';
import { METHODS } from '../../src/eval/methods/index.ts';
import { buildScoreTable } from '../../src/eval/metrics.ts';
import { DEFAULT_METHOD_OPTIONS } from '../../src/eval/types.ts';
import type { QaExample } from '../../src/core/qa.ts';
import { KeywordRetriever, ScriptedSampler } from './fakes.ts';

const PASSAGES = [
  { id: 'p1', title: '"Alpha"', text: 'Alpha was born in Oslo.' },
  { id: 'p2', title: '"Beta"', text: 'Beta was born in Rome.' },
];
const DS = (name: string, n: number): QaExample[] =>
  Array.from({ length: n }, (_, i) => ({
    id: `${name}-${i}`,
    question: `where was ${i % 2 ? 'beta' : 'alpha'} born`,
    goldenAnswers: [i % 2 ? 'Rome' : 'Oslo'],
    dataSource: name,
  }));

// Direct knows only Alpha (answers Oslo always); RAG reads the first passage line.
const script = (p: string) => {
  const m = /Doc 1\(Title: "\w+"\) \w+ was born in (\w+)\./.exec(p);
  return m ? m[1] : 'Oslo';
};

test('runEval scores every question, writes table/trajectories/report, and resumes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-run-'));
  try {
    const datasets = [
      { name: 'a', examples: DS('a', 5) },
      { name: 'b', examples: DS('b', 4) },
    ];
    const common = {
      datasets,
      methods: [METHODS.direct, METHODS.rag],
      retriever: new KeywordRetriever(PASSAGES),
      opts: { ...DEFAULT_METHOD_OPTIONS, topk: 1 },
      outDir: dir,
      batchSize: 2,
      runInfo: { model: 'scripted' },
      log: () => {},
    };
    const s1 = new ScriptedSampler(script);
    const r1 = await runEval({ ...common, sampler: s1 });
    assert.equal(r1.newlyScored, 18, 'no question dropped (odd dataset sizes, batch 2)');
    // direct: Oslo right on even ids → a: 3/5, b: 2/4; rag: all right.
    assert.equal(r1.table.cells.direct.a.em, 3 / 5);
    assert.equal(r1.table.cells.direct.b.em, 2 / 4);
    assert.equal(r1.table.average.direct.em, (3 / 5 + 2 / 4) / 2);
    assert.equal(r1.table.cells.rag.a.em, 1);
    assert.equal(r1.table.cells.rag.a.searches, 1);
    assert.match(r1.markdown, /\| Method \| a \(n=5\) \| b \(n=4\) \| Avg\. \|/);
    assert.match(r1.markdown, /\| direct \| 0\.600 \| 0\.500 \| 0\.550 \|/);
    assert.match(r1.markdown, /\| rag \| 1\.000 \| 1\.000 \| 1\.000 \|/);
    // s.e. of 3/5: sqrt(0.6·0.4/5) = 0.219; of 2/4: 0.25; of the average: sqrt(0.219² + 0.25²)/2 = 0.166.
    assert.match(r1.markdown, /\| direct \| 0\.600 ± 0\.219 \| 0\.500 ± 0\.250 \| 0\.550 ± 0\.166 \|/);
    assert.equal(readFileSync(join(dir, 'table.md'), 'utf8'), r1.markdown);
    const scores = JSON.parse(readFileSync(r1.files.scores, 'utf8')) as {
      model: string;
      cells: Record<string, Record<string, { em: number; n: number }>>;
    };
    assert.equal(scores.model, 'scripted');
    assert.deepEqual(scores.cells.direct.a, r1.table.cells.direct.a);
    const lines = readFileSync(r1.files.results, 'utf8').trim().split('\n');
    assert.equal(lines.length, 18);
    const traj = readFileSync(r1.files.trajectories, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(traj.length, 18);
    assert.ok(traj.every((t) => typeof t.prompt === 'string' && Array.isArray(t.segments)));

    const html = readFileSync(r1.files.report, 'utf8');
    assert.match(
      html,
      /<select id="f-dataset"><option value="">all<\/option><option value="a">a<\/option><option value="b">b<\/option>/,
    );
    assert.match(html, /id="f-correct"/);
    assert.match(html, /id="f-searches"/);
    assert.ok(!/<script[^>]+src=/.test(html) && !/<link[^>]+href="http/.test(html), 'no external assets');
    const data = JSON.parse(/const TRAJS = (\[.*\]);\n/.exec(html)![1]) as {
      m: string;
      d: string;
      em: number;
      s: number;
    }[];
    assert.equal(data.length, 18);
    assert.equal(data.filter((t) => t.m === 'direct' && t.em === 0).length, 4);

    // A rerun does nothing new.
    const s2 = new ScriptedSampler(script);
    const r2 = await runEval({ ...common, sampler: s2 });
    assert.equal(r2.newlyScored, 0);
    assert.equal(s2.calls.length, 0);
    assert.deepEqual(r2.table, r1.table);

    // A crash mid-write: a partial last line is dropped and that question redone.
    const text = readFileSync(r1.files.results, 'utf8');
    const cut = text.slice(0, text.length - 1 - Math.floor(lines[17].length / 2));
    writeFileSync(r1.files.results, cut);
    const s3 = new ScriptedSampler(script);
    const r3 = await runEval({ ...common, sampler: s3 });
    assert.equal(r3.newlyScored, 1);
    assert.deepEqual(r3.table, r1.table);
    assert.equal(readFileSync(r1.files.results, 'utf8').trim().split('\n').length, 18);

    // Adding a method resumes the same directory; the table grows.
    const r4 = await runEval({
      ...common,
      methods: [METHODS.direct, METHODS.rag, METHODS.cot],
      sampler: new ScriptedSampler(() => 'So the answer is: Rome.'),
    });
    assert.equal(r4.newlyScored, 9);
    assert.deepEqual(r4.table.methods, ['direct', 'rag', 'cot']);

    // Fewer questions than recorded: the table covers exactly the questions asked for.
    const r4b = await runEval({
      ...common,
      datasets: [{ name: 'a', examples: DS('a', 2) }],
      sampler: new ScriptedSampler(script),
    });
    assert.equal(r4b.newlyScored, 0);
    assert.equal(r4b.table.cells.direct.a.n, 2);
    assert.equal(r4b.table.cells.direct.a.em, 1 / 2);
    assert.deepEqual(r4b.table.datasets, ['a']);

    // Another model in the same directory is refused; --fresh starts over.
    await assert.rejects(
      runEval({ ...common, runInfo: { model: 'other' }, sampler: new ScriptedSampler(script) }),
      /different run \(model differ\)/,
    );
    const r5 = await runEval({
      ...common,
      runInfo: { model: 'other' },
      fresh: true,
      sampler: new ScriptedSampler(script),
    });
    assert.equal(r5.newlyScored, 18);

    // A corrupt line in the middle names the file and line.
    const good = readFileSync(r1.files.results, 'utf8').split('\n');
    good[3] = '{"broken": ';
    writeFileSync(r1.files.results, good.join('\n'));
    await assert.rejects(
      runEval({ ...common, runInfo: { model: 'other' }, sampler: new ScriptedSampler(script) }),
      (e: Error) => {
        assert.ok(e.message.startsWith(`${r1.files.results}:4: not valid JSON`), e.message);
        return true;
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('runEval refuses duplicate ids and retrieving methods without a retriever', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-run-'));
  try {
    const base = {
      sampler: new ScriptedSampler(() => 'x'),
      retriever: null,
      opts: DEFAULT_METHOD_OPTIONS,
      outDir: dir,
      log: () => {},
    };
    const dup = [...DS('a', 2), DS('a', 1)[0]];
    await assert.rejects(
      runEval({ ...base, datasets: [{ name: 'a', examples: dup }], methods: [METHODS.direct] }),
      /duplicate question id "a-0"/,
    );
    await assert.rejects(
      runEval({ ...base, datasets: [{ name: 'a', examples: DS('a', 1) }], methods: [METHODS.ircot] }),
      /method ircot needs a retriever/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('score table averages datasets unweighted', () => {
  const rec = (method: string, dataset: string, em: number) => ({
    key: `${method}${dataset}${Math.random()}`,
    method: method as 'direct',
    dataset,
    id: 'x',
    question: '',
    golds: [],
    prediction: '',
    em,
    subem: em,
    f1: em,
    numSearches: 0,
    numGenerations: 1,
    finish: 'eos',
  });
  const t = buildScoreTable(
    [rec('direct', 'big', 1), rec('direct', 'big', 1), rec('direct', 'big', 1), rec('direct', 'small', 0)],
    ['direct'],
    ['small', 'big'],
  );
  assert.deepEqual(t.datasets, ['small', 'big']);
  assert.equal(t.average.direct.em, 0.5);
  assert.equal(t.average.direct.n, 4);
});

test('append logs: lines across read chunks, partial tails, sampled report', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eval-log-'));
  try {
    // > 4 MiB so lines straddle the reader's chunk boundary; multi-byte characters included.
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ i, s: 'é€'.repeat(i % 997) + 'x'.repeat((i * 7919) % 1500) }),
    );
    const f = join(dir, 'big.jsonl');
    writeFileSync(f, lines.join('\n') + '\n{"partial": tr');
    assert.ok(statSync(f).size > 4 * 1024 * 1024);
    assert.equal(dropPartialTail(f), Buffer.byteLength('{"partial": tr'));
    const seen: string[] = [];
    forEachLine(f, (l, n) => {
      assert.equal(n, seen.length + 1);
      seen.push(l);
    });
    assert.deepEqual(seen, lines);
    assert.equal(dropPartialTail(f), 0);
    const g = join(dir, 'none.jsonl');
    writeFileSync(g, 'no newline at all');
    assert.equal(dropPartialTail(g), 17);
    assert.equal(statSync(g).size, 0);

    // The report embeds an even share per (method, dataset) when asked for fewer than all.
    const r = await runEval({
      datasets: [
        { name: 'a', examples: DS('a', 5) },
        { name: 'b', examples: DS('b', 4) },
      ],
      methods: [METHODS.direct, METHODS.cot],
      sampler: new ScriptedSampler(() => 'Oslo'),
      retriever: null,
      opts: DEFAULT_METHOD_OPTIONS,
      outDir: join(dir, 'run'),
      log: () => {},
      maxReportTrajectories: 4,
    });
    const html = readFileSync(r.files.report, 'utf8');
    const data = JSON.parse(/const TRAJS = (\[.*\]);\n/.exec(html)![1]) as { m: string; d: string }[];
    assert.deepEqual(data.map((t) => `${t.m}/${t.d}`).sort(), ['cot/a', 'cot/b', 'direct/a', 'direct/b']);
    assert.match(html, /The viewer holds 4 of the 18 trajectories/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
