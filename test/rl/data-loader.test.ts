import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PromptLoader, stratumKey } from '../../src/rl/data-loader.ts';

// 3 strata of very unequal sizes: a (12 items), b (3), c (1).
const items = [...Array.from({ length: 12 }, (_, i) => `a${i}`), 'b0', 'b1', 'b2', 'c0'];
const keys = items.map((x) => x[0]);

test('stratified loader: every batch of S draws holds each stratum once, whatever its size', () => {
  const l = new PromptLoader(items, 7, true, undefined, keys);
  for (let round = 0; round < 20; round++) {
    const batch = l.next(3);
    assert.deepEqual(batch.map((x) => x[0]).sort(), ['a', 'b', 'c']);
  }
  assert.equal(l.state.cursor, 60);
  assert.equal(l.state.epoch, Math.floor(60 / items.length));
});

test('stratified loader: each stratum visits all its members once per own epoch, reshuffled between epochs', () => {
  const l = new PromptLoader(items, 3, true, undefined, keys);
  const drawn = l.next(3 * 24).filter((x) => x[0] === 'a');
  assert.equal(drawn.length, 24);
  assert.deepEqual([...drawn.slice(0, 12)].sort(), items.slice(0, 12).sort());
  assert.deepEqual([...drawn.slice(12)].sort(), items.slice(0, 12).sort());
  assert.notDeepEqual(drawn.slice(0, 12), drawn.slice(12));
});

test('stratified loader: a pure function of (seed, cursor) — resuming from the state gives the same stream', () => {
  const one = new PromptLoader(items, 11, true, undefined, keys).next(40);
  const a = new PromptLoader(items, 11, true, undefined, keys);
  const first = a.next(17);
  const b = new PromptLoader(items, 11, true, { ...a.state }, keys);
  assert.deepEqual([...first, ...b.next(23)], one);
  assert.notDeepEqual(new PromptLoader(items, 12, true, undefined, keys).next(40), one);
});

test('plain loader unchanged: one permutation per epoch', () => {
  const l = new PromptLoader(items, 5, true);
  assert.deepEqual([...l.next(items.length)].sort(), [...items].sort());
  assert.deepEqual(l.state, { epoch: 1, cursor: 0 });
});

test('stratum keys: dotted paths, clear errors', () => {
  assert.equal(stratumKey({ metadata: { relation: 'birth_city' } }, 'metadata.relation', 'ex 1'), 'birth_city');
  assert.throws(() => stratumKey({ metadata: {} }, 'metadata.relation', 'training example q7'), /training example q7: data.stratifyBy "metadata.relation"/);
  assert.throws(() => new PromptLoader(items, 1, true, undefined, keys.slice(1)), /15 stratum keys for 16 examples/);
});
