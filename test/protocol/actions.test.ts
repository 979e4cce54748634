import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  INVALID_ACTION_MESSAGE,
  STOP_SEQUENCES,
  informationBlock,
  parseAction,
} from '../../src/protocol/actions.ts';

test('parseAction: first search or answer, trimmed, dotall', () => {
  assert.deepEqual(parseAction('<think>x</think><search> capital of france </search>'), {
    type: 'search',
    content: 'capital of france',
  });
  assert.deepEqual(parseAction('<answer>\n Paris\n</answer>'), { type: 'answer', content: 'Paris' });
  assert.deepEqual(parseAction('<search>a\nb</search><answer>c</answer>'), {
    type: 'search',
    content: 'a\nb',
  });
  assert.deepEqual(parseAction('<answer>c</answer><search>a</search>'), { type: 'answer', content: 'c' });
  // Non-greedy: the first closing tag ends the action.
  assert.deepEqual(parseAction('<search>a</search> b </search>'), { type: 'search', content: 'a' });
  // Empty content is still an action (as the reference).
  assert.deepEqual(parseAction('<search></search>'), { type: 'search', content: '' });
});

test('parseAction: mismatched or missing tags are not actions', () => {
  assert.equal(parseAction('<search>q</answer>'), null);
  assert.equal(parseAction('<think>only thinking</think>'), null);
  assert.equal(parseAction('<search>unterminated'), null);
  assert.equal(parseAction('<SEARCH>q</SEARCH>'), null);
  assert.equal(parseAction(''), null);
  // A mismatched pair is skipped and the next well-formed one is taken.
  assert.deepEqual(parseAction('<search>q</answer> <answer>x</answer>'), { type: 'answer', content: 'x' });
});

test('parseAction strips Python whitespace (incl. U+0085) but not U+200B', () => {
  assert.deepEqual(parseAction('<answer>\u0085x\u3000</answer>'), { type: 'answer', content: 'x' });
  assert.deepEqual(parseAction('<answer>\u200bx</answer>'), { type: 'answer', content: '\u200bx' });
});

test('injected texts are byte-exact', () => {
  assert.equal(
    informationBlock('Doc 1(Title: "A") b\n'),
    '\n\n<information>Doc 1(Title: "A") b\n</information>\n\n',
  );
  assert.equal(
    INVALID_ACTION_MESSAGE,
    '\nMy previous action is invalid. If I want to search, I should put the query between <search> and </search>. If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again.\n',
  );
  assert.deepEqual([...STOP_SEQUENCES], ['</search>', '</answer>']);
});
