// The Hub client against a local fake Hub on loopback (no test reaches the internet).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubConfig, type HubConfig } from '../../src/hub/config.ts';
import { hubDownload, repoCacheDir } from '../../src/hub/download.ts';
import { hubSnapshot } from '../../src/hub/snapshot.ts';
import { parseHubRef } from '../../src/hub/repo-id.ts';
import { FakeHub, gitSha1, sha256 } from './fake-hub.ts';

const C1 = '1'.repeat(40);
const C2 = '2'.repeat(40);
const C3 = '3'.repeat(40);
// Deterministic "weights": 300 kB of a simple generator, so a cut mid-body is meaningful.
const weights = (seed: number) =>
  Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + seed * 7) & 0xff));
const W1 = weights(1);
const W2 = weights(2);
const CONFIG = Buffer.from('{"model_type":"qwen2"}\n');

const hub = new FakeHub([
  {
    type: 'model',
    name: 'Org/Tiny',
    refs: { main: C2, v1: C1 },
    commits: {
      [C1]: [
        { path: 'config.json', content: CONFIG },
        { path: 'model.safetensors', content: W1, lfs: true },
      ],
      [C2]: [
        { path: 'config.json', content: CONFIG },
        { path: 'model.safetensors', content: W2, lfs: true },
        { path: 'onnx/model.onnx', content: Buffer.from('onnx'), lfs: true },
      ],
    },
  },
  {
    type: 'dataset',
    name: 'Org/qa',
    refs: { main: C3 },
    commits: {
      [C3]: [{ path: 'nq/test.jsonl', content: Buffer.from('{"question":"q?","golden_answers":["a"]}\n') }],
    },
  },
  {
    type: 'model',
    name: 'Org/Private',
    private: true,
    refs: { main: C1 },
    commits: { [C1]: [{ path: 'config.json', content: CONFIG }] },
  },
]);

let root: string;
const cfgFor = (over: Partial<HubConfig> = {}): HubConfig =>
  hubConfig(
    { fetch: globalThis.fetch, progress: false, maxBackoffMs: 5, retries: 4, ...over },
    {
      HF_ENDPOINT: hub.url,
      HF_HUB_CACHE: join(root, `cache-${Math.random().toString(36).slice(2)}`),
    },
  );
const model = (path: string, revision = 'main') => ({
  type: 'model' as const,
  name: 'Org/Tiny',
  revision,
  path,
});

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'hub-test-'));
  await hub.start();
});
after(async () => {
  await hub.stop();
  rmSync(root, { recursive: true, force: true });
});

test('config: HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_TOKEN, HF_HUB_OFFLINE as Python reads them', () => {
  const c = hubConfig(
    {},
    { HF_ENDPOINT: 'http://127.0.0.1:9/', HF_HOME: '/h', HF_TOKEN: 't', HF_HUB_OFFLINE: 'True' },
  );
  assert.equal(c.endpoint, 'http://127.0.0.1:9');
  assert.equal(c.cacheDir, '/h/hub');
  assert.equal(c.token, 't');
  assert.equal(c.offline, true);
  assert.equal(hubConfig({}, { HF_HUB_CACHE: '/c', HF_HOME: '/h', HOME: '/u' }).cacheDir, '/c');
  assert.equal(hubConfig({}, { HOME: '/u' }).cacheDir, '/u/.cache/huggingface/hub');
  assert.equal(hubConfig({}, { HOME: '/u', HF_HUB_OFFLINE: '0' }).offline, false);
});

test('repo ids: org/name@rev:path, hf:// URLs; local paths and data-file names stay local', () => {
  assert.deepEqual(parseHubRef('Qwen/Qwen2.5-3B-Instruct', 'model'), {
    type: 'model',
    name: 'Qwen/Qwen2.5-3B-Instruct',
    revision: 'main',
    path: null,
  });
  assert.deepEqual(parseHubRef('PeterJinGo/nq_hotpotqa_train@v2:test.parquet', 'dataset'), {
    type: 'dataset',
    name: 'PeterJinGo/nq_hotpotqa_train',
    revision: 'v2',
    path: 'test.parquet',
  });
  assert.deepEqual(parseHubRef('hf://datasets/a/b@main/x/y.jsonl', 'model'), {
    type: 'dataset',
    name: 'a/b',
    revision: 'main',
    path: 'x/y.jsonl',
  });
  assert.equal(parseHubRef('nq/test.jsonl', 'dataset'), null); // a (missing) local file
  assert.equal(parseHubRef('nq', 'dataset'), null);
  assert.equal(parseHubRef(root, 'model'), null); // exists on disk
});

