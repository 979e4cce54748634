// The Search-R1 family's data as published: every accepted variant as a small fixture, errors
// that list all problems of a row with the expected shape, the skip limit, mixed-source files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../../src/data/errors.ts';
import { readQaFile, toQaExample } from '../../src/data/qa.ts';
import { readCorpus } from '../../src/data/corpus.ts';
import { readJsonlAll } from '../../src/data/jsonl.ts';
import { prepareSearchR1Data } from '../../src/data/prepare.ts';
import {
  buildSearchR1Rows,
  readSearchR1Parquet,
  searchR1RowToQa,
  toSearchR1Row,
  writeSearchR1Parquet,
} from '../../src/data/searchr1-parquet.ts';
import { searchR1UserPrompt } from '../../src/protocol/prompt.ts';
import { buildProgram } from '../../src/cli/main.ts';
import { tempDir } from './helpers.ts';

const loc = { file: 'x.parquet', row: 4 };
const row = (over: Record<string, unknown>) => ({
  data_source: 'nq',
  prompt: [{ role: 'user', content: searchR1UserPrompt('who wrote hamlet?') }],
  reward_model: { style: 'rule', ground_truth: { target: ['Shakespeare'] } },
  extra_info: { split: 'test', index: 3 },
  ...over,
});

test('Search-R1 rows: ground truth as {target: list}, {target: "a<|answer_split|>b"}, a list, a string', () => {
  const gt = (g: unknown, seps?: string[]) =>
    toSearchR1Row(row({ reward_model: { style: 'rule', ground_truth: g } }), loc, seps).reward_model
      .ground_truth.target;
  assert.deepEqual(gt({ target: ['a', 'b'] }), ['a', 'b']);
  assert.deepEqual(gt({ target: 'William Shakespeare<|answer_split|>Shakespeare' }), [
    'William Shakespeare',
    'Shakespeare',
  ]);
  assert.deepEqual(gt(['a', 'b']), ['a', 'b']);
  assert.deepEqual(gt('a<|answer_split|>b'), ['a', 'b']);
  assert.deepEqual(gt('one answer, with a comma'), ['one answer, with a comma']);
  assert.deepEqual(gt('a || b', ['||']), ['a', 'b']); // configurable separators
  assert.deepEqual(gt({ target: ['x'] }), ['x']);
});

test('Search-R1 rows: ids and extra_info.index as ints, bigints or strings', () => {
  assert.equal(toSearchR1Row(row({ id: 17 }), loc).id, '17');
  assert.equal(toSearchR1Row(row({ id: 17n }), loc).id, '17');
  assert.equal(toSearchR1Row(row({ extra_info: { split: 'test', index: 9n } }), loc).extra_info.index, 9);
  const s = toSearchR1Row(row({ extra_info: { split: 'test', index: '12' } }), loc);
  assert.deepEqual([s.extra_info.index, s.extra_info.uid], [12, 'nq:12']);
  const q = toSearchR1Row(row({ extra_info: { index: 'q-7a' } }), loc);
  assert.deepEqual([q.extra_info.index, q.extra_info.uid], [4, 'nq:q-7a']); // row number, id kept in uid
});

test('Search-R1 rows: prompt as the chat list, the whole prompt string, or the bare question', () => {
  const full = searchR1UserPrompt('who wrote hamlet?');
  const a = toSearchR1Row(row({}), loc);
  const b = toSearchR1Row(row({ prompt: full }), loc);
  const c = toSearchR1Row(row({ prompt: 'who wrote hamlet?' }), loc);
  for (const r of [a, b, c]) {
    assert.deepEqual(r.prompt, [{ role: 'user', content: full }]);
    assert.equal(searchR1RowToQa(r, loc).question, 'who wrote hamlet?');
  }
  const chat = toSearchR1Row(
    row({
      prompt: [
        { role: 'system', content: 'S' },
        { role: 'user', content: full },
      ],
    }),
    loc,
  );
  assert.equal(chat.prompt.length, 2);
});

