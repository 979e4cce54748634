import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lrAt, modelConfigFor } from '../../src/demo/pretrain.ts';
import { lmBatch } from '../../src/demo/lm-batch.ts';
import { countParameters } from '../../src/engine/config.ts';

test('lrAt: linear warmup to the peak, cosine down to 10%', () => {
  const total = 100;
  assert.ok(Math.abs(lrAt(0, total, 1, 0.1) - 0.1) < 1e-12);
  assert.ok(Math.abs(lrAt(9, total, 1, 0.1) - 1) < 1e-12);
  assert.ok(Math.abs(lrAt(10, total, 1, 0.1) - 1) < 1e-12);
  assert.ok(Math.abs(lrAt(55, total, 1, 0.1) - 0.55) < 1e-12, 'midpoint of the cosine: (1 + 0.1) / 2');
  assert.ok(Math.abs(lrAt(100, total, 1, 0.1) - 0.1) < 1e-12);
  for (let s = 10; s < 100; s++) assert.ok(lrAt(s + 1, total, 1, 0.1) <= lrAt(s, total, 1, 0.1) + 1e-15);
});

test('lmBatch: shifted targets, weights sum to 1 over trained positions, prompt positions masked', () => {
  const b = lmBatch([[1, 2, 3, 4], [5, 6, 7]], [2, 1]);
  assert.deepEqual(b[0].inputTokens, [1, 2, 3]);
  assert.deepEqual(b[0].targetTokens, [2, 3, 4]);
  // Sequence 0 trains tokens at index ≥ 2 (3, 4): positions 1 and 2. Sequence 1 trains 6, 7.
  assert.deepEqual([...b[0].weights!], [0, 0.25, 0.25]);
  assert.deepEqual([...b[1].weights!], [0.25, 0.25]);
  const plain = lmBatch([[1, 2, 3]]);
  assert.deepEqual([...plain[0].weights!], [0.5, 0.5]);
});

test('modelConfigFor: the shipped size is about a million parameters', () => {
  const c = modelConfigFor({ model: { hiddenSize: 128, intermediateSize: 384, numLayers: 4, numHeads: 4, numKvHeads: 4 }, maxSeqLen: 1024 }, 1024);
  assert.equal(c.headDim, 32);
  const n = countParameters(c);
  assert.ok(n > 0.9e6 && n < 1.1e6, String(n));
  assert.throws(() => modelConfigFor({ model: { hiddenSize: 130, intermediateSize: 8, numLayers: 1, numHeads: 4, numKvHeads: 4 }, maxSeqLen: 8 }, 300), /multiple/);
});