test('download: LFS and small files land in the Python cache layout, checked, with refs', async () => {
  const cfg = cfgFor();
  const p = await hubDownload(cfg, model('model.safetensors'));
  const c = await hubDownload(cfg, model('config.json'));
  const repo = repoCacheDir(cfg, 'model', 'Org/Tiny');
  assert.equal(repo, join(cfg.cacheDir, 'models--Org--Tiny'));
  assert.equal(p, join(repo, 'snapshots', C2, 'model.safetensors'));
  assert.ok(readFileSync(p).equals(W2));
  assert.ok(lstatSync(p).isSymbolicLink());
  assert.equal(readlinkSync(p), join('..', '..', 'blobs', sha256(W2))); // relative, as Python
  assert.equal(readlinkSync(c), join('..', '..', 'blobs', gitSha1(CONFIG)));
  assert.equal(readFileSync(join(repo, 'refs', 'main'), 'utf8'), C2);
  // The token never travels to LFS storage (the fake answers 400 if it does); Hub requests carry it.
  const auth = cfgFor({ token: hub.token });
  await hubDownload(auth, model('model.safetensors'));
  assert.equal(
    hub.count((r) => r.path.startsWith('/lfs/') && r.auth !== null),
    0,
  );
});

test('resume: a connection cut mid-body continues with a Range request, and across runs', async () => {
  const cfg = cfgFor();
  hub.cutAfter.set(sha256(W2), 120_000);
  const before = hub.requests.length;
  const p = await hubDownload(cfg, model('model.safetensors'));
  assert.ok(readFileSync(p).equals(W2));
  const lfs = hub.requests.slice(before).filter((r) => r.path.startsWith('/lfs/'));
  assert.equal(lfs.length, 2);
  assert.equal(lfs[0]!.range, null);
  // Resumed where the bytes stopped (what reached us of the 120,000 sent before the cut).
  const at = Number(/^bytes=(\d+)-$/.exec(lfs[1]!.range ?? '')?.[1]);
  assert.ok(at > 0 && at <= 120_000, `resumed at ${lfs[1]!.range}`);

  // A partial file left by an earlier run (ours or Python's .incomplete) is continued.
  const cfg2 = cfgFor();
  const blob = join(repoCacheDir(cfg2, 'model', 'Org/Tiny'), 'blobs', sha256(W2));
  mkdirSync(join(blob, '..'), { recursive: true });
  writeFileSync(`${blob}.incomplete`, W2.subarray(0, 200_000));
  const before2 = hub.requests.length;
  assert.ok(readFileSync(await hubDownload(cfg2, model('model.safetensors'))).equals(W2));
  assert.deepEqual(
    hub.requests
      .slice(before2)
      .filter((r) => r.path.startsWith('/lfs/'))
      .map((r) => r.range),
    ['bytes=200000-'],
  );
  assert.ok(!existsSync(`${blob}.incomplete`));
});

test('cache reuse: a second call and a Python-made cache entry download no bytes', async () => {
  const cfg = cfgFor();
  await hubDownload(cfg, model('model.safetensors'));
  const n = hub.count((r) => r.path.startsWith('/lfs/'));
  await hubDownload(cfg, model('model.safetensors'));
  assert.equal(
    hub.count((r) => r.path.startsWith('/lfs/')),
    n,
  );

  // As huggingface_hub would have left it: blob + relative symlink, no refs needed for a HEAD.
  const cfg2 = cfgFor();
  const repo = repoCacheDir(cfg2, 'model', 'Org/Tiny');
  mkdirSync(join(repo, 'blobs'), { recursive: true });
  writeFileSync(join(repo, 'blobs', sha256(W2)), W2);
  mkdirSync(join(repo, 'snapshots', C2), { recursive: true });
  symlinkSync(join('..', '..', 'blobs', sha256(W2)), join(repo, 'snapshots', C2, 'model.safetensors'));
  await hubDownload(cfg2, model('model.safetensors'));
  assert.equal(
    hub.count((r) => r.path.startsWith('/lfs/')),
    n,
  );
});