test('a bad row reports ALL its problems at once, with row, field path and expected shape', () => {
  const bad = {
    data_source: 3,
    prompt: [{ role: 'bot', content: 1 }],
    reward_model: { ground_truth: 5 },
    extra_info: { index: 1.5 },
  };
  try {
    toSearchR1Row(bad, loc);
    assert.fail('accepted a bad row');
  } catch (e) {
    assert.ok(e instanceof DataError);
    const m = e.message;
    assert.match(m, /^x\.parquet: row 4: 5 problems:/);
    assert.match(m, /field "data_source": expected a string \(the dataset name\), got number/);
    assert.match(m, /field "prompt\[0\]\.role": expected user, system or assistant, got "bot"/);
    assert.match(m, /field "prompt\[0\]\.content": expected a string, got number/);
    assert.match(
      m,
      /field "reward_model\.ground_truth": expected \{target: \[answers\]\}, .*a list of strings, or one string, got number/,
    );
    assert.match(m, /field "extra_info\.index": expected an integer or a string, got number/);
    assert.equal(e.issues.length, 5);
  }
  // QA records too: both problems in one error, with the line.
  assert.throws(
    () => toQaExample({ question: 7, golden_answers: ['a', 2] }, { file: 'q.jsonl', line: 9 }, 0, 'nq'),
    (e: unknown) =>
      e instanceof DataError &&
      /^q\.jsonl:9: 2 problems:/.test(e.message) &&
      e.message.includes('field "question": expected a non-empty string, got number') &&
      e.message.includes('field "golden_answers[1]": expected a string, got number'),
  );
  assert.throws(
    () => toQaExample({ question: 'q?' }, { file: 'q.jsonl', line: 2 }, 0, 'nq'),
    /q\.jsonl:2: field "golden_answers": missing \(a QA record needs "golden_answers" or "answer": a list of strings, or one string/,
  );
});

test('QA files: FlashRAG with separated answers, HotpotQA / 2Wiki originals, MuSiQue, int ids', async () => {
  const t = tempDir();
  try {
    const flash = t.file(
      'flash.jsonl',
      [
        '{"id":1,"question":"q1?","golden_answers":"a<|answer_split|>b"}',
        '{"id":"x","question":"q2?","golden_answers":["c"]}',
        '{"question":"q3?","golden_answers":"only one"}',
      ].join('\n'),
    );
    const ex = await readQaFile(flash);
    assert.deepEqual(
      ex.map((e) => [e.id, e.goldenAnswers]),
      [
        ['1', ['a', 'b']],
        ['x', ['c']],
        ['2', ['only one']],
      ],
    );
    const piped = await readQaFile(t.file('p.jsonl', '{"question":"q?","golden_answers":"a|b"}\n'), {
      answerSeparators: ['|'],
    });
    assert.deepEqual(piped[0]!.goldenAnswers, ['a', 'b']);
    // HotpotQA's and 2WikiMultihopQA's own JSON: arrays of {_id, question, answer, type, …}.
    const hotpot = t.file(
      'hotpot_dev_distractor_v1.json',
      JSON.stringify([
        {
          _id: '5a8b57f25542995d1e6f1371',
          question: 'Were Scott Derrickson and Ed Wood of the same nationality?',
          answer: 'yes',
          type: 'comparison',
          level: 'hard',
          supporting_facts: [],
          context: [],
        },
      ]),
    );
    const h = await readQaFile(hotpot, { dataSource: 'hotpotqa' });
    assert.deepEqual(
      [h[0]!.id, h[0]!.goldenAnswers, h[0]!.metadata],
      ['5a8b57f25542995d1e6f1371', ['yes'], { type: 'comparison', level: 'hard' }],
    );
    const wiki = t.file(
      '2wiki_dev.json',
      JSON.stringify([
        {
          _id: 'abc',
          type: 'compositional',
          question: 'Who is the mother of X?',
          answer: 'Y',
          evidences: [],
        },
      ]),
    );
    assert.deepEqual((await readQaFile(wiki))[0]!.goldenAnswers, ['Y']);
    // MuSiQue: answer plus answer_aliases.
    const musique = t.file(
      'musique_ans_v1.0_dev.jsonl',
      '{"id":"2hop__1","question":"q?","answer":"Paris","answer_aliases":["City of Light"],"answerable":true,"paragraphs":[]}\n',
    );
    assert.deepEqual((await readQaFile(musique))[0]!.goldenAnswers, ['Paris', 'City of Light']);
  } finally {
    t.cleanup();
  }
});

test('skip limit: a file where every row is bad fails even with skipBadLines; --max-skipped sets the limit', async () => {
  const t = tempDir();
  try {
    const allBad = t.file('bad.jsonl', '{"question":1}\n{"q":2}\n');
    await assert.rejects(
      readQaFile(allBad, { skipBadLines: true, log: null }),
      /skipped 2 bad of 2 records \(every record was bad\); refusing/,
    );
    const some = t.file(
      'some.jsonl',
      '{"question":"a?","answer":["x"]}\n{"question":1}\n{"question":"b?","answer":["y"]}\n',
    );
    assert.equal((await readQaFile(some, { skipBadLines: true, log: null })).length, 2);
    await assert.rejects(
      readQaFile(some, { skipBadLines: true, log: null, maxSkipped: { count: 0 } }),
      /more than --max-skipped 0/,
    );
    await assert.rejects(
      readQaFile(some, { skipBadLines: true, log: null, maxSkipped: { fraction: 0.2 } }),
      /more than --max-skipped 20%/,
    );
    assert.equal(
      (await readQaFile(some, { skipBadLines: true, log: null, maxSkipped: { fraction: 0.5 } })).length,
      2,
    );
    // Plain JSONL reading (corpora) obeys the same rule.
    await assert.rejects(
      readJsonlAll(t.file('c.jsonl', 'nope\n'), { skipBadLines: true, log: null }),
      /every record was bad/,
    );
    // And the CLI exits non-zero (main turns the throw into exit code 1).
    await assert.rejects(
      buildProgram().parseAsync(
        [
          'node',
          's',
          'data',
          'prepare',
          '--input',
          allBad,
          '--skip-bad-lines',
          '--out',
          `${t.dir}/o.parquet`,
        ],
        { from: 'node' },
      ),
      /every record was bad/,
    );
  } finally {
    t.cleanup();
  }
});

test('mixed-source files keep their data_source through data prepare, unless renamed', async () => {
  const t = tempDir();
  try {
    const q = (question: string, dataSource: string) => ({
      id: question,
      question,
      goldenAnswers: ['a'],
      dataSource,
    });
    const mixed = `${t.dir}/test.parquet`;
    await writeSearchR1Parquet(
      mixed,
      buildSearchR1Rows(
        [
          { dataSource: 'nq', examples: [q('n1?', 'nq'), q('n2?', 'nq')] },
          { dataSource: 'hotpotqa', examples: [q('h1?', 'hotpotqa')] },
        ],
        'test',
      ),
    );
    const out = `${t.dir}/out.parquet`;
    const r = await prepareSearchR1Data({ inputs: [mixed], split: 'test', out, log: () => {} });
    assert.deepEqual(r.perSource, { nq: 2, hotpotqa: 1 });
    const { rows } = await readSearchR1Parquet(out);
    assert.deepEqual(
      rows.map((x) => [x.data_source, x.extra_info.uid]),
      [
        ['nq', 'nq:0'],
        ['nq', 'nq:1'],
        ['hotpotqa', 'hotpotqa:0'],
      ],
    );
    const renamed = await prepareSearchR1Data({
      inputs: [mixed],
      dataSources: ['mix'],
      split: 'test',
      out,
      log: () => {},
    });
    assert.deepEqual(renamed.perSource, { mix: 3 });
    // JSONL rows with their own data_source keep it; rows without take the file name.
    const jl = t.file(
      'merged.jsonl',
      '{"question":"a?","golden_answers":["x"],"data_source":"popqa"}\n{"question":"b?","golden_answers":["y"]}\n',
    );
    const r2 = await prepareSearchR1Data({ inputs: [jl], split: 'test', out, log: () => {} });
    assert.deepEqual(r2.perSource, { popqa: 1, merged: 1 });
  } finally {
    t.cleanup();
  }
});

test('corpora: wiki-18 contents, title+text, and KILT pages', async () => {
  const t = tempDir();
  try {
    const f = t.file(
      'kilt.jsonl',
      [
        '{"id":"1","contents":"\\"Hamlet\\"\\nA play."}',
        '{"_id":"290","wikipedia_id":"290","wikipedia_title":"A","text":["A\\n","A is the first letter.\\n","Section::::History.\\n"]}',
        '{"wikipedia_id":"7","wikipedia_title":"B","text":"B is a letter."}',
      ].join('\n'),
    );
    const docs = [];
    for await (const d of readCorpus(f)) docs.push(d);
    assert.deepEqual(
      docs.map((d) => [d.id, d.contents]),
      [
        ['1', '"Hamlet"\nA play.'],
        ['290', '"A"\nA is the first letter. Section::::History.'],
        ['7', '"B"\nB is a letter.'],
      ],
    );
  } finally {
    t.cleanup();
  }
});
