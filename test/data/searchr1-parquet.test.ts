import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { register } from '../../src/cli/commands/data.ts';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { DataError } from '../../src/data/errors.ts';
import { prepareSearchR1Data } from '../../src/data/prepare.ts';
import { readQaFile } from '../../src/data/qa.ts';
import {
  buildSearchR1Rows,
  readSearchR1Parquet,
  writeSearchR1Parquet,
} from '../../src/data/searchr1-parquet.ts';
import { searchR1UserPrompt } from '../../src/protocol/prompt.ts';
import { sharedData, tempDir } from './helpers.ts';

const ex = (id: string, question: string, goldenAnswers: string[]) => ({
  id,
  question,
  goldenAnswers,
  dataSource: 'x',
});

test('rows follow the reference make_map_fn; index restarts per dataset, uid is unique', () => {
  const rows = buildSearchR1Rows(
    [
      { dataSource: 'nq', examples: [ex('a', ' who? ', ['A']), ex('b', 'what', ['B', 'b2'])] },
      { dataSource: 'hotpotqa', examples: [ex('c', 'where', ['C'])] },
    ],
    'train',
  );
  assert.deepEqual(rows[1], {
    id: 'b',
    question: 'what',
    golden_answers: ['B', 'b2'],
    data_source: 'nq',
    prompt: [{ role: 'user', content: searchR1UserPrompt('what') }],
    ability: 'fact-reasoning',
    reward_model: { style: 'rule', ground_truth: { target: ['B', 'b2'] } },
    extra_info: { split: 'train', index: 1, uid: 'nq:1' },
  });
  assert.deepEqual(
    rows.map((r) => [r.extra_info.index, r.extra_info.uid]),
    [
      [0, 'nq:0'],
      [1, 'nq:1'],
      [0, 'hotpotqa:0'],
    ],
  );
  assert.throws(
    () =>
      buildSearchR1Rows(
        [
          { dataSource: 'nq', examples: [] },
          { dataSource: 'nq', examples: [] },
        ],
        'train',
      ),
    /"nq" given twice/,
  );
});

test('written parquet has the nested reference schema and reads back identically (Unicode too)', async () => {
  const t = tempDir();
  try {
    const rows = buildSearchR1Rows(
      [{ dataSource: 'nq', examples: [ex('1', 'Zürich 日本 😀', ['Ä', '東京']), ex('2', 'q', ['a'])] }],
      'test',
    );
    const p = join(t.dir, 'rows.parquet');
    await writeSearchR1Parquet(p, rows);
    assert.deepEqual(readdirSync(t.dir), ['rows.parquet']); // no temp file left behind
    // Schema as an independent reader (hyparquet's metadata) sees it.
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(p));
    const tree = parquetSchema(meta);
    const shape = (n: typeof tree): unknown =>
      n.children.length
        ? Object.fromEntries(n.children.map((c) => [c.element.name, shape(c)]))
        : n.element.type;
    assert.deepEqual(shape(tree), {
      id: 'BYTE_ARRAY',
      question: 'BYTE_ARRAY',
      golden_answers: { list: { element: 'BYTE_ARRAY' } },
      data_source: 'BYTE_ARRAY',
      prompt: { list: { element: { content: 'BYTE_ARRAY', role: 'BYTE_ARRAY' } } },
      ability: 'BYTE_ARRAY',
      reward_model: { ground_truth: { target: { list: { element: 'BYTE_ARRAY' } } }, style: 'BYTE_ARRAY' },
      extra_info: { index: 'INT64', split: 'BYTE_ARRAY', uid: 'BYTE_ARRAY' },
    });
    const raw = await parquetReadObjects({ file: await asyncBufferFromFile(p) });
    assert.deepEqual(raw[0]!.reward_model, { ground_truth: { target: ['Ä', '東京'] }, style: 'rule' });
    assert.equal(raw[0]!.extra_info.index, 0n);
    const back = await readSearchR1Parquet(p);
    assert.deepEqual(back.rows, rows);
  } finally {
    t.cleanup();
  }
});

