import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  computeScore,
  exactMatch,
  extractAnswer,
  isValidSequence,
  metricScore,
  normalizeAnswer,
  scoreDetails,
  subExactMatch,
  tokenF1,
} from '../../src/protocol/rewards.ts';
import { EXTRACT_CASES, METRIC_CASES, NORMALIZE_CASES, SCORE_CASES } from './reward-cases.ts';

const close = (a: number, b: number): boolean => Math.abs(a - b) < 1e-12;

test('the reward table has at least 40 cases', () => {
  const n = NORMALIZE_CASES.length + METRIC_CASES.length + EXTRACT_CASES.length + SCORE_CASES.length;
  assert.ok(n >= 40, `${n} cases`);
});

for (const c of NORMALIZE_CASES) {
  test(`normalizeAnswer: ${c.why}`, () => {
    assert.equal(normalizeAnswer(c.input), c.expected);
  });
}

for (const c of METRIC_CASES) {
  test(`${c.fn}: ${c.why}`, () => {
    const v = metricScore(c.fn, c.prediction, c.golds);
    assert.ok(
      close(v, c.expected),
      `${c.fn}(${JSON.stringify(c.prediction)}, ${JSON.stringify(c.golds)}) = ${v}, expected ${c.expected}`,
    );
  });
}

for (const c of EXTRACT_CASES) {
  test(`extractAnswer: ${c.why}`, () => {
    assert.equal(extractAnswer(c.response, c.which ? { which: c.which } : {}), c.expected);
  });
}

for (const c of SCORE_CASES) {
  test(`computeScore: ${c.why}`, () => {
    const opts = { ...(c.metric ? { metric: c.metric } : {}), ...(c.format ? { format: c.format } : {}) };
    const v = computeScore(c.response, c.golds, opts);
    assert.ok(
      close(v, c.expected),
      `score ${v}, expected ${c.expected}; ${JSON.stringify(scoreDetails(c.response, c.golds, opts))}`,
    );
  });
}

test('isValidSequence reasons name the fault', () => {
  assert.deepEqual(isValidSequence('<think>a</think><answer>b</answer>'), {
    valid: true,
    reason: 'Valid sequence format',
  });
  assert.match(
    isValidSequence('<think>a<answer>b</answer>').reason,
    /Mismatch in think tags: 1 opening vs 0 closing/,
  );
  assert.match(isValidSequence('<answer>b</answer>').reason, /Unexpected tag <answer> in state start/);
  assert.match(isValidSequence('<think>a</think>x<answer>b</answer>').reason, /Unexpected content 'x'/);
  assert.match(isValidSequence('<think>a</think>').reason, /Incomplete sequence, ended in state after_think/);
});

test('scoreDetails exposes the parts', () => {
  const d = scoreDetails(
    '<think>a</think><search>q</search><information>Paris!</information><think>b</think><answer>Lyon</answer>',
    ['paris'],
    {
      format: { retrievalBonus: 0.25 },
    },
  );
  assert.equal(d.answer, 'Lyon');
  assert.equal(d.valid, true);
  assert.equal(d.retrievalHit, true);
  assert.equal(d.metricValue, 0);
  assert.ok(close(d.score, 0.45));
});

// Strings drawn from a mix that exercises the normaliser: ASCII punctuation, articles, Unicode
// letters and marks, CJK, emoji, and Python/JS whitespace differences.
const pieces = fc.constantFrom(
  'a',
  'an',
  'the',
  'The',
  'A',
  ' ',
  '  ',
  '\t',
  '\n',
  '\u00a0',
  '\u0085',
  '\u001c',
  '\u200b',
  '\ufeff',
  '.',
  ',',
  "'",
  '-',
  '_',
  '!',
  '«',
  '»',
  '—',
  'é',
  'e\u0301',
  'ß',
  'İ',
  'Σ',
  'ς',
  '日本',
  '😀',
  'x',
  'Paris',
  '1',
  '１',
);
const text = fc.oneof(
  fc.array(pieces, { maxLength: 12 }).map((p) => p.join('')),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
);

test('property: normalizeAnswer is idempotent', () => {
  fc.assert(
    fc.property(text, (s) => {
      const once = normalizeAnswer(s);
      assert.equal(normalizeAnswer(once), once);
    }),
    { numRuns: 2000 },
  );
});

test('property: EM is symmetric and depends only on the normalised strings', () => {
  fc.assert(
    fc.property(text, text, (a, b) => {
      assert.equal(exactMatch(a, [b]), exactMatch(b, [a]));
      assert.equal(exactMatch(a, [b]), exactMatch(normalizeAnswer(a), [normalizeAnswer(b)]));
      assert.equal(exactMatch(a, [b]), normalizeAnswer(a) === normalizeAnswer(b) ? 1 : 0);
    }),
    { numRuns: 2000 },
  );
});

test('property: EM ≤ SubEM, EM = 1 ⇒ F1 = 1 when non-empty, F1 ∈ [0,1] and symmetric', () => {
  fc.assert(
    fc.property(text, text, (a, b) => {
      const em = exactMatch(a, [b]);
      assert.ok(em <= subExactMatch(a, [b]));
      const f = tokenF1(a, [b]);
      assert.ok(f >= 0 && f <= 1);
      assert.ok(close(f, tokenF1(b, [a])));
      if (em === 1 && normalizeAnswer(a) !== '') assert.ok(close(f, 1));
    }),
    { numRuns: 1000 },
  );
});

test('property: the format-aware score is one of the configured values', () => {
  const allowed = [0, 0.1, 0.2, 0.8, 1];
  const tag = fc.constantFrom(
    '<think>',
    '</think>',
    '<search>',
    '</search>',
    '<information>',
    '</information>',
    '<answer>',
    '</answer>',
    ' ',
    'Paris',
    'x',
  );
  fc.assert(
    fc.property(fc.array(tag, { maxLength: 14 }), (parts) => {
      const v = computeScore(parts.join(''), ['paris'], { format: {} });
      assert.ok(allowed.includes(v), `${v} for ${parts.join('')}`);
    }),
    { numRuns: 2000 },
  );
});
