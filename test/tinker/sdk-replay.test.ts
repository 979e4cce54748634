// The Tinker Python SDK 0.25.0 call sequence, replayed by scripts/tinker-sdk-replay.py (Debian
// python3-protobuf + python3-zstandard + protoc; .ci/run installs them) against serve-trainer over a
// tiny random Qwen2: LoRA model, protobuf + zstd forward_backward, protobuf results, sampling, saves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { serveTrainer } from '../../src/cli/commands/serve-trainer.ts';
import { writeTinyModel } from './tiny-model.ts';

test('Python (Debian packages only) replays the SDK 0.25.0 call sequence against serve-trainer', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tinker-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { tok, modelDir } = await writeTinyModel(dir, 'replay-model');
  const { server, url } = await serveTrainer({ model: modelDir, port: 0, checkpointDir: join(dir, 'ck') });
  t.after(() => server.close());
  const script = join(import.meta.dirname, '..', '..', 'scripts', 'tinker-sdk-replay.py');
  const args = [
    script,
    '--base-url',
    url,
    '--base-model',
    'replay-model',
    '--vocab-size',
    String(tok.vocabSize),
  ];
  const child = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  assert.equal(code, 0, out);
  assert.match(out, /SDK 0\.25\.0 replay: \d+ checks passed \(protobuf forward_backward, zstd\)/);
});