test('offline: HF_HUB_OFFLINE serves the cache without a request, and says what is missing', async () => {
  const cfg = cfgFor();
  const p = await hubDownload(cfg, model('config.json'));
  const off = { ...cfg, offline: true };
  const n = hub.requests.length;
  assert.equal(await hubDownload(off, model('config.json')), p);
  assert.equal(hub.requests.length, n);
  await assert.rejects(hubDownload(off, model('model.safetensors')), /not in the cache .*HF_HUB_OFFLINE/);
  // An unreachable Hub falls back to the cache too.
  const down = { ...cfg, endpoint: 'http://127.0.0.1:9', retries: 0 };
  assert.equal(await hubDownload(down, model('config.json')), p);
});

test('revisions: a tag and a commit pin the older weights; refs record each', async () => {
  const cfg = cfgFor();
  const v1 = await hubDownload(cfg, model('model.safetensors', 'v1'));
  assert.ok(readFileSync(v1).equals(W1));
  assert.ok(v1.includes(`/snapshots/${C1}/`));
  const byCommit = await hubDownload(cfg, model('model.safetensors', C1));
  assert.equal(byCommit, v1);
  assert.equal(readFileSync(join(repoCacheDir(cfg, 'model', 'Org/Tiny'), 'refs', 'v1'), 'utf8'), C1);
  assert.ok(readFileSync(await hubDownload(cfg, model('model.safetensors'))).equals(W2));
  await assert.rejects(hubDownload(cfg, model('config.json', 'nope')), /no such revision/);
});

test('corruption: bytes that do not hash to the ETag are refused and removed', async () => {
  const cfg = cfgFor();
  hub.corrupt.add(sha256(W1));
  try {
    await assert.rejects(
      hubDownload(cfg, model('model.safetensors', 'v1')),
      /corrupted download: sha256 [0-9a-f]{64}, expected/,
    );
  } finally {
    hub.corrupt.delete(sha256(W1));
  }
  const blob = join(repoCacheDir(cfg, 'model', 'Org/Tiny'), 'blobs', sha256(W1));
  assert.ok(!existsSync(blob) && !existsSync(`${blob}.incomplete`));
  assert.ok(readFileSync(await hubDownload(cfg, model('model.safetensors', 'v1'))).equals(W1)); // clean retry
});

test('errors: 401 asks for HF_TOKEN, 404 names repo or file, 429 is retried', async () => {
  const cfg = cfgFor();
  const priv = { type: 'model' as const, name: 'Org/Private', revision: 'main', path: 'config.json' };
  await assert.rejects(hubDownload(cfg, priv), /access denied.*HF_TOKEN/);
  assert.ok(readFileSync(await hubDownload(cfgFor({ token: hub.token }), priv)).equals(CONFIG));
  await assert.rejects(
    hubDownload(cfg, { ...priv, name: 'Org/None' }),
    /not found \(HTTP 404 RepoNotFound\)/,
  );
  await assert.rejects(hubDownload(cfg, model('missing.bin')), /no such file in the repo/);
  hub.rateLimitNext = 2;
  assert.ok(readFileSync(await hubDownload(cfg, model('config.json'))).equals(CONFIG));
  hub.rateLimitNext = 10;
  await assert.rejects(hubDownload(cfgFor({ retries: 1 }), model('config.json', 'v1')), /rate limited/);
  hub.rateLimitNext = 0;
});

test('snapshot: repo listing through @huggingface/hub, patterns, one commit, offline reuse', async () => {
  const cfg = cfgFor();
  const ref = { type: 'model' as const, name: 'Org/Tiny', revision: 'main', path: null };
  const snap = await hubSnapshot(cfg, ref, { allow: ['*.json', '*.safetensors'] });
  assert.equal(snap.commit, C2);
  assert.deepEqual(snap.files.sort(), ['config.json', 'model.safetensors']);
  assert.ok(readFileSync(join(snap.dir, 'model.safetensors')).equals(W2));
  assert.ok(!existsSync(join(snap.dir, 'onnx')));
  const off = await hubSnapshot({ ...cfg, offline: true }, ref, { allow: ['*.json', '*.safetensors'] });
  assert.deepEqual(off, { ...snap, files: snap.files.sort() });
  const ds = await hubSnapshot(cfg, { type: 'dataset', name: 'Org/qa', revision: 'main', path: null });
  assert.deepEqual(ds.files, ['nq/test.jsonl']);
  await assert.rejects(hubSnapshot(cfg, { ...ref, name: 'Org/Private' }), /access denied.*HF_TOKEN/);
});
