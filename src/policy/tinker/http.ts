// JSON over HTTP with the Tinker SDK's retry policy (docs/tinker-api.md §1): retry 408, 429, ≥500 and
// dropped connections with exponential backoff (0.5 s → 10 s), honouring `Retry-After` /
// `retry-after-ms` (≤ 60 s) and `x-should-retry`. Responses are validated with zod.
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { ErrorBody, describeIssues } from './wire.ts';

export interface HttpOptions {
  baseUrl: string;
  apiKey?: string;
  /** Total attempts per call (default 10, as the SDK). */
  maxAttempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Per-attempt timeout (default 60 s); retrieve_future passes its own long-poll timeout. */
  timeoutMs?: number;
  /** Injected for tests (records the delays asked for). */
  sleep?: (ms: number) => Promise<void>;
  /** Warnings such as "retrying after 429" (default: stderr). */
  log?: (msg: string) => void;
}

/** A non-retryable HTTP failure, with the server's message. */
export class TinkerHttpError extends Error {
  constructor(
    readonly status: number,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`tinker ${path}: HTTP ${status}: ${detail}`);
    this.name = 'TinkerHttpError';
  }
}

export interface RawResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

// 409 too, as the SDK (a conflict that persists fails once the retries run out).
const RETRY_STATUSES = new Set([408, 409, 429]);

export const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Delay asked for by the server, in ms, when it is ≤ 60 s (the SDK's rule). */
export function retryAfterMs(headers: Headers): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && Number.isFinite(Number(ms)) && Number(ms) >= 0 && Number(ms) <= 60_000) {
    return Number(ms);
  }
  const s = headers.get('retry-after');
  if (s !== null) {
    const secs = Number(s);
    const delay = Number.isFinite(secs) ? secs * 1000 : Date.parse(s) - Date.now();
    if (Number.isFinite(delay) && delay >= 0 && delay <= 60_000) return delay;
  }
  return null;
}

export function errorDetail(body: unknown, fallback: string): string {
  const parsed = ErrorBody.safeParse(body);
  if (parsed.success) {
    const d = parsed.data.detail;
    return typeof d === 'string' ? d : d.map((x) => `${(x.loc ?? []).join('.')}: ${x.msg}`).join('; ');
  }
  if (body && typeof body === 'object' && 'error' in body) return String(body.error);
  return fallback;
}

export class TinkerHttp {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly maxAttempts: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly log: (msg: string) => void;

  constructor(opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.apiKey = opts.apiKey;
    this.maxAttempts = opts.maxAttempts ?? 10;
    this.initialBackoffMs = opts.initialBackoffMs ?? 500;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    this.sleep = opts.sleep ?? defaultSleep;
    this.log = opts.log ?? ((m) => process.stderr.write(`tinker: ${m}\n`));
  }

  url(path: string): string {
    return `${this.baseUrl}/api/v1/${path.replace(/^\/+/, '')}`;
  }

  /** One attempt; network errors throw. */
  async once(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    timeoutMs = this.timeoutMs,
    idempotencyKey?: string,
  ): Promise<RawResponse> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.apiKey) headers['x-api-key'] = this.apiKey;
    if (method === 'POST') {
      headers['content-type'] = 'application/json';
      if (idempotencyKey) headers['x-idempotency-key'] = idempotencyKey;
    }
    const res = await fetch(this.url(path), {
      method,
      headers,
      body: method === 'POST' ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let json: unknown = null;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = { detail: text.slice(0, 500) };
      }
    }
    return { status: res.status, headers: res.headers, body: json };
  }

  backoffMs(attempt: number): number {
    // 0.5 s, 1 s, 2 s, … capped, with ±25 % jitter so many clients do not retry in lock-step.
    const base = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** attempt);
    return base * (0.75 + 0.5 * Math.random());
  }

  /**
   * Sends with retries. `passThrough` statuses are returned to the caller instead of being
   * retried or thrown (retrieve_future handles 408/410 itself).
   */
  async request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    opts: { timeoutMs?: number; passThrough?: ReadonlySet<number> } = {},
  ): Promise<RawResponse> {
    const idempotencyKey = randomUUID(); // same key on every retry of this call
    let lastError = '';
    for (let attempt = 0; attempt < this.maxAttempts; attempt++) {
      let res: RawResponse;
      try {
        res = await this.once(method, path, body, opts.timeoutMs, idempotencyKey);
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        lastError = `${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ''}`;
        if (attempt === this.maxAttempts - 1) break;
        const delay = this.backoffMs(attempt);
        this.log(`${path}: connection failed: ${lastError}; retrying in ${Math.round(delay)} ms`);
        await this.sleep(delay);
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      if (opts.passThrough?.has(res.status)) return res;
      const shouldRetry = res.headers.get('x-should-retry');
      const retryable =
        shouldRetry === 'true' ||
        (shouldRetry !== 'false' && (RETRY_STATUSES.has(res.status) || res.status >= 500));
      lastError = `HTTP ${res.status}: ${errorDetail(res.body, 'no detail')}`;
      if (!retryable) throw new TinkerHttpError(res.status, path, errorDetail(res.body, 'no detail'));
      if (attempt === this.maxAttempts - 1) break;
      const delay = retryAfterMs(res.headers) ?? this.backoffMs(attempt);
      this.log(`${path}: ${lastError}; retrying in ${Math.round(delay)} ms`);
      await this.sleep(delay);
    }
    throw new Error(`tinker ${path}: gave up after ${this.maxAttempts} attempts: ${lastError}`);
  }

  /** POST (with retries) and validate the 2xx body against `schema`. */
  async post<S extends z.ZodType>(path: string, body: unknown, schema: S): Promise<z.output<S>> {
    const res = await this.request('POST', path, body);
    return parseBody(schema, res.body, path);
  }

  async get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    const res = await this.request('GET', path, undefined);
    return parseBody(schema, res.body, path);
  }
}

export function parseBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    throw new Error(`tinker ${what}: unexpected response: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}
