// The server's future machinery (docs/tinker-api.md §2): a store of futures with long-poll waiting and
// expiry (→ 410), a per-model queue that runs requests in seq_id order, an executor that runs one
// job at a time per engine instance, and the (model_id, seq_id) idempotency table (→ 409).
import { createHash } from 'node:crypto';

export type FutureCategory = 'unknown' | 'server' | 'user';

/** An error a request's execution reports to the client as `{error, category}`. */
export class FutureFailure extends Error {
  constructor(
    message: string,
    readonly category: FutureCategory = 'user',
  ) {
    super(message);
  }
}

interface FutureRecord {
  state: 'pending' | 'done' | 'failed';
  value?: unknown;
  error?: { error: string; category: FutureCategory };
  doneAt: number;
  waiters: Set<() => void>;
}

export type FutureStatus =
  | { kind: 'pending' }
  | { kind: 'done'; value: unknown }
  | { kind: 'failed'; error: { error: string; category: FutureCategory } }
  | { kind: 'expired' }
  | { kind: 'unknown' };

export class FutureStore {
  private next = 1;
  private readonly futures = new Map<string, FutureRecord>();
  private readonly expired = new Set<string>();

  /** @param ttlMs how long a finished result is kept (then its id answers 410). */
  constructor(private readonly ttlMs: number) {}

  /** Creates a future whose value is the promise's result. */
  create(work: Promise<unknown>): string {
    const id = String(this.next++);
    const rec: FutureRecord = { state: 'pending', doneAt: 0, waiters: new Set() };
    this.futures.set(id, rec);
    work.then(
      (value) => this.finish(rec, { state: 'done', value }),
      (err: unknown) => {
        const e = err as Error;
        const category = err instanceof FutureFailure ? err.category : 'server';
        if (category === 'server')
          process.stderr.write(`serve-trainer: request ${id} failed: ${e.stack ?? e.message}\n`);
        this.finish(rec, { state: 'failed', error: { error: e.message, category } });
      },
    );
    return id;
  }

  private finish(rec: FutureRecord, patch: Partial<FutureRecord>): void {
    Object.assign(rec, patch, { doneAt: Date.now() });
    for (const w of rec.waiters) w();
    rec.waiters.clear();
  }

  status(id: string): FutureStatus {
    this.sweep();
    if (this.expired.has(id)) return { kind: 'expired' };
    const rec = this.futures.get(id);
    if (!rec) return { kind: 'unknown' };
    if (rec.state === 'pending') return { kind: 'pending' };
    if (rec.state === 'failed') return { kind: 'failed', error: rec.error! };
    return { kind: 'done', value: rec.value };
  }

  /** Resolves when the future finishes or after `timeoutMs`, whichever is first. */
  wait(id: string, timeoutMs: number): Promise<void> {
    const rec = this.futures.get(id);
    if (!rec || rec.state !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        rec.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      rec.waiters.add(done);
    });
  }

  /** Forgets finished results older than the TTL (their ids then answer 410). */
  sweep(now = Date.now()): void {
    for (const [id, rec] of this.futures) {
      if (rec.state !== 'pending' && now - rec.doneAt > this.ttlMs) {
        this.futures.delete(id);
        this.expired.add(id);
      }
    }
  }
}

/** Runs jobs one at a time, in submission order (one engine instance is not re-entrant). */
export class Executor {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(job: () => Promise<T>): Promise<T> {
    const p = this.tail.then(job);
    this.tail = p.catch(() => undefined);
    return p;
  }
}

/**
 * Releases a model's requests to its executor in seq_id order. A request without seq_id runs in
 * arrival order. If the next seq_id does not arrive within `gapMs` while later ones wait, the queue
 * moves on to the lowest waiting one (a client that skipped a number must not hang the model).
 */
export class SeqQueue {
  private expected: number;
  private readonly waiting = new Map<number, () => void>();
  private gapTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly executor: Executor,
    firstSeq: number,
    private readonly gapMs: number,
  ) {
    this.expected = firstSeq;
  }

  /** Schedules `job`; the returned promise settles with its result. */
  enqueue<T>(seqId: number | undefined, job: () => Promise<T>): Promise<T> {
    if (seqId === undefined || seqId < this.expected) return this.executor.run(job);
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seqId, () => {
        this.executor.run(job).then(resolve, reject);
      });
      this.pump();
    });
  }

  has(seqId: number): boolean {
    return this.waiting.has(seqId);
  }

  private pump(): void {
    for (;;) {
      const release = this.waiting.get(this.expected);
      if (!release) break;
      this.waiting.delete(this.expected);
      this.expected++;
      release();
    }
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = null;
    if (this.waiting.size > 0) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null;
        this.expected = Math.min(...this.waiting.keys());
        this.pump();
      }, this.gapMs);
      this.gapTimer.unref();
    }
  }

  close(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
  }
}

/** (scope, seq_id) → the request it first named. Same body → same request_id; other body → conflict. */
export class IdempotencyTable {
  private readonly entries = new Map<string, { body: string; requestId: string }>();

  lookup(scope: string, seqId: number, body: string): { requestId: string } | 'conflict' | null {
    const e = this.entries.get(`${scope}\u0000${seqId}`);
    if (!e) return null;
    return e.body === body ? { requestId: e.requestId } : 'conflict';
  }

  record(scope: string, seqId: number, body: string, requestId: string): void {
    this.entries.set(`${scope}\u0000${seqId}`, { body, requestId });
  }

  forgetScope(scope: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(`${scope}\u0000`)) this.entries.delete(k);
  }
}

/**
 * Digest of a parsed body's stable JSON for idempotency comparison (the ignored `type` field
 * dropped). A digest, not the text: forward_backward bodies can be megabytes, kept per seq_id.
 */
export function canonicalBody(body: unknown): string {
  return createHash('sha256').update(stableJson(body)).digest('hex');
}

function stableJson(body: unknown): string {
  return JSON.stringify(body, (key, value: unknown) => {
    if (key === 'type' && typeof value === 'string') return undefined;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return Object.fromEntries(
        Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
      );
    }
    return value;
  });
}