test('bad parquet rows name the row and the nested field', async () => {
  const t = tempDir();
  try {
    const rows = buildSearchR1Rows(
      [{ dataSource: 'nq', examples: [ex('1', 'q', ['a']), ex('2', 'q', ['b'])] }],
      'train',
    );
    rows[1]!.reward_model.ground_truth.target = [null as unknown as string];
    const p = join(t.dir, 'bad.parquet');
    await writeSearchR1Parquet(p, rows);
    await assert.rejects(readSearchR1Parquet(p), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(
        e.message,
        `${p}: row 1: field "reward_model.ground_truth.target[0]": expected a string, got null`,
      );
      return true;
    });
    const { rows: good, stats } = await readSearchR1Parquet(p, { skipBadLines: true, log: null });
    assert.equal(good.length, 1);
    assert.equal(stats.skipped, 1);
    await assert.rejects(
      readSearchR1Parquet(t.file('x.parquet', 'not parquet')),
      /x\.parquet: cannot read parquet/,
    );
  } finally {
    t.cleanup();
  }
});

test('prepare merges the real FlashRAG and NQ-open files into one parquet', async () => {
  const t = tempDir();
  try {
    const out = join(t.dir, 'train.parquet');
    const logs: string[] = [];
    const r = await prepareSearchR1Data({
      inputs: [sharedData('flashrag_nq_sample.jsonl'), sharedData('nq_open.dev.jsonl')],
      dataSources: ['nq', 'nq_open'],
      split: 'train',
      out,
      log: (m) => logs.push(m),
    });
    assert.deepEqual(r, { out, rows: 3627, perSource: { nq: 17, nq_open: 3610 }, skipped: 0 });
    assert.equal(logs.length, 3);
    const back = await readQaFile(out);
    assert.equal(back.length, 3627);
    assert.equal(new Set(back.map((e) => e.metadata?.uid)).size, 3627);
    assert.deepEqual(
      [back[17]!.dataSource, back[17]!.question, back[17]!.metadata?.index],
      ['nq_open', 'when was the last time anyone was on the moon', 0],
    );
    await assert.rejects(
      prepareSearchR1Data({ inputs: ['a', 'b'], dataSources: ['x'], split: 'train', out, log: () => {} }),
      /2 input file\(s\) but 1 data source/,
    );
  } finally {
    t.cleanup();
  }
});

test('CLI (in process): data prepare writes the file; a bad input line fails with file:line', async (t) => {
  const tmp = tempDir();
  try {
    const input = tmp.file(
      'hotpotqa.jsonl',
      '{"question":"q1","golden_answers":["a"]}\n{"question":"q2","golden_answers":[1]}\n',
    );
    const out = join(tmp.dir, 'out.parquet');
    const stdout: string[] = [];
    const stderr: string[] = [];
    t.mock.method(console, 'log', (m: string) => stdout.push(m));
    t.mock.method(process.stderr, 'write', (m: string) => (stderr.push(m), true));
    // Only the data command is registered: loading every command would cost seconds here.
    const run = (args: string[]) => {
      const program = new Command().exitOverride();
      register(program);
      return program.parseAsync(['node', 'search-r1', ...args]);
    };
    await assert.rejects(run(['data', 'prepare', '--input', input, '--out', out]), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(
        e.message,
        /hotpotqa\.jsonl:2: field "golden_answers\[0\]": expected a string, got number/,
      );
      return true;
    });
    assert.equal(existsSync(out), false);
    await run(['data', 'prepare', '--input', input, '--out', out, '--skip-bad-lines', '--split', 'test']);
    assert.deepEqual(JSON.parse(stdout.at(-1)!), { out, rows: 1, perSource: { hotpotqa: 1 }, skipped: 1 });
    assert.match(stderr.join(''), /skipped 1 bad record of 2 in .*hotpotqa\.jsonl/);
    const back = await readQaFile(out);
    assert.deepEqual(
      back.map((e) => [e.question, e.metadata?.split, e.metadata?.uid]),
      [['q1', 'test', 'hotpotqa:0']],
    );
  } finally {
    tmp.cleanup();
  }
});
