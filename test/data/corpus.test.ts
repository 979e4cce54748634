import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readCorpus, type CorpusRecord } from '../../src/data/corpus.ts';
import { DataError } from '../../src/data/errors.ts';
import { sharedData, tempDir } from './helpers.ts';

async function all(it: AsyncIterable<CorpusRecord>): Promise<CorpusRecord[]> {
  const out: CorpusRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

test('wiki-18 JSONL: contents split at the first newline, quotes kept', async () => {
  const t = tempDir();
  try {
    const lines = [
      { id: '1', contents: '"Aaron"\nAaron is a prophet.\nMore.' },
      { id: '2', contents: '"Zürich ""Q"""\n日本 😀' },
    ].map((x) => JSON.stringify(x));
    for (const gz of [false, true]) {
      const docs = await all(readCorpus(t.file(gz ? 'c.jsonl.gz' : 'c.jsonl', lines.join('\n') + '\n', gz)));
      assert.deepEqual(docs, [
        {
          id: '1',
          title: '"Aaron"',
          text: 'Aaron is a prophet.\nMore.',
          contents: '"Aaron"\nAaron is a prophet.\nMore.',
        },
        { id: '2', title: '"Zürich ""Q"""', text: '日本 😀', contents: '"Zürich ""Q"""\n日本 😀' },
      ]);
    }
  } finally {
    t.cleanup();
  }
});

test('title+text records get wiki-18 quoted titles (or not), missing ids become the line index', async () => {
  const t = tempDir();
  try {
    const p = t.file('c.jsonl', '{"title":"A","text":"x"}\n{"id":7,"title":"B","text":"y"}\n');
    assert.deepEqual(await all(readCorpus(p)), [
      { id: '0', title: '"A"', text: 'x', contents: '"A"\nx' },
      { id: '7', title: '"B"', text: 'y', contents: '"B"\ny' },
    ]);
    assert.deepEqual((await all(readCorpus(p, { quoteTitles: false })))[0], {
      id: '0',
      title: 'A',
      text: 'x',
      contents: 'A\nx',
    });
  } finally {
    t.cleanup();
  }
});

test('bad corpus records name file, line and field; skipBadLines counts them', async () => {
  const t = tempDir();
  try {
    const p = t.file(
      'c.jsonl',
      '{"id":"1","contents":"\\"A\\"\\nx"}\n{"id":"2","contents":5}\n{"id":"3"}\n{"id":{},"contents":"z"}\n',
    );
    await assert.rejects(all(readCorpus(p)), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.message, `${p}:2: field "contents": expected a string, got number`);
      return true;
    });
    const reader = readCorpus(p, { skipBadLines: true, log: null });
    const docs = await all(reader);
    assert.deepEqual(
      docs.map((d) => d.id),
      ['1'],
    );
    assert.equal(reader.stats.skipped, 3);
    assert.deepEqual(
      reader.stats.firstErrors.map((e) => [e.line, e.field]),
      [
        [2, 'contents'],
        [3, 'contents'],
        [4, 'id'],
      ],
    );
  } finally {
    t.cleanup();
  }
});

test('the real 2WikiMultihopQA corpus (one JSON array of title/text) reads completely', async () => {
  const file = sharedData('2wikimultihopqa_corpus.json');
  const expected = JSON.parse(readFileSync(file, 'utf8')) as { title: string; text: string }[];
  const reader = readCorpus(file);
  const docs = await all(reader);
  assert.equal(docs.length, 6119);
  assert.equal(reader.stats.records, 6119);
  assert.equal(reader.stats.skipped, 0);
  // Every element maps to the common row type, in order, losslessly.
  docs.forEach((d, i) => {
    assert.equal(d.id, String(i));
    assert.equal(d.title, `"${expected[i]!.title}"`);
    assert.equal(d.text, expected[i]!.text);
  });
  assert.deepEqual(docs[0], {
    id: '0',
    title: '"Teutberga"',
    text: "Teutberga( died 11 November 875) was a queen of Lotharingia by marriage to Lothair II. She was a daughter of Bosonid Boso the Elder and sister of Hucbert, the lay- abbot of St. Maurice's Abbey.",
    contents:
      '"Teutberga"\nTeutberga( died 11 November 875) was a queen of Lotharingia by marriage to Lothair II. She was a daughter of Bosonid Boso the Elder and sister of Hucbert, the lay- abbot of St. Maurice\'s Abbey.',
  });
  // Some texts contain newlines: contents still splits back to the same title/text.
  assert.ok(docs.some((d) => d.text.includes('\n')));
});

test('bad element of a JSON array is named by row', async () => {
  const t = tempDir();
  try {
    const p = t.file(
      'c.json',
      JSON.stringify([
        { title: 'A', text: 'x' },
        { title: 'B', text: null },
      ]),
    );
    await assert.rejects(all(readCorpus(p)), {
      message: `${p}: row 1: field "text": expected a string, got null`,
    });
    const notArray = t.file('o.json', '{"title":"A"}');
    // A single object is read as one JSONL line (auto) and fails on its missing text.
    await assert.rejects(all(readCorpus(notArray)), /o\.json:1: field "text"/);
    await assert.rejects(
      all(readCorpus(notArray, { format: 'json-array' })),
      /expected a JSON array, got object/,
    );
  } finally {
    t.cleanup();
  }
});

test('onProgress reports running counts every progressEvery records (JSONL and array)', async () => {
  const t = tempDir();
  try {
    const docs = Array.from({ length: 7 }, (_, i) => ({ id: String(i), contents: `"T${i}"\nx` }));
    const jsonl = t.file('c.jsonl', docs.map((d) => JSON.stringify(d)).join('\n'));
    const arr = t.file('c.json', JSON.stringify(docs.map((d) => ({ title: d.id, text: 'x' }))));
    for (const p of [jsonl, arr]) {
      const seen: number[] = [];
      await all(readCorpus(p, { progressEvery: 3, onProgress: (s) => seen.push(s.read) }));
      assert.deepEqual(seen, [3, 6]);
    }
  } finally {
    t.cleanup();
  }
});
