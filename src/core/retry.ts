// One retry policy for every client of a remote service (the remote retriever, the
// OpenAI-compatible sampler; offered to the Tinker client): exponential backoff with full jitter
// inside a total time budget, so a service that restarts for a few seconds costs a few seconds and
// a service that is gone fails with a clear error after minutes, not after a second.
// Each wait is logged ("what, why, how long, how much budget is left"); so is the recovery.
// Behaviour and knobs: docs/faults.md. This file imports nothing of ours (it sits in src/core).

export interface RetryPolicy {
  /** Total time in ms, from the first failure of a call, after which the last error is raised. */
  budgetMs: number;
  /** Ceiling of the first backoff in ms; doubles each retry up to maxDelayMs (full jitter under it). */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Optional cap on retries after the first attempt; undefined: only the budget limits. */
  maxRetries?: number;
}

/** Default budget: 10 minutes (a restarting retriever / inference server, a rolling deploy). */
export const DEFAULT_RETRY_BUDGET_S = 600;
export const RETRY_BUDGET_ENV = 'SEARCH_R1_RETRY_BUDGET';

let budgetOverrideS: number | undefined;

/** Parses a budget in seconds (a finite number ≥ 0); `where` names the flag or variable. */
export function parseRetryBudget(text: string, where: string): number {
  const s = Number(text);
  if (text.trim() === '' || !Number.isFinite(s) || s < 0)
    throw new Error(`${where}: expected a number of seconds ≥ 0, got ${JSON.stringify(text)}`);
  return s;
}

/** Process-wide budget set by the CLI's `--retry-budget SECONDS` (wins over the env variable). */
export function setRetryBudgetSeconds(seconds: number | undefined): void {
  budgetOverrideS = seconds;
}

/** The budget in ms: `--retry-budget`, else $SEARCH_R1_RETRY_BUDGET, else 600 s. */
export function defaultRetryBudgetMs(env: Record<string, string | undefined> = process.env): number {
  if (budgetOverrideS !== undefined) return budgetOverrideS * 1000;
  const v = env[RETRY_BUDGET_ENV];
  if (v !== undefined && v !== '') return parseRetryBudget(v, RETRY_BUDGET_ENV) * 1000;
  return DEFAULT_RETRY_BUDGET_S * 1000;
}

/** The policy with defaults filled in: budget as above, backoff 0.5 s doubling up to 30 s. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const p: RetryPolicy = {
    budgetMs: overrides.budgetMs ?? defaultRetryBudgetMs(),
    initialDelayMs: overrides.initialDelayMs ?? 500,
    maxDelayMs: overrides.maxDelayMs ?? 30_000,
  };
  if (overrides.maxRetries !== undefined) p.maxRetries = overrides.maxRetries;
  return p;
}

/** Why a failed attempt may be retried; `retryAfterMs` from a server's Retry-After header. */
export interface Transient {
  cause: string;
  retryAfterMs?: number;
}

/** Injected for tests; defaults: Math.random, setTimeout, performance.now, a line on stderr. */
export interface RetryHooks {
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  log?: (line: string) => void;
  /** Called before each wait (attempt = the attempt that failed, 1-based). */
  onRetry?: (attempt: number, delayMs: number, cause: string) => void;
}

export interface GiveUp {
  attempts: number;
  cause: string;
  elapsedMs: number;
  /** True when the time budget (not maxRetries) ended the retries. */
  budgetSpent: boolean;
}

/** Raised by withRetries when it gives up (unless the caller builds its own error). */
export class RetriesExhaustedError extends Error {
  constructor(
    readonly what: string,
    readonly info: GiveUp,
  ) {
    super(`${what} failed after ${plural(info.attempts, 'attempt')}: ${info.cause}${giveUpNote(info)}`);
    this.name = 'RetriesExhaustedError';
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The tail of a give-up message: how long it tried and how to try longer. */
export function giveUpNote(info: GiveUp): string {
  if (!info.budgetSpent) return '';
  return ` (gave up after ${formatSeconds(info.elapsedMs)}, the retry budget; raise it with --retry-budget SECONDS or ${RETRY_BUDGET_ENV})`;
}

export function formatSeconds(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const whole = Math.round(s);
  return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`;
}

/** The ceiling of the backoff after `attempt` failures: initial·2^(attempt-1), capped. */
export function backoffCeilingMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 40));
}

/** Seconds or an HTTP date in a Retry-After header → ms (undefined when absent or unreadable). */
export function parseRetryAfter(value: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  const s = Number(value);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const t = Date.parse(value);
  return Number.isFinite(t) ? Math.max(0, t - nowMs) : undefined;
}

/**
 * Runs `attempt` until it succeeds, `classify` says an error is permanent (returns null: rethrown
 * as is), or the policy is spent (then `giveUp(info)` or a RetriesExhaustedError is thrown).
 * `what` names the call in logs and errors ("POST http://host/retrieve").
 */
export async function withRetries<T>(
  what: string,
  attempt: (n: number) => Promise<T>,
  classify: (err: unknown) => Transient | null,
  policy: RetryPolicy,
  hooks: RetryHooks & { giveUp?: (info: GiveUp) => Error } = {},
): Promise<T> {
  const random = hooks.random ?? Math.random;
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = hooks.now ?? (() => performance.now());
  const log = hooks.log ?? ((line: string) => process.stderr.write(line + '\n'));
  let firstFailure: number | undefined;
  for (let n = 1; ; n++) {
    try {
      const out = await attempt(n);
      if (firstFailure !== undefined)
        log(`retry: ${what} is back after ${formatSeconds(now() - firstFailure)} (${plural(n, 'attempt')})`);
      return out;
    } catch (err) {
      const t = classify(err);
      if (t === null) throw err;
      const at = now();
      firstFailure ??= at;
      const elapsed = at - firstFailure;
      const left = policy.budgetMs - elapsed;
      const capped = policy.maxRetries !== undefined && n > policy.maxRetries;
      if (capped || left <= 0) {
        const info: GiveUp = { attempts: n, cause: t.cause, elapsedMs: elapsed, budgetSpent: !capped };
        throw hooks.giveUp ? hooks.giveUp(info) : new RetriesExhaustedError(what, info);
      }
      // Full jitter (uniform under the ceiling); a server's Retry-After is a floor; never past the budget.
      let delay = Math.round(random() * backoffCeilingMs(policy, n));
      if (t.retryAfterMs !== undefined) delay = Math.max(delay, Math.round(t.retryAfterMs));
      delay = Math.min(delay, Math.max(0, Math.ceil(left)));
      hooks.onRetry?.(n, delay, t.cause);
      log(
        `retry: ${what}: ${t.cause}; waiting ${formatSeconds(delay)} before attempt ${n + 1}` +
          ` (${formatSeconds(left)} of the ${formatSeconds(policy.budgetMs)} retry budget left)`,
      );
      await sleep(delay);
    }
  }
}
