import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { DataError } from '../../src/data/errors.ts';
import { inferDataSource, readQaFile, readQaFileWithStats } from '../../src/data/qa.ts';
import { searchR1UserPrompt } from '../../src/protocol/prompt.ts';
import { sharedData, tempDir } from './helpers.ts';

test('real NQ-open dev (question/answer): all 3,610 rows map to QaExample', async () => {
  const file = sharedData('nq_open.dev.jsonl');
  const { examples, stats } = await readQaFileWithStats(file);
  assert.equal(examples.length, 3610);
  assert.equal(stats.skipped, 0);
  assert.deepEqual(examples[0], {
    id: '0',
    question: 'when was the last time anyone was on the moon',
    goldenAnswers: ['14 December 1972 UTC', 'December 1972'],
    dataSource: 'nq_open',
  });
  // Independent check against the raw lines.
  const raw = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { question: string; answer: string[] });
  examples.forEach((ex, i) => {
    assert.equal(ex.question, raw[i]!.question);
    assert.deepEqual(ex.goldenAnswers, raw[i]!.answer);
  });
});

test('real FlashRAG sample (id/question/golden_answers)', async () => {
  const examples = await readQaFile(sharedData('flashrag_nq_sample.jsonl'), { dataSource: 'nq' });
  // 17 records (test_0..test_16); the data README says 16 because the last line has no newline.
  assert.equal(examples.length, 17);
  assert.equal(examples[16]!.id, 'test_16');
  assert.deepEqual(examples[0], {
    id: 'test_0',
    question: 'who got the first nobel prize in physics',
    goldenAnswers: ['Wilhelm Conrad Röntgen'],
    dataSource: 'nq',
  });
});

test('inferDataSource: file stem, or the folder for bare split names', () => {
  assert.equal(inferDataSource('/x/nq_open.dev.jsonl'), 'nq_open');
  assert.equal(inferDataSource('/data/hotpotqa/dev.jsonl'), 'hotpotqa');
  assert.equal(inferDataSource('/data/nq/test.jsonl.gz'), 'nq');
});

test('non-string answers fail with file, line and field; skipBadLines counts', async () => {
  const t = tempDir();
  try {
    const p = t.file(
      'qa.jsonl',
      [
        '{"question":"q1","golden_answers":["a"]}',
        '{"question":"q2","golden_answers":["a", 3]}',
        '{"question":"q3","answer":"single"}',
        '{"question":"q4"}',
        '{"question":7,"answer":["x"]}',
        '{"question":"q6","golden_answers":[]}',
      ].join('\n'),
    );
    await assert.rejects(readQaFile(p), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.message, `${p}:2: field "golden_answers[1]": expected a string, got number`);
      return true;
    });
    const { examples, stats } = await readQaFileWithStats(p, { skipBadLines: true, log: null });
    assert.deepEqual(
      examples.map((e) => [e.question, e.goldenAnswers]),
      [
        ['q1', ['a']],
        ['q3', ['single']],
      ],
    );
    assert.equal(stats.skipped, 4);
    assert.deepEqual(
      stats.firstErrors.map((e) => `${e.line}:${e.field}`),
      ['2:golden_answers[1]', '4:golden_answers', '5:question', '6:golden_answers'],
    );
  } finally {
    t.cleanup();
  }
});

test('reference-schema parquet (nested prompt list, reward_model struct) reads as QaExample', async () => {
  const t = tempDir();
  try {
    // Exactly the columns the reference's data-prep writes (no id/question, no uid), made here with
    // hyparquet-writer and an explicit pyarrow-style schema.
    const qs = ['who wrote hamlet', 'capital of france?'];
    const buf = parquetWriteBuffer({
      columnData: [
        { name: 'data_source', data: ['nq', 'hotpotqa'] },
        { name: 'prompt', data: qs.map((q) => [{ content: searchR1UserPrompt(q), role: 'user' }]) },
        { name: 'ability', data: ['fact-reasoning', 'fact-reasoning'] },
        {
          name: 'reward_model',
          data: [
            { ground_truth: { target: ['Shakespeare', 'William Shakespeare'] }, style: 'rule' },
            { ground_truth: { target: ['Paris'] }, style: 'rule' },
          ],
        },
        {
          name: 'extra_info',
          data: [
            { index: 0n, split: 'train' },
            { index: 0n, split: 'train' },
          ],
        },
      ],
      schema: [
        { name: 'schema', num_children: 5 },
        { name: 'data_source', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'prompt', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'content', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'role', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'ability', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'reward_model', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'ground_truth', repetition_type: 'OPTIONAL', num_children: 1 },
        { name: 'target', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'style', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
        { name: 'extra_info', repetition_type: 'OPTIONAL', num_children: 2 },
        { name: 'index', type: 'INT64', repetition_type: 'OPTIONAL' },
        { name: 'split', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
    });
    const p = t.file('train.parquet', Buffer.from(buf));
    const examples = await readQaFile(p);
    assert.equal(examples.length, 2);
    assert.deepEqual(
      examples.map((e) => [e.id, e.question, e.goldenAnswers, e.dataSource]),
      [
        ['0', 'who wrote hamlet?', ['Shakespeare', 'William Shakespeare'], 'nq'],
        ['0', 'capital of france?', ['Paris'], 'hotpotqa'],
      ],
    );
    // Group ids are unique although the reference's index restarts at 0 per dataset.
    assert.deepEqual(
      examples.map((e) => e.metadata?.uid),
      ['nq:0', 'hotpotqa:0'],
    );
    assert.deepEqual(examples[0]!.metadata?.prompt, [
      { role: 'user', content: searchR1UserPrompt('who wrote hamlet') },
    ]);
  } finally {
    t.cleanup();
  }
});
