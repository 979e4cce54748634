// A second pretraining stage (`pretrain --init DIR --mix …`): it keeps the first stage's tokenizer and
// architecture, starts from its weights, and its README names the command that reproduces it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatMix, parseMix, pretrain } from '../../src/demo/pretrain.ts';

test('--mix: parsed, printed back, bad modes and values named', () => {
  const mix = parseMix('guess=0.6,search_copy=0.4');
  assert.deepEqual(mix, { guess: 0.6, search_copy: 0.4, wrong_query: 0, wrong_span: 0 });
  assert.deepEqual(parseMix(formatMix(mix)), mix);
  assert.throws(() => parseMix('guess=0.5,copy=0.5'), /unknown trajectory mode "copy"/);
  assert.throws(() => parseMix('guess=-1'), /"guess=-1" needs a non-negative number/);
  assert.throws(() => parseMix('guess=0'), /all modes are 0/);
});

test('pretrain --init: a second stage from the first one\'s tokenizer and weights', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pt-stages-'));
  const quiet = () => {};
  const tiny = { vocabSize: 300, model: { hiddenSize: 16, intermediateSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 2 }, epochs: 1, batchSize: 4, shadowWorlds: 1, checkpointEvery: 0, log: quiet };
  try {
    const one = join(dir, 'one');
    const two = join(dir, 'two');
    await pretrain({ ...tiny, out: one, workDir: join(dir, 'w1'), maxSteps: 1 });
    const r = await pretrain({ ...tiny, out: two, workDir: join(dir, 'w2'), maxSteps: 1, init: one, mix: parseMix('guess=0.6,search_copy=0.4'), shadowFirst: 3 });
    assert.equal(r.steps, 1);
    assert.equal(readFileSync(join(two, 'tokenizer.json'), 'utf8'), readFileSync(join(one, 'tokenizer.json'), 'utf8'));
    assert.deepEqual(JSON.parse(readFileSync(join(two, 'config.json'), 'utf8')), JSON.parse(readFileSync(join(one, 'config.json'), 'utf8')));
    assert.notDeepEqual(readFileSync(join(two, 'model.safetensors')), readFileSync(join(one, 'model.safetensors')), 'the second stage trained');
    const readme = readFileSync(join(two, 'README.md'), 'utf8');
    assert.match(readme, new RegExp(`--mix guess=0.6,search_copy=0.4,wrong_query=0,wrong_span=0 --init ${one} --shadow-first 3`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
