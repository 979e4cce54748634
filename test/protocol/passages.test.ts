import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPassages, splitContents } from '../../src/protocol/passages.ts';

test('splitContents keeps the quotes and splits at the first newline only', () => {
  assert.deepEqual(splitContents('"Paris"\nParis is the capital.\nSecond line.'), {
    title: '"Paris"',
    text: 'Paris is the capital.\nSecond line.',
  });
  assert.deepEqual(splitContents('"No text"'), { title: '"No text"', text: '' });
  assert.deepEqual(splitContents('\nbody'), { title: '', text: 'body' });
});

test('formatPassages: Doc i(Title: t) text, one per line, from 1', () => {
  assert.equal(
    formatPassages([
      { title: '"Paris"', text: 'Capital of France.' },
      { title: '"Zürich"', text: '日本語 😀' },
    ]),
    'Doc 1(Title: "Paris") Capital of France.\nDoc 2(Title: "Zürich") 日本語 😀\n',
  );
  assert.equal(formatPassages([]), '');
});
