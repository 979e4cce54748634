// Client for any Search-R1-compatible `/retrieve` server (the reference FastAPI servers, ours).
// Timeouts per attempt, retries with exponential backoff and full jitter on connection errors,
// timeouts, 429 and 5xx; 4xx other than 429 fail at once. The final error names the URL.
import type { Hit, Retriever } from './types.ts';
import { fromWireResponse } from './wire.ts';

export interface RemoteRetrieverOptions {
  /** Per-attempt timeout in ms (default 30 s). */
  timeoutMs?: number;
  /** Retries after the first attempt (default 4). */
  retries?: number;
  /** First backoff in ms (default 200); doubles each retry, capped by maxBackoffMs (default 5 s). */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Queries per request; larger batches are split (default 256). */
  batchSize?: number;
  /** Ask for scores (default true; with false, hits get -rank as score). */
  returnScores?: boolean;
  /** Injected for tests: random in [0,1) and sleep. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each retry. */
  onRetry?: (attempt: number, delayMs: number, cause: string) => void;
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

class Retryable extends Error {}

export class RemoteRetriever implements Retriever {
  readonly endpoint: string;
  private readonly o: Required<Omit<RemoteRetrieverOptions, 'onRetry'>> &
    Pick<RemoteRetrieverOptions, 'onRetry'>;

  constructor(url: string, opts: RemoteRetrieverOptions = {}) {
    this.endpoint = retrieveEndpoint(url);
    this.o = {
      timeoutMs: opts.timeoutMs ?? 30_000,
      retries: opts.retries ?? 4,
      backoffMs: opts.backoffMs ?? 200,
      maxBackoffMs: opts.maxBackoffMs ?? 5_000,
      batchSize: opts.batchSize ?? 256,
      returnScores: opts.returnScores ?? true,
      random: opts.random ?? Math.random,
      sleep: opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
      onRetry: opts.onRetry,
    };
  }

  async search(queries: string[], topk: number): Promise<Hit[][]> {
    const out: Hit[][] = [];
    for (let i = 0; i < queries.length; i += this.o.batchSize) {
      const batch = queries.slice(i, i + this.o.batchSize);
      out.push(...(await this.request(batch, topk)));
    }
    return out;
  }

  private async request(queries: string[], topk: number): Promise<Hit[][]> {
    const body = JSON.stringify({ queries, topk, return_scores: this.o.returnScores });
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        return await this.attempt(body, queries.length);
      } catch (e) {
        const retryable = e instanceof Retryable;
        const cause = (e as Error).message;
        if (!retryable || attempt > this.o.retries) {
          if (e instanceof RemoteRetrieverError)
            throw new RemoteRetrieverError(this.endpoint, attempt, e.causeText, e.status);
          throw new RemoteRetrieverError(this.endpoint, attempt, cause);
        }
        // Full jitter: uniform in [0, min(cap, base·2^(attempt-1))].
        const ceiling = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** (attempt - 1));
        const delay = Math.round(this.o.random() * ceiling);
        this.o.onRetry?.(attempt, delay, cause);
        await this.o.sleep(delay);
      }
    }
  }

  private async attempt(body: string, expected: number): Promise<Hit[][]> {
    let res: Response;
    try {
      res = await fetch(this.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (e) {
      const err = e as Error & { cause?: { code?: string; message?: string } };
      if (err.name === 'TimeoutError' || err.name === 'AbortError')
        throw new Retryable(`timed out after ${this.o.timeoutMs} ms`);
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
          ? `timed out after ${this.o.timeoutMs} ms reading the body`
          : `connection error while reading the body: ${err.message}`,
      );
    }
    if (res.status >= 500 || res.status === 429)
      throw new Retryable(`HTTP ${res.status}: ${text.slice(0, 300)}`);
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
