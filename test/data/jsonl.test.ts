import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError, expectString } from '../../src/data/errors.ts';
import { readJsonl, readJsonlAll } from '../../src/data/jsonl.ts';
import { tempDir } from './helpers.ts';

test('DataError message names file, line and field', () => {
  const e = new DataError(
    { file: 'data/x.jsonl', line: 17, field: 'contents' },
    'expected a string, got number',
  );
  assert.equal(e.message, 'data/x.jsonl:17: field "contents": expected a string, got number');
  assert.equal(e.line, 17);
  assert.equal(e.field, 'contents');
  assert.equal(
    new DataError({ file: 'a.parquet', row: 3, field: 'prompt' }, 'bad').message,
    'a.parquet: row 3: field "prompt": bad',
  );
  assert.throws(() => expectString(5, { file: 'f', line: 2 }, 'x'), {
    message: 'f:2: field "x": expected a string, got number',
  });
});

test('reads JSONL and gzipped JSONL, with line numbers, CRLF, BOM and blank lines', async () => {
  const t = tempDir();
  try {
    const body = '\ufeff{"a":1}\r\n\r\n{"a":"é😀"}\n   \n{"a":[3]}';
    for (const [name, gz] of [
      ['x.jsonl', false],
      ['x.jsonl.gz', true],
    ] as const) {
      const { records, stats } = await readJsonlAll(t.file(name, body, gz));
      assert.deepEqual(records, [
        { value: { a: 1 }, line: 1 },
        { value: { a: 'é😀' }, line: 3 },
        { value: { a: [3] }, line: 5 },
      ]);
      assert.deepEqual(
        { ...stats, firstErrors: stats.firstErrors.length },
        { read: 5, records: 3, skipped: 0, blank: 2, firstErrors: 0 },
      );
    }
  } finally {
    t.cleanup();
  }
});

test('a malformed line fails with file and line', async () => {
  const t = tempDir();
  try {
    const p = t.file('bad.jsonl', '{"a":1}\n{"a":\n{"a":3}\n');
    await assert.rejects(readJsonlAll(p), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.equal(e.file, p);
      assert.equal(e.line, 2);
      assert.match(e.message, new RegExp(`^${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: invalid JSON`));
      return true;
    });
  } finally {
    t.cleanup();
  }
});

test('skipBadLines skips, counts, reports and logs', async () => {
  const t = tempDir();
  try {
    const p = t.file('bad.jsonl', '{"q":"a"}\nnot json\n{"q":2}\n{"q":"b"}\n');
    const logged: string[] = [];
    const skippedLines: number[] = [];
    const reader = readJsonl(p, {
      skipBadLines: true,
      map: (v, loc) => expectString((v as { q: unknown }).q, loc, 'q'),
      onSkip: (e) => skippedLines.push(e.line!),
      log: (m) => logged.push(m),
    });
    const got: string[] = [];
    for await (const r of reader) got.push(r.value);
    assert.deepEqual(got, ['a', 'b']);
    assert.equal(reader.stats.skipped, 2);
    assert.equal(reader.stats.records, 2);
    assert.deepEqual(skippedLines, [2, 3]);
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /skipped 2 bad records of 4 in .*bad\.jsonl \(first: .*:2: invalid JSON/);
    // Without the option the field error is fatal and names the field.
    await assert.rejects(
      readJsonlAll(p, { map: (v, loc) => expectString((v as { q: unknown }).q, loc, 'q') }),
      /:2: invalid JSON/,
    );
  } finally {
    t.cleanup();
  }
});

test('missing file and corrupt gzip fail with the file name', async () => {
  const t = tempDir();
  try {
    await assert.rejects(
      readJsonlAll(`${t.dir}/nope.jsonl`),
      (e: unknown) => e instanceof DataError && /nope\.jsonl: ENOENT/.test(e.message),
    );
    const p = t.file('corrupt.jsonl.gz', Buffer.from('definitely not gzip'));
    await assert.rejects(readJsonlAll(p), (e: unknown) => e instanceof DataError && e.message.startsWith(p));
  } finally {
    t.cleanup();
  }
});
