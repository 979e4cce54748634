// Hub ids on the command line and `data fetch`, against the fake Hub on loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/main.ts';
import { dataFetch } from '../../src/hub/catalog.ts';
import { hubConfig } from '../../src/hub/config.ts';
import { pickDataFile } from '../../src/hub/resolve.ts';
import { resolveDatasetPath } from '../../src/eval/datasets.ts';
import { readQaFile } from '../../src/data/qa.ts';
import { FakeHub } from './fake-hub.ts';

const C = 'c'.repeat(40);
const NQ = Buffer.from('{"id":"test_0","question":"who wrote hamlet?","golden_answers":["Shakespeare"]}\n');
const hub = new FakeHub([
  {
    type: 'dataset',
    name: 'RUC-NLPIR/FlashRAG_datasets',
    refs: { main: C },
    commits: {
      [C]: [
        { path: 'nq/test.jsonl', content: NQ },
        { path: 'nq/train.jsonl', content: NQ },
      ],
    },
  },
  {
    type: 'dataset',
    name: 'PeterJinGo/wiki-18-e5-index',
    refs: { main: C },
    commits: {
      [C]: [
        { path: 'part_aa', content: Buffer.from('first half|'), lfs: true },
        { path: 'part_ab', content: Buffer.from('second half'), lfs: true },
      ],
    },
  },
  {
    type: 'dataset',
    name: 'Org/one',
    refs: { main: C },
    commits: { [C]: [{ path: 'data/qa.jsonl', content: NQ }] },
  },
]);

let root: string;
const saved = { ...process.env };
before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hub-cli-'));
  await hub.start();
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = join(root, 'cache');
  delete process.env.HF_HUB_OFFLINE;
  delete process.env.HF_TOKEN;
});
after(async () => {
  for (const k of ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_HUB_OFFLINE', 'HF_TOKEN']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  await hub.stop();
  rmSync(root, { recursive: true, force: true });
});

test('data fetch nq: FlashRAG test set linked where eval --dataset nq finds it', async () => {
  const dataDir = join(root, 'data');
  const files = await dataFetch('nq', dataDir, hubConfig({ progress: false }));
  assert.equal(files.length, 1);
  assert.equal(files[0]!.path, join(dataDir, 'nq', 'test.jsonl'));
  assert.ok(
    files[0]!.cached.includes(
      join('datasets--RUC-NLPIR--FlashRAG_datasets', 'snapshots', C, 'nq', 'test.jsonl'),
    ),
  );
  const { path, name } = resolveDatasetPath('nq', dataDir);
  assert.equal(name, 'nq');
  const ex = await readQaFile(path, { dataSource: 'nq' });
  assert.deepEqual(ex[0]!.goldenAnswers, ['Shakespeare']);
  await assert.rejects(dataFetch('nope', dataDir, hubConfig()), /unknown name "nope"; known: eval, nq/);
});

test('data fetch wiki-18-e5-index: the parts are fetched and joined into e5_Flat.index', async () => {
  const dataDir = join(root, 'data2');
  const files = await dataFetch('wiki-18-e5-index', dataDir, hubConfig({ progress: false }));
  assert.equal(
    readFileSync(join(dataDir, 'wiki-18-e5-index', 'e5_Flat.index'), 'utf8'),
    'first half|second half',
  );
  assert.equal(files.length, 3);
});

test('CLI: a Hub id given to a data flag/argument is downloaded and used as a local file', async () => {
  const logs: string[] = [];
  const orig = console.log;
  console.log = (s: string) => logs.push(s);
  try {
    await buildProgram().parseAsync(['node', 'search-r1', 'data', 'inspect', 'Org/one', '-n', '1'], {
      from: 'node',
    });
    await buildProgram().parseAsync(
      ['node', 'search-r1', 'data', 'inspect', 'RUC-NLPIR/FlashRAG_datasets@main:nq/test.jsonl', '-n', '1'],
      { from: 'node' },
    );
  } finally {
    console.log = orig;
  }
  // A repo with one data file resolves to it; a `:path` names the file.
  assert.equal(logs.length, 2);
  for (const l of logs) assert.equal(JSON.parse(l).records, 1);
});

test('CLI: --input of data prepare takes a Hub id; an unknown one fails naming the flag', async () => {
  const out = join(root, 'rows.parquet');
  const orig = console.log;
  const logs: string[] = [];
  console.log = (s: string) => logs.push(s);
  try {
    await buildProgram().parseAsync(
      [
        'node',
        'search-r1',
        'data',
        'prepare',
        '--input',
        'RUC-NLPIR/FlashRAG_datasets:nq/test.jsonl',
        '--data-source',
        'nq',
        '--out',
        out,
      ],
      { from: 'node' },
    );
    await assert.rejects(
      buildProgram().parseAsync(
        ['node', 'search-r1', 'data', 'prepare', '--input', 'Org/missing', '--out', out],
        { from: 'node' },
      ),
      /--input Org\/missing: not a local path, and as a Hugging Face Hub id: .*not found/,
    );
  } finally {
    console.log = orig;
  }
  assert.equal(JSON.parse(logs[0]!).rows, 1);
  assert.ok(realpathSync(out));
});

test('pickDataFile: the only data file, else the preferred split, else a message listing them', () => {
  const ref = { type: 'dataset' as const, name: 'a/b', revision: 'main', path: null };
  assert.equal(pickDataFile(ref, ['README.md', 'x.parquet']), 'x.parquet');
  assert.equal(pickDataFile(ref, ['train.parquet', 'test.parquet'], 'test'), 'test.parquet');
  assert.throws(
    () => pickDataFile(ref, ['train.parquet', 'test.parquet']),
    /2 data files; name one with a\/b:<file>/,
  );
  assert.throws(() => pickDataFile(ref, ['README.md']), /no data file/);
});
