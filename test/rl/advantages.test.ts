import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gae,
  grpoAdvantages,
  rlooAdvantages,
  reinforcePlusPlusAdvantages,
  placeOutcomeRewards,
  broadcastToTokens,
  maskedWhiten,
  groupsWithSignal,
} from '../../src/rl/advantages.ts';

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6, what = ''): void {
  assert.equal(actual.length, expected.length, `${what} length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

test('GAE γ=λ=1: advantage = return − value, return = final reward', () => {
  const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], [[1, 1, 1]], {
    gamma: 1,
    lambda: 1,
    whiten: false,
  });
  close(advantages[0], [0.5, 0.4, 0.3], 1e-6, 'adv');
  close(returns[0], [1, 1, 1], 1e-6, 'ret');
});

test('GAE γ=0.9 λ=0.5 by hand', () => {
  // t2: δ=1−0.7=0.3; t1: δ=0.9·0.7−0.6=0.03, A=0.03+0.45·0.3=0.165; t0: δ=0.9·0.6−0.5=0.04, A=0.04+0.45·0.165
  const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 0.6, 0.7]], [[1, 1, 1]], {
    gamma: 0.9,
    lambda: 0.5,
    whiten: false,
  });
  close(advantages[0], [0.11425, 0.165, 0.3], 1e-6, 'adv');
  close(returns[0], [0.61425, 0.765, 1.0], 1e-6, 'ret');
});

test('GAE skips injected tokens: bootstraps from the next policy token, zeros at injected ones', () => {
  // value 9 at the injected token must not matter; t0 bootstraps from V(t2)=0.7.
  const { advantages, returns } = gae([[0, 0, 1]], [[0.5, 9, 0.7]], [[1, 0, 1]], {
    gamma: 0.9,
    lambda: 0.5,
    whiten: false,
  });
  close(advantages[0], [0.13 + 0.45 * 0.3, 0, 0.3], 1e-6, 'adv');
  close(returns[0], [0.765, 0, 1.0], 1e-6, 'ret');
  assert.throws(
    () => gae([[0, 1, 0]], [[0, 0, 0]], [[1, 0, 1]], { gamma: 1, lambda: 1 }),
    /injected token 1/,
  );
});

test('GAE whitening: zero mean, unit (unbiased) variance over policy tokens', () => {
  const { advantages } = gae(
    [
      [0, 0, 1],
      [0, 2],
    ],
    [
      [0.1, 0.2, 0.3],
      [0.4, 0.5],
    ],
    [
      [1, 0, 1],
      [1, 1],
    ],
    { gamma: 1, lambda: 1 },
  );
  const vals = [advantages[0][0], advantages[0][2], advantages[1][0], advantages[1][1]];
  const mean = vals.reduce((a, b) => a + b, 0) / 4;
  const v = vals.reduce((a, b) => a + (b - mean) ** 2, 0) / 3;
  assert.ok(Math.abs(mean) < 1e-6);
  assert.ok(Math.abs(v - 1) < 1e-5, `variance ${v}`);
  assert.equal(advantages[0][1], 0);
  // raw: seq0 [0.9, -, 0.7], seq1 [1.6, 1.5] → whitened order preserved
  assert.ok(
    advantages[1][0] > advantages[1][1] &&
      advantages[1][1] > advantages[0][0] &&
      advantages[0][0] > advantages[0][2],
  );
});

test('GRPO by hand: (r − mean)/(std_unbiased + ε); singleton keeps its score; ties give 0', () => {
  const scores = [1, 0, 0, 0.5, 1, 1];
  const groups = ['a', 'a', 'a', 'b', 'c', 'c'];
  const s = Math.sqrt(1 / 3);
  const adv = grpoAdvantages(scores, groups, { normByStd: true, eps: 1e-6 });
  close(
    adv,
    [2 / 3 / (s + 1e-6), -(1 / 3) / (s + 1e-6), -(1 / 3) / (s + 1e-6), 0.5 / (1 + 1e-6), 0, 0],
    1e-9,
  );
  const noStd = grpoAdvantages(scores, groups, { normByStd: false, eps: 1e-6 });
  close(noStd, [2 / 3, -1 / 3, -1 / 3, 0.5, 0, 0], 1e-12);
});

test('GRPO group ids are taken from the data, not from positions', () => {
  // Same scores, interleaved groups: a = {0, 2}, b = {1, 3}.
  const adv = grpoAdvantages([1, 1, 0, 0], ['a', 'b', 'a', 'b'], { normByStd: false, eps: 0 });
  close(adv, [0.5, 0.5, -0.5, -0.5]);
});

test('RLOO by hand: r_i − mean of the others', () => {
  close(rlooAdvantages([1, 0, 0, 3], [0, 0, 0, 1]), [1, -0.5, -0.5, 3]);
  close(rlooAdvantages([1, 2, 4], [7, 7, 7]), [1 - 3, 2 - 2.5, 4 - 1.5]);
});

test('REINFORCE++: discounted returns over policy tokens, then whitened', () => {
  const rewards = [
    [0, 0, 0, 1],
    [0, 0.5],
  ];
  const masks = [
    [1, 1, 0, 1],
    [1, 1],
  ];
  const { returns, advantages } = reinforcePlusPlusAdvantages(rewards, masks, 0.5);
  close(returns[0], [0.25, 0.5, 0, 1]);
  close(returns[1], [0.25, 0.5]);
  const expected = maskedWhiten(returns, masks);
  close(advantages[0], Array.from(expected[0]));
  close(advantages[1], Array.from(expected[1]));
});

test('outcome reward sits on the last policy token; broadcast fills policy tokens only', () => {
  const masks = [
    [1, 1, 0, 0],
    [0, 0],
    [1, 0, 1],
  ];
  const r = placeOutcomeRewards([2, 3, 4], masks);
  close(r[0], [0, 2, 0, 0]);
  close(r[1], [0, 0]);
  close(r[2], [0, 0, 4]);
  const b = broadcastToTokens([1.5, 2, -1], masks);
  close(b[0], [1.5, 1.5, 0, 0]);
  close(b[2], [-1, 0, -1]);
});

test('DAPO: groups whose scores are all equal carry no signal', () => {
  const keep = groupsWithSignal([1, 1, 0, 1, 0, 0], ['a', 'a', 'b', 'b', 'c', 'c']);
  assert.deepEqual([...keep], ['b']);
});
