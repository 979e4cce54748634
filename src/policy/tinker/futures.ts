// Futures (docs/tinker-api.md §2): a heavy call returns `{request_id}` at once; the result is fetched by
// polling `retrieve_future`. 408 = long-poll timeout → poll again at once; 410 = promise expired →
// resubmit the original request; `{error, category}` = terminal failure.
import type { z } from 'zod';
import { TinkerHttpError, errorDetail, parseBody, type TinkerHttp } from './http.ts';
import { CompleteMetadata, FutureError, UntypedAck } from './wire.ts';

export class TinkerFutureError extends Error {
  constructor(
    readonly path: string,
    readonly category: 'unknown' | 'server' | 'user',
    readonly detail: string,
  ) {
    super(`tinker ${path} failed (${category === 'user' ? 'bad request' : `${category} error`}): ${detail}`);
    this.name = 'TinkerFutureError';
  }
}

export interface FutureOptions {
  /** Per-poll timeout; the SDK uses 45 s. A client-side timeout counts as a 408. */
  pollTimeoutMs?: number;
  /** How many times a 410 may make us resubmit (default 3). */
  maxResubmits?: number;
}

const POLL_PASS_THROUGH = new Set([400, 404, 408, 410]);

/** POSTs the request and returns its acknowledgement (request_id). */
export async function submit(http: TinkerHttp, path: string, body: unknown): Promise<string> {
  const ack = await http.post(path, body, UntypedAck);
  return ack.request_id;
}

/**
 * Polls one request id until it resolves. Returns 'expired' on 410 so the caller can resubmit.
 */
export async function poll<S extends z.ZodType>(
  http: TinkerHttp,
  path: string,
  requestId: string,
  schema: S,
  opts: FutureOptions = {},
): Promise<z.output<S> | 'expired'> {
  const pollTimeoutMs = opts.pollTimeoutMs ?? 45_000;
  let quickPolls = 0;
  let badRequests = 0;
  for (;;) {
    const started = Date.now();
    let res;
    try {
      res = await http.request(
        'POST',
        'retrieve_future',
        { request_id: requestId, allow_metadata_only: false },
        { timeoutMs: pollTimeoutMs, passThrough: POLL_PASS_THROUGH },
      );
    } catch (err) {
      // Our own long-poll timeout: same as a 408, poll again at once.
      if ((err as Error).name === 'TimeoutError') continue;
      throw err;
    }
    if (res.status === 408) continue;
    if (res.status === 410) return 'expired';
    if (res.status === 404) {
      throw new TinkerHttpError(404, path, `unknown request_id ${requestId}: ${errorDetail(res.body, '')}`);
    }
    if (res.status === 400) {
      // The SDK retries a 400 up to 3 times; SkyRL reports failed requests this way.
      if (++badRequests >= 3) {
        throw new TinkerFutureError(path, 'user', errorDetail(res.body, 'HTTP 400'));
      }
      continue;
    }
    const body = res.body;
    // As the SDK: pending is `type == "try_again"` alone (queue fields may be missing), and any
    // body with an `error` field is a failure.
    const isObj = typeof body === 'object' && body !== null;
    if (isObj && (body as { type?: unknown }).type === 'try_again') {
      // A server that long-polls already waited; one that answers at once gets a short backoff.
      if (Date.now() - started < 200) {
        await http.sleep(Math.min(1000, 20 * 2 ** Math.min(quickPolls++, 6)));
      } else quickPolls = 0;
      continue;
    }
    if (isObj && 'error' in body) {
      const failure = FutureError.safeParse(body);
      if (failure.success) throw new TinkerFutureError(path, failure.data.category, failure.data.error);
      throw new TinkerFutureError(path, 'unknown', JSON.stringify((body as { error: unknown }).error));
    }
    if (CompleteMetadata.safeParse(body).success) continue; // we always ask for the full payload
    return parseBody(schema, body, `${path} result`);
  }
}

/** Submit + poll, resubmitting the original request when the future expires (410). */
export async function call<S extends z.ZodType>(
  http: TinkerHttp,
  path: string,
  body: unknown,
  schema: S,
  opts: FutureOptions = {},
  firstRequestId?: Promise<string>,
): Promise<z.output<S>> {
  const maxResubmits = opts.maxResubmits ?? 3;
  let requestId = await (firstRequestId ?? submit(http, path, body));
  for (let resubmits = 0; ; resubmits++) {
    const out = await poll(http, path, requestId, schema, opts);
    if (out !== 'expired') return out;
    if (resubmits >= maxResubmits) {
      throw new Error(`tinker ${path}: result expired (410) ${maxResubmits + 1} times; giving up`);
    }
    http.log(`${path}: request ${requestId} expired (410); resubmitting`);
    requestId = await submit(http, path, body);
  }
}
