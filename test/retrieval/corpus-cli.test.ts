// Real text (2WikiMultihopQA passages), corpus errors with file and line, the CLI commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bm25Index, buildIndex } from '../../src/retrieval/bm25/index.ts';
import { EnglishAnalyzer, tokenize } from '../../src/retrieval/analyzer.ts';
import { indexCorpus } from '../../src/cli/commands/index-cmd.ts';
import { serveRetriever } from '../../src/cli/commands/serve.ts';
import { RemoteRetriever } from '../../src/retrieval/remote.ts';
import { buildProgram } from '../../src/cli/main.ts';

const WIKI = new URL('../../../shared/data/2wikimultihopqa_corpus.json', import.meta.url).pathname;

test('analyzer: Lucene-like tokenisation, possessives, stop words, Porter stems', () => {
  assert.deepEqual(tokenize("The U.S. isn't John's 3.14 1,000 foo:bar e-mail café 東京 ABC123 x_y."), [
    'The',
    'U.S',
    "isn't",
    "John's",
    '3.14',
    '1,000',
    'foo:bar', // ':' is a MidLetter in UAX#29 (as in Lucene)
    'e',
    'mail',
    'café',
    '東',
    '京',
    'ABC123',
    'x_y',
  ]);
  const a = new EnglishAnalyzer();
  assert.deepEqual(
    a.analyze("The running ponies' caresses; it's JOHN’S generalizations of relational databases"),
    ['run', 'poni', 'caress', 'john', 'gener', 'relat', 'databas'],
  );
  assert.deepEqual(a.analyze('the of and a an to is was it'), []);
  assert.equal(tokenize('x'.repeat(600)).length, 3); // Lucene's 255-char token limit splits long runs
});

test('real text: the 2WikiMultihopQA corpus indexes and answers title queries', async (t) => {
  if (!existsSync(WIKI)) {
    assert.fail(`${WIKI} is missing (the shared data folder is part of the test setup)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'bm25-wiki-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const stats = await buildIndex(WIKI, dir, { memoryBudgetBytes: 1 << 20 });
  const raw = JSON.parse(readFileSync(WIKI, 'utf8')) as { title: string; text: string }[];
  assert.equal(stats.numDocs, raw.length);
  assert.ok(stats.runs > 1);
  const idx = await Bm25Index.open(dir);
  // Querying a passage's own title + first sentence finds that passage (or an identical one) first.
  let found = 0;
  const sample = raw.filter((_, i) => i % 97 === 0);
  for (const p of sample) {
    const q = `${p.title} ${p.text.split('. ')[0]}`;
    const [hits] = await idx.search([q], 3);
    assert.ok(hits.length > 0, q);
    if (hits[0].title === `"${p.title}"` && hits[0].text === p.text) found++;
  }
  assert.ok(found >= sample.length * 0.9, `self-retrieval ${found}/${sample.length}`);
  // Stored contents are wiki-18 shaped and exact.
  const [[h]] = await idx.search([raw[0].title], 1);
  assert.equal((h as { contents?: string }).contents, `"${h.title.slice(1, -1)}"\n${h.text}`);
  await idx.close();
});

test('corpus errors name file and line; --skip-bad-lines skips and counts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bm25-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good = (i: number) => JSON.stringify({ id: `d${i}`, contents: `"T${i}"\nalpha beta ${i}` });
  const cases: [string, string, RegExp][] = [
    ['badjson.jsonl', [good(0), '{"id": "x", "contents": ', good(2)].join('\n'), /badjson\.jsonl:2: .*JSON/i],
    [
      'missing.jsonl',
      [good(0), good(1), '{"id": "x", "body": "y"}'].join('\n'),
      /missing\.jsonl:3: field "contents"/,
    ],
    [
      'nonstring.jsonl',
      [good(0), '{"id": "x", "contents": 5}'].join('\n'),
      /nonstring\.jsonl:2: field "contents": expected a string, got number/,
    ],
    [
      'title.jsonl',
      [good(0), '{"id": "x", "title": "a", "text": null}'].join('\n'),
      /title\.jsonl:2: field "text"/,
    ],
  ];
  for (const [name, body, re] of cases) {
    const file = join(dir, name);
    writeFileSync(file, body + '\n');
    await assert.rejects(buildIndex(file, join(dir, `idx-${name}`), { log: null }), re);
    const stats = await buildIndex(file, join(dir, `idx-skip-${name}`), { skipBadLines: true, log: null });
    assert.equal(stats.skippedLines, 1, name);
    assert.equal(stats.numDocs, body.split('\n').length - 1, name);
  }
  // .jsonl.gz and title/text records.
  const gz = join(dir, 'c.jsonl.gz');
  writeFileSync(
    gz,
    gzipSync(
      Buffer.from(
        [JSON.stringify({ id: 1, title: 'Gamma', text: 'delta epsilon' }), good(1)].join('\n') + '\n',
      ),
    ),
  );
  const out = join(dir, 'gz-idx');
  const s = await indexCorpus({ corpus: gz, out, progress: false });
  assert.equal(s.numDocs, 2);
  const idx = await Bm25Index.open(out);
  const [[hit]] = await idx.search(['epsilon'], 3);
  assert.deepEqual(
    { id: hit.id, title: hit.title, text: hit.text },
    { id: '1', title: '"Gamma"', text: 'delta epsilon' },
  );
  await idx.close();
  // serve --index as a library call, queried by the client.
  const { server } = await serveRetriever({ index: out, port: 0, quiet: true });
  try {
    const [[r]] = await new RemoteRetriever(server.url).search(['alpha'], 1);
    assert.equal(r.id, 'd1');
  } finally {
    await server.close();
  }
  await assert.rejects(serveRetriever({ port: 0 }), /exactly one of --index/);
  // Opening something that is not an index fails clearly.
  await assert.rejects(Bm25Index.open(dir), /meta\.json: not a search-r1 BM25 index/);
});

test('CLI: index and serve have --help and are wired', () => {
  const program = buildProgram();
  const index = program.commands.find((c) => c.name() === 'index');
  const serve = program.commands.find((c) => c.name() === 'serve');
  assert.ok(index && serve);
  assert.match(index.helpInformation(), /--out <dir>.*\n[\s\S]*--memory-mb/);
  assert.match(serve.helpInformation(), /--index <dir>[\s\S]*--remote <url>[\s\S]*--port/);
});
