// Queries over both cores: a pool of worker threads, each with a Bm25Index over the same
// shared-memory arrays (loaded once by the main thread), so `serve` answers on all cores and the
// event loop stays free for HTTP. A batch of queries is split into contiguous chunks over the
// least-busy workers; results come back in query order.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Retriever } from '../../core/retriever.ts';
import { Bm25Index, type Bm25Options, type StoredHit } from './index.ts';

export interface PoolOptions extends Bm25Options {
  /** Worker threads (default: the machine's cores). */
  threads?: number;
}

export interface QueryRequest {
  id: number;
  queries: string[];
  k: number;
}
export type QueryReply = { id: number; hits: StoredHit[][] } | { id: number; error: string };

interface Slot {
  worker: Worker;
  pending: number;
}

export class Bm25Pool implements Retriever {
  private readonly waiting = new Map<
    number,
    { resolve: (h: StoredHit[][]) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private closed = false;

  private constructor(
    readonly index: Bm25Index,
    private readonly slots: Slot[],
  ) {
    for (const s of slots) {
      s.worker.on('message', (m: QueryReply) => {
        s.pending--;
        const w = this.waiting.get(m.id);
        if (!w) return;
        this.waiting.delete(m.id);
        if ('error' in m) w.reject(new Error(m.error));
        else w.resolve(m.hits);
      });
      s.worker.on('error', (e) => this.failAll(e));
      s.worker.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`BM25 query worker exited with code ${code}`));
      });
    }
  }

  static async open(dir: string, opts: PoolOptions = {}): Promise<Bm25Pool> {
    const index = await Bm25Index.open(dir, opts);
    const n = Math.max(1, opts.threads ?? availableParallelism());
    const shared = index.shareable();
    const slots: Slot[] = [];
    for (let i = 0; i < n; i++) {
      const worker = new Worker(new URL('./thread.mjs', import.meta.url), {
        workerData: { entry: new URL('./query-worker.ts', import.meta.url).href, shared },
      });
      slots.push({ worker, pending: 0 });
    }
    // Wait until every worker has opened its view of the index.
    await Promise.all(
      slots.map(
        (s) =>
          new Promise<void>((resolve, reject) => {
            s.worker.once('message', (m: { ready?: true; error?: string }) =>
              m.ready ? resolve() : reject(new Error(m.error)),
            );
            s.worker.once('error', reject);
          }),
      ),
    );
    return new Bm25Pool(index, slots);
  }

  get threads(): number {
    return this.slots.length;
  }

  private failAll(e: Error): void {
    for (const w of this.waiting.values()) w.reject(e);
    this.waiting.clear();
  }

  private run(slot: Slot, queries: string[], k: number): Promise<StoredHit[][]> {
    const id = this.nextId++;
    slot.pending++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      slot.worker.postMessage({ id, queries, k } satisfies QueryRequest);
    });
  }

  async search(queries: string[], topk: number): Promise<StoredHit[][]> {
    if (this.closed) throw new Error(`${this.index.dir}: BM25 pool is closed`);
    if (queries.length === 0) return [];
    const byLoad = [...this.slots].sort((a, b) => a.pending - b.pending);
    const parts = Math.min(byLoad.length, queries.length);
    const size = Math.ceil(queries.length / parts);
    const chunks: Promise<StoredHit[][]>[] = [];
    for (let p = 0; p < parts; p++)
      chunks.push(this.run(byLoad[p], queries.slice(p * size, (p + 1) * size), topk));
    return (await Promise.all(chunks)).flat();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new Error(`${this.index.dir}: BM25 pool closed`));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    await this.index.close();
  }
}
