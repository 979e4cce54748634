import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pySplit, pyStrip } from '../../src/protocol/text.ts';

// Expected values follow Python 3: str.isspace() is true for U+001C..U+001F, U+0085, U+00A0,
// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 (and ASCII \t\n\v\f\r, space),
// but not for U+200B or U+FEFF (which JS's \s includes).
test('pyStrip strips exactly the Python whitespace set', () => {
  assert.equal(
    pyStrip(
      ' \t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000x y\u3000 ',
    ),
    'x y',
  );
  assert.equal(pyStrip('\ufeffx\ufeff'), '\ufeffx\ufeff');
  assert.equal(pyStrip('\u200bx'), '\u200bx');
  assert.equal(pyStrip(''), '');
});

test('pySplit splits on runs of Python whitespace and drops empties', () => {
  assert.deepEqual(pySplit('  a \x1c b\x85c\ufeffd  '), ['a', 'b', 'c\ufeffd']);
  assert.deepEqual(pySplit(' \n\t '), []);
  assert.deepEqual(pySplit('日本 😀\u3000x'), ['日本', '😀', 'x']);
});
