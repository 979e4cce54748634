// Client for any Search-R1-compatible `/retrieve` server (the reference FastAPI servers, ours).
// Timeouts per attempt; connection errors, timeouts, 429 and 5xx are retried under the shared
// retry policy (src/core/retry.ts: exponential backoff with full jitter inside a time budget,
// default 10 min, `--retry-budget` / SEARCH_R1_RETRY_BUDGET; a Retry-After header is honoured);
// 4xx other than 429 fail at once. The final error names the URL. See docs/faults.md.
import type { Hit, Retriever } from '../core/retriever.ts';
import { fromWireResponse } from './wire.ts';
import { giveUpNote, parseRetryAfter, retryPolicy, withRetries, type RetryHooks } from '../core/retry.ts';

export interface RemoteRetrieverOptions {
  /** Per-attempt timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Cap on retries after the first attempt (default: none, only the time budget limits). */
  retries?: number;
  /** Total retry budget in ms (default: --retry-budget, $SEARCH_R1_RETRY_BUDGET, or 10 min). */
  budgetMs?: number;
  /** First backoff ceiling in ms (default 500); doubles each retry, capped by maxBackoffMs (default 30 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Queries per request; larger batches are split (default 256). */
  batchSize?: number;
  /** Ask for scores (default true; with false, hits get -rank as score). */
  returnScores?: boolean;
  /** Injected for tests: random in [0,1), sleep, the log of waits (default stderr), a hook per retry. */
  random?: RetryHooks['random'];
  sleep?: RetryHooks['sleep'];
  log?: RetryHooks['log'];
  onRetry?: RetryHooks['onRetry'];
}

export class RemoteRetrieverError extends Error {
  constructor(
    readonly url: string,
    readonly attempts: number,
    readonly causeText: string,
    readonly status?: number,
  ) {
    super(`POST ${url} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${causeText}`);
    this.name = 'RemoteRetrieverError';
  }
}

/** `http://host:8000` or `http://host:8000/retrieve` → the /retrieve endpoint. */
export function retrieveEndpoint(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`invalid retriever URL: ${JSON.stringify(url)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error(`invalid retriever URL (http/https only): ${url}`);
  if (!u.pathname.endsWith('/retrieve')) u.pathname = u.pathname.replace(/\/+$/, '') + '/retrieve';
  return u.toString();
}

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

export class RemoteRetriever implements Retriever {
  readonly endpoint: string;
  private readonly timeoutMs: number;
  private readonly batchSize: number;
  private readonly returnScores: boolean;

  constructor(
    url: string,
    private readonly opts: RemoteRetrieverOptions = {},
  ) {
    this.endpoint = retrieveEndpoint(url);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.batchSize = opts.batchSize ?? 256;
    this.returnScores = opts.returnScores ?? true;
  }

  async search(queries: string[], topk: number): Promise<Hit[][]> {
    const out: Hit[][] = [];
    for (let i = 0; i < queries.length; i += this.batchSize) {
      const batch = queries.slice(i, i + this.batchSize);
      out.push(...(await this.request(batch, topk)));
    }
    return out;
  }

  private request(queries: string[], topk: number): Promise<Hit[][]> {
    const body = JSON.stringify({ queries, topk, return_scores: this.returnScores });
    const o = this.opts;
    return withRetries(
      `POST ${this.endpoint}`,
      (n) =>
        this.attempt(body, queries.length).catch((e: unknown) => {
          // A permanent failure (4xx, a bad response) on attempt n: report n attempts.
          if (e instanceof RemoteRetrieverError)
            throw new RemoteRetrieverError(this.endpoint, n, e.causeText, e.status);
          throw e;
        }),
      (e) => (e instanceof Retryable ? { cause: e.message, retryAfterMs: e.retryAfterMs } : null),
      retryPolicy({
        budgetMs: o.budgetMs,
        initialDelayMs: o.backoffMs,
        maxDelayMs: o.maxBackoffMs,
        maxRetries: o.retries,
      }),
      {
        random: o.random,
        sleep: o.sleep,
        log: o.log,
        onRetry: o.onRetry,
        giveUp: (info) =>
          new RemoteRetrieverError(this.endpoint, info.attempts, info.cause + giveUpNote(info)),
      },
    );
  }

  private async attempt(body: string, expected: number): Promise<Hit[][]> {
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError')
        throw new Retryable(`timed out after ${this.timeoutMs} ms`);
      const why = err.cause?.code ?? err.cause?.message ?? err.message;
      throw new Retryable(`connection error: ${why}`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      const err = e as Error;
      throw new Retryable(
        err.name === 'TimeoutError'
          ? `timed out after ${this.timeoutMs} ms reading the body`
          : `connection error while reading the body: ${err.message}`,
      );
    }
    if (res.status >= 500 || res.status === 429)
      throw new Retryable(
        `HTTP ${res.status}: ${text.slice(0, 300)}`,
        parseRetryAfter(res.headers.get('retry-after')),
      );
    if (res.status !== 200)
      throw new RemoteRetrieverError(
        this.endpoint,
        1,
        `HTTP ${res.status}: ${text.slice(0, 300)}`,
        res.status,
      );
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new RemoteRetrieverError(this.endpoint, 1, `response is not JSON: ${text.slice(0, 200)}`);
    }
    let hits: Hit[][];
    try {
      hits = fromWireResponse(json);
    } catch (e) {
      throw new RemoteRetrieverError(
        this.endpoint,
        1,
        `unexpected response shape: ${(e as Error).message.slice(0, 300)}`,
      );
    }
    if (hits.length !== expected) {
      throw new RemoteRetrieverError(
        this.endpoint,
        1,
        `response has ${hits.length} result lists for ${expected} queries`,
      );
    }
    return hits;
  }
}
