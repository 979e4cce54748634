// The shared retry policy (src/core/retry.ts) on a virtual clock: backoff ceilings, full jitter,
// the time budget, Retry-After, permanent errors, and what is logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backoffCeilingMs,
  defaultRetryBudgetMs,
  parseRetryAfter,
  parseRetryBudget,
  retryPolicy,
  RetriesExhaustedError,
  setRetryBudgetSeconds,
  withRetries,
} from '../../src/core/retry.ts';

function virtualClock() {
  let t = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => t,
    sleep: async (ms: number) => {
      waits.push(ms);
      t += ms;
    },
    advance: (ms: number) => (t += ms),
  };
}

test('backoff ceilings double from the initial delay up to the cap; full jitter scales them', async () => {
  const p = retryPolicy({ budgetMs: 1e9, initialDelayMs: 100, maxDelayMs: 1000 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffCeilingMs(p, n)),
    [100, 200, 400, 800, 1000, 1000],
  );
  const clock = virtualClock();
  let calls = 0;
  const lines: string[] = [];
  const out = await withRetries(
    'GET http://x/y',
    async () => {
      if (++calls < 6) throw new Error('ECONNREFUSED');
      return 'ok';
    },
    (e) => ({ cause: (e as Error).message }),
    p,
    { random: () => 0.5, sleep: clock.sleep, now: clock.now, log: (l) => lines.push(l) },
  );
  assert.equal(out, 'ok');
  assert.deepEqual(clock.waits, [50, 100, 200, 400, 500]);
  assert.equal(lines.length, 6, lines.join('\n'));
  assert.match(lines[0], /^retry: GET http:\/\/x\/y: ECONNREFUSED; waiting 0\.1 s before attempt 2 \(/);
  assert.match(lines[5], /^retry: GET http:\/\/x\/y is back after 1\.3 s \(6 attempts\)$/);
});

test('the budget bounds the total time: the last wait is cut to it, then a clear error', async () => {
  const clock = virtualClock();
  const p = retryPolicy({ budgetMs: 10_000, initialDelayMs: 1000, maxDelayMs: 4000 });
  let calls = 0;
  await assert.rejects(
    withRetries(
      'POST http://h/retrieve',
      async () => {
        calls++;
        clock.advance(100); // each attempt takes 100 ms
        throw new Error('refused');
      },
      (e) => ({ cause: (e as Error).message }),
      p,
      { random: () => 1, sleep: clock.sleep, now: clock.now, log: () => {} },
    ),
    (e: Error) => {
      assert.ok(e instanceof RetriesExhaustedError);
      assert.match(
        e.message,
        /^POST http:\/\/h\/retrieve failed after \d+ attempts: refused \(gave up after/,
      );
      assert.match(e.message, /--retry-budget SECONDS or SEARCH_R1_RETRY_BUDGET/);
      return true;
    },
  );
  // waits 1000, 2000, 4000, then what is left of the budget (10 000 − 7 000 − 3·100 = 2 700)
  assert.deepEqual(clock.waits, [1000, 2000, 4000, 2700]);
  assert.equal(calls, 5);
  assert.ok(clock.now() >= 10_000 && clock.now() <= 10_100 + 100);
});

test('maxRetries caps attempts; permanent errors are not retried; Retry-After is a floor', async () => {
  const clock = virtualClock();
  let calls = 0;
  await assert.rejects(
    withRetries(
      'x',
      async () => {
        calls++;
        throw new Error('503');
      },
      () => ({ cause: 'HTTP 503', retryAfterMs: 3000 }),
      retryPolicy({ budgetMs: 60_000, initialDelayMs: 10, maxRetries: 2 }),
      { random: () => 0, sleep: clock.sleep, now: clock.now, log: () => {} },
    ),
    (e: Error) => e.message === 'x failed after 3 attempts: HTTP 503',
  );
  assert.equal(calls, 3);
  assert.deepEqual(clock.waits, [3000, 3000]);
  const permanent = new Error('HTTP 422');
  await assert.rejects(
    withRetries(
      'x',
      async () => {
        throw permanent;
      },
      () => null,
      retryPolicy(),
      { sleep: clock.sleep, now: clock.now, log: () => {} },
    ),
    (e) => e === permanent,
  );
});

test('budget from --retry-budget, else SEARCH_R1_RETRY_BUDGET, else 600 s; bad values are named', () => {
  assert.equal(defaultRetryBudgetMs({}), 600_000);
  assert.equal(defaultRetryBudgetMs({ SEARCH_R1_RETRY_BUDGET: '2.5' }), 2500);
  assert.throws(
    () => defaultRetryBudgetMs({ SEARCH_R1_RETRY_BUDGET: 'ten' }),
    /SEARCH_R1_RETRY_BUDGET: expected/,
  );
  assert.throws(
    () => parseRetryBudget('-1', '--retry-budget'),
    /--retry-budget: expected a number of seconds/,
  );
  setRetryBudgetSeconds(7);
  try {
    assert.equal(defaultRetryBudgetMs({ SEARCH_R1_RETRY_BUDGET: '2.5' }), 7000);
    assert.equal(retryPolicy().budgetMs, 7000);
  } finally {
    setRetryBudgetSeconds(undefined);
  }
  assert.equal(parseRetryAfter('3'), 3000);
  assert.equal(parseRetryAfter(new Date(10_000).toUTCString(), 4_000), 6000);
  assert.equal(parseRetryAfter(null), undefined);
  assert.equal(parseRetryAfter('soon'), undefined);
});
