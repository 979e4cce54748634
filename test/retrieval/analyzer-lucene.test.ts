// Our EnglishAnalyzer against real Lucene 8.7 token streams (shared/data/lucene, 9,752 texts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { EnglishAnalyzer, lowerCase, removePossessive, tokenize } from '../../src/retrieval/analyzer.ts';
import { porterStem } from '../../src/retrieval/porter.ts';

const FIXTURE = new URL('../../../shared/data/lucene/english-analyzer-tokens.jsonl', import.meta.url)
  .pathname;

/** Edge cases that still differ from Lucene, each explained in docs/lucene-analysis.md. */
const KNOWN_EDGE_DIFFERENCES = new Set(['edge:3']);

test('Lucene EnglishAnalyzer token streams: every 2wiki and nq row, and the edge cases', (t) => {
  if (!existsSync(FIXTURE)) return t.skip(`${FIXTURE} not present`);
  const rows = readFileSync(FIXTURE, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as { id: string; text: string; tokens: string[] });
  assert.equal(rows.length, 9752);
  const a = new EnglishAnalyzer();
  const total: Record<string, number> = {};
  const differing: string[] = [];
  for (const r of rows) {
    const group = r.id.split(':')[0]!;
    total[group] = (total[group] ?? 0) + 1;
    const ours = a.analyze(r.text);
    if (JSON.stringify(ours) !== JSON.stringify(r.tokens)) differing.push(r.id);
  }
  assert.deepEqual(total, { '2wiki': 6119, nq: 3610, edge: 23 });
  // The corpus rows must all match (the issue asks ≥ 99.9 %; we hold 100 % and keep it).
  assert.deepEqual(
    differing.filter((id) => !id.startsWith('edge:')),
    [],
  );
  assert.deepEqual(
    differing.filter((id) => id.startsWith('edge:')),
    [...KNOWN_EDGE_DIFFERENCES],
  );
});

test('tokenizer: UAX#29 word breaks as Lucene applies them', () => {
  assert.deepEqual(tokenize('la:sadi a:b 10:30'), ['la:sadi', 'a:b', '10', '30']); // ':' is MidLetter
  assert.deepEqual(tokenize('Kechiche‘s U.S.A. i.e. 3,500.25'), ['Kechiche‘s', 'U.S.A', 'i.e', '3,500.25']);
  assert.deepEqual(tokenize('_______ foo_bar _x_ 12 km² H₂O'), ['foo_bar', '_x_', '12', 'km', 'H', 'O']);
  assert.deepEqual(tokenize('Coca-Cola™ ♥ 👍🏽 🇫🇷'), ['Coca', 'Cola', '™', '♥', '👍🏽', '🇫🇷']);
  assert.deepEqual(tokenize('北京 ひらがな カタカナ ภาษาไทย'), [
    '北',
    '京',
    'ひ',
    'ら',
    'が',
    'な',
    'カタカナ',
    'ภาษาไทย',
  ]);
  assert.deepEqual(tokenize('\u0650hussein'), ['hussein']); // a leading combining mark is dropped
  assert.deepEqual(
    tokenize('x'.repeat(600)).map((s) => s.length),
    [255, 255, 90],
  );
});

test('filters: possessive, Java-style per-char lowercase, Porter as Lucene', () => {
  assert.equal(removePossessive("John's"), 'John');
  assert.equal(removePossessive('JOHN’S'), 'JOHN');
  assert.equal(removePossessive('Kechiche‘s'), 'Kechiche‘s');
  assert.equal(lowerCase('İzmir'), 'izmir'); // JS toLowerCase gives i + U+0307
  assert.equal(lowerCase('ΟΔΟΣ'), 'οδοσ'); // no final-sigma rule
  const cases: [string, string][] = [
    ['caresses', 'caress'],
    ['ponies', 'poni'],
    ['i.e', 'i.'],
    ['generalizations', 'gener'],
    ['relational', 'relat'],
    ['hopping', 'hop'],
    ['falling', 'fall'],
    ['filing', 'file'],
    ['easily', 'easili'],
    ['as', 'as'],
    ['sky', 'sky'],
  ];
  for (const [w, s] of cases) assert.equal(porterStem(w), s, w);
});
