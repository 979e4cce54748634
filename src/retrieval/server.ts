// `search-r1 serve`: any Retriever behind the Search-R1 `/retrieve` API (node:http + zod).
// Wire-compatible with the reference FastAPI server, minus its crash on `return_scores: false`.
// Hardening: body-size limit, validation with JSON error bodies, a concurrency limit with a
// bounded queue (503 beyond it), request timeouts, graceful close (in-flight requests finish).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Retriever } from '../core/retriever.ts';
import { DEFAULT_WIRE_LIMITS, retrieveRequestSchema, toWireResult, type WireLimits } from './wire.ts';

export interface RetrievalServerOptions {
  /** TCP port (default 8000, the reference's; 0 picks a free one). */
  port?: number;
  /** Bind address (default 127.0.0.1; use 0.0.0.0 to expose). */
  host?: string;
  /** topk when a request gives none (reference: retrieval_topk = 3). */
  defaultTopk?: number;
  /** Largest accepted request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Searches running at once (default 4); more wait in a queue of maxQueue, beyond that 503. */
  maxConcurrency?: number;
  maxQueue?: number;
  /** Per-request socket time limit in ms (default 60 s). */
  requestTimeoutMs?: number;
  limits?: Partial<WireLimits>;
  /** Access/error log sink (default: none). */
  log?: (line: string) => void;
  /** Close gracefully on SIGTERM/SIGINT (the CLI sets this). */
  handleSignals?: boolean;
  /** Grace period for in-flight requests on close before connections are cut (default 10 s). */
  closeGraceMs?: number;
}

export interface RetrievalServer {
  readonly server: Server;
  readonly port: number;
  /** Base URL, e.g. http://127.0.0.1:8000 (POST `${url}/retrieve`). */
  readonly url: string;
  /** Stop accepting; in-flight requests finish (up to the grace period). The caller owns (and closes) the retriever. */
  close(): Promise<void>;
  /** Resolves once the server has closed (by close() or a signal). */
  readonly closed: Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

/** Counting semaphore with a bounded wait queue. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly max: number,
    private readonly maxQueue: number,
  ) {}
  get inflight(): number {
    return this.active;
  }
  get queued(): number {
    return this.waiting.length;
  }
  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    if (this.waiting.length >= this.maxQueue)
      throw new HttpError(503, 'server busy: too many concurrent requests');
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next)
      next(); // hand the slot over: active stays the same
    else this.active--;
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(data),
    ...extraHeaders,
  });
  res.end(data);
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${maxBytes}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > maxBytes) {
        failed = true;
        reject(new HttpError(413, `request body exceeds the limit of ${maxBytes} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (e) => {
      if (!failed) reject(new HttpError(400, `bad request body: ${e.message}`));
      failed = true;
    });
  });
}

/** Start serving `retriever`. The returned server owns no reference to close the retriever. */
export async function startRetrievalServer(
  retriever: Retriever,
  opts: RetrievalServerOptions = {},
): Promise<RetrievalServer> {
  const limits: WireLimits = { ...DEFAULT_WIRE_LIMITS, ...opts.limits };
  const schema = retrieveRequestSchema(limits);
  const defaultTopk = opts.defaultTopk ?? 3;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const limiter = new Limiter(opts.maxConcurrency ?? 4, opts.maxQueue ?? 1024);
  const log = opts.log ?? (() => {});
  let closing = false;

  const handleRetrieve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req, maxBody);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new HttpError(400, `malformed JSON: ${(e as Error).message}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => ({
        path: i.path.map(String).join('.'),
        message: i.message,
      }));
      throw new HttpError(
        422,
        `invalid request: ${detail.map((d) => `${d.path || '(body)'}: ${d.message}`).join('; ')}`,
        detail,
      );
    }
    const { queries } = parsed.data;
    const topk = parsed.data.topk ?? defaultTopk;
    const returnScores = parsed.data.return_scores ?? false;
    await limiter.acquire();
    let hits;
    try {
      hits = await retriever.search(queries, topk);
    } catch (e) {
      log(`search failed: ${(e as Error).message}`);
      throw new HttpError(502, `retriever failed: ${(e as Error).message}`);
    } finally {
      limiter.release();
    }
    if (!Array.isArray(hits) || hits.length !== queries.length) {
      throw new HttpError(
        500,
        `retriever returned ${Array.isArray(hits) ? hits.length : 'no'} result lists for ${queries.length} queries`,
      );
    }
    sendJson(res, 200, { result: toWireResult(hits, returnScores) });
  };

  const server = createServer((req, res) => {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const done = (status: number): void =>
      log(`${req.method} ${path} ${status} ${(performance.now() - t0).toFixed(1)}ms`);
    const fail = (e: unknown): void => {
      const err =
        e instanceof HttpError
          ? e
          : new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`);
      const headers: Record<string, string> = {};
      if (err.status === 503) headers['retry-after'] = '1';
      if (err.status === 413) headers.connection = 'close'; // do not read the rest of a huge body
      sendJson(
        res,
        err.status,
        err.detail === undefined ? { error: err.message } : { error: err.message, detail: err.detail },
        headers,
      );
      if (err.status === 413) res.on('finish', () => req.destroy());
      done(err.status);
    };
    if (closing) res.setHeader('connection', 'close');
    // A keep-alive connection whose request was in flight when close() began: end it once the
    // response is out, or server.close() would wait for the idle timeout.
    res.on('finish', () => {
      if (closing) req.socket.end();
    });
    if (path === '/health') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(new HttpError(405, 'use GET /health'));
      sendJson(res, 200, {
        status: closing ? 'closing' : 'ok',
        inflight: limiter.inflight,
        queued: limiter.queued,
      });
      return done(200);
    }
    if (path === '/retrieve') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return fail(new HttpError(405, 'use POST /retrieve'));
      }
      handleRetrieve(req, res).then(() => done(200), fail);
      return;
    }
    fail(new HttpError(404, `no route ${path}; endpoints: POST /retrieve, GET /health`));
  });
  server.requestTimeout = opts.requestTimeoutMs ?? 60_000;
  server.headersTimeout = Math.min(server.requestTimeout, 30_000);
  server.keepAliveTimeout = 5_000;
  server.on('clientError', (err, socket) => {
    // Unparseable HTTP: answer 400 if the socket is still writable, then drop it.
    if (socket.writable && !(err as NodeJS.ErrnoException).code?.startsWith('ECONNRESET')) {
      socket.end(
        'HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{"error":"malformed HTTP request"}',
      );
    } else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8000, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;

  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  let closePromise: Promise<void> | null = null;
  const close = (): Promise<void> => {
    if (closePromise) return closePromise;
    closing = true;
    closePromise = new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), opts.closeGraceMs ?? 10_000);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      server.closeIdleConnections();
    }).then(() => {
      if (opts.handleSignals) {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
      }
      resolveClosed();
    });
    return closePromise;
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: closing (in-flight requests finish first)`);
    void close();
  };
  if (opts.handleSignals) {
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  return { server, port: addr.port, url: `http://${host}:${addr.port}`, close, closed };
}
