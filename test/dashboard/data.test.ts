// The dashboard's file side without a browser: incremental reads (torn lines, rewrites, bad lines),
// run discovery (nesting, symlinks out of a root), eval and demo tables against hand-computed
// numbers, trajectory filters and pages, and the static report's snapshot of a demo folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readJsonTail, START } from '../../src/dashboard/tail.ts';
import { discoverRuns, fileInRun } from '../../src/dashboard/runs.ts';
import { RunData, segmentsFromText } from '../../src/dashboard/data.ts';
import { buildSnapshot } from '../../src/dashboard/snapshot.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'sr1-dashdata-'));
const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r) + '\n').join('');

test('readJsonTail: only complete lines, from the offset; a torn line waits; a rewrite resets; bad lines name file:line', () => {
  const dir = tmp();
  const f = join(dir, 'metrics.jsonl');
  writeFileSync(f, '{"step":1}\n{"step":2}\n{"step":3,"x"');
  const a = readJsonTail<{ step: number }>(f, START);
  assert.deepEqual(
    a.records.map((r) => r.value.step),
    [1, 2],
  );
  assert.deepEqual(a.cursor, { offset: 22, line: 2 });
  assert.equal(a.pending, '{"step":3,"x"'.length);
  appendFileSync(f, ':1}\nnot json\n');
  const b = readJsonTail<{ step: number }>(f, a.cursor);
  assert.deepEqual(
    b.records.map((r) => [r.line, r.value.step]),
    [[3, 3]],
  );
  assert.deepEqual(
    b.errors.map((e) => [e.file, e.line]),
    [[f, 4]],
  );
  assert.equal(b.pending, 0);
  // nothing new: nothing read
  assert.deepEqual(readJsonTail(f, b.cursor).records, []);
  // a resumed run rewrote the file shorter: start over
  writeFileSync(f, '{"step":1}\n');
  const c = readJsonTail(f, b.cursor);
  assert.equal(c.reset, true);
  // a small byte budget: several reads, the same lines
  writeFileSync(f, jsonl([1, 2, 3, 4, 5].map((step) => ({ step, pad: 'x'.repeat(20) }))));
  const seen: number[] = [];
  let cur = START;
  for (let i = 0; i < 20; i++) {
    const r = readJsonTail<{ step: number }>(f, cur, 40);
    seen.push(...r.records.map((x) => x.value.step));
    cur = r.cursor;
    if (!r.more) break;
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  // a missing file is empty, not an error
  assert.deepEqual(readJsonTail(join(dir, 'none.jsonl'), START).records, []);
});

test('segmentsFromText: information blocks are the injected parts, nothing lost', () => {
  const text = '<search> a </search>\n\n<information>Doc 1 x</information>\n\n<answer> b </answer>';
  const segs = segmentsFromText(text);
  assert.equal(segs.map((s) => s.text).join(''), text);
  assert.deepEqual(
    segs.filter((s) => s.injected).map((s) => s.text),
    ['<information>Doc 1 x</information>'],
  );
});

function evalFolder(dir: string) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'run.json'), '{"model":"m"}\n');
  const rec = (method: string, dataset: string, id: string, em: number, s: number) => ({
    key: `${method}\u241f${dataset}\u241f${id}`,
    method,
    dataset,
    id,
    question: `q ${id}`,
    golds: ['g'],
    prediction: em ? 'g' : 'h',
    em,
    subem: em,
    f1: em,
    numSearches: s,
    numGenerations: 1,
    finish: 'answer',
    prompt: 'P',
    segments: [
      { text: '<search> q </search>', injected: false },
      { text: '<information>Doc</information>', injected: true },
    ],
  });
  const rows = [
    rec('direct', 'nq', '1', 1, 0),
    rec('direct', 'nq', '2', 0, 0),
    rec('direct', 'hotpotqa', '1', 0, 0),
    rec('search-r1', 'nq', '1', 1, 1),
    rec('search-r1', 'nq', '2', 1, 2),
    rec('search-r1', 'hotpotqa', '1', 0, 2),
  ];
  writeFileSync(join(dir, 'trajectories.jsonl'), jsonl(rows));
  writeFileSync(join(dir, 'results.jsonl'), jsonl(rows.map(({ prompt: _p, segments: _s, ...r }) => r)));
}

test('eval run: EM per method × dataset from results.jsonl, trajectories filtered and paged', () => {
  const root = tmp();
  evalFolder(join(root, 'ev'));
  const [run] = discoverRuns([root]);
  assert.equal(run.kind, 'eval');
  const data = new RunData();
  const { tables } = data.tables(run);
  const em = tables.find((t) => t.title === 'EM')!;
  assert.deepEqual(em.columns, ['Method', 'nq (n=2)', 'hotpotqa (n=1)', 'Avg.']);
  assert.deepEqual(em.rows, [
    ['direct', '0.500', '0.000', '0.250'],
    ['search-r1', '1.000', '0.000', '0.500'],
  ]);
  const p = data.trajectories(run, { correct: 1, pageSize: 2 });
  assert.equal(p.total, 3);
  assert.deepEqual(
    p.items.map((t) => t.group),
    ['direct · nq', 'search-r1 · nq'],
  );
  assert.ok(p.items[1].html.includes('<span class="seg injected">'));
  const p2 = data.trajectories(run, { correct: 1, pageSize: 2, page: 1 });
  assert.deepEqual(
    p2.items.map((t) => [t.group, t.id, t.searches]),
    [['search-r1 · nq', '2', 2]],
  );
  assert.deepEqual(
    data.trajectories(run, { searches: 2 }).items.map((t) => t.id),
    ['2', '1'],
  );
  // results appended later are folded in (from the last offset)
  appendFileSync(
    join(run.dir, 'results.jsonl'),
    jsonl([
      {
        key: 'direct\u241fhotpotqa\u241f2',
        method: 'direct',
        dataset: 'hotpotqa',
        id: '2',
        em: 1,
        subem: 1,
        f1: 1,
        numSearches: 0,
      },
    ]),
  );
  const em2 = data.tables(run).tables.find((t) => t.title === 'EM')!;
  assert.deepEqual(em2.rows[0], ['direct', '0.500', '0.500', '0.500']);
});

test('demo folder: its training runs nest under it; EM by relation; snapshot; symlinks out of a root are not runs', () => {
  const root = tmp();
  const demo = join(root, 'demo');
  mkdirSync(join(demo, 'train', 'grpo', 'val'), { recursive: true });
  writeFileSync(join(demo, 'summary.json'), '{"seed":0}\n');
  const row = (method: string, relation: string, em: number) => ({
    method,
    id: relation + em,
    type: 'single_hop',
    relation,
    question: 'q',
    golds: ['g'],
    prediction: 'p',
    em,
    numSearches: 1,
    prompt: 'P',
    segments: [{ text: '<answer> p </answer>', injected: false }],
  });
  writeFileSync(
    join(demo, 'eval.jsonl'),
    jsonl([
      row('direct', 'born_in', 0),
      row('direct', 'founded_by', 1),
      row('search-r1', 'born_in', 1),
      row('search-r1', 'born_in', 1),
    ]),
  );
  writeFileSync(join(demo, 'train', 'grpo', 'metrics.jsonl'), jsonl([{ step: 1, 'critic/score/mean': 0.5 }]));
  writeFileSync(join(demo, 'train', 'grpo', 'config.json'), '{}');
  const outside = tmp();
  writeFileSync(join(outside, 'metrics.jsonl'), jsonl([{ step: 1 }]));
  symlinkSync(outside, join(root, 'escape'));
  const runs = discoverRuns([root]);
  assert.deepEqual(
    runs.map((r) => [r.id, r.kind, r.parent ?? null]),
    [
      ['r0/demo', 'demo', null],
      ['r0/demo/train/grpo', 'train', 'r0/demo'],
    ],
  );
  assert.equal(fileInRun(runs[0], '../escape/metrics.jsonl'), null);
  assert.equal(fileInRun(runs[0], '/etc/passwd'), null);
  const rel = new RunData().tables(runs[0]).tables.find((t) => t.title === 'EM by relation')!;
  assert.deepEqual(rel.columns, ['method', 'born_in', 'founded_by', 'overall', 'searches / question']);
  assert.deepEqual(rel.rows, [
    ['direct', 0, 1, 0.5, 1],
    ['search-r1', 1, null, 1, 1],
  ]);
  const snap = buildSnapshot(demo);
  assert.deepEqual(
    snap.runs.map((r) => r.id),
    ['r0', 'r0/train/grpo'],
  );
  assert.deepEqual(snap.metrics['r0/train/grpo'], [{ step: 1, 'critic/score/mean': 0.5 }]);
  assert.equal(snap.trajectories.r0.length, 4);
  assert.throws(() => buildSnapshot(outside + '/nothing'), /not a directory/);
});
