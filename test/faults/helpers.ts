// Fault-injection helpers for test/faults: a retrieval server on loopback that can go down
// (connections refused) and come back on the same port, and a short retry policy for tests.
import type { Retriever } from '../../src/core/retriever.ts';
import { startRetrievalServer, type RetrievalServer } from '../../src/retrieval/server.ts';
import { RemoteRetriever } from '../../src/retrieval/remote.ts';
import type { Trainer } from '../../src/core/trainer.ts';
import type { TrainerSpec } from '../../src/policy/backends.ts';
import { fakeConfig, fakeFactory } from '../rl/task.ts';
import type { TabularPolicy, WordTokenizer } from '../rl/fakes.ts';

export class FlakyRetrievalServer {
  private srv: RetrievalServer | null = null;
  port = 0;
  constructor(private readonly retriever: Retriever) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    if (this.srv) return;
    this.srv = await startRetrievalServer(this.retriever, { port: this.port, closeGraceMs: 100 });
    this.port = this.srv.port;
  }

  /** Stops listening: new connections are refused until up(). */
  async down(): Promise<void> {
    const s = this.srv;
    this.srv = null;
    if (!s) return;
    s.server.closeAllConnections();
    await s.close();
  }
}

/** A remote retriever with a short backoff (tests): 50 ms doubling to 400 ms, `budgetMs` in all. */
export function shortRetryRetriever(
  url: string,
  budgetMs: number,
  log: (l: string) => void,
): RemoteRetriever {
  return new RemoteRetriever(url, { backoffMs: 50, maxBackoffMs: 400, budgetMs, timeoutMs: 5_000, log });
}

/** Metrics without wall-clock numbers (those differ between any two runs). */
export function comparable(m: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(m).filter(([k]) => !k.startsWith('timing_s/') && !k.startsWith('perf/')),
  );
}

/** The trainer tests' tabular policies, biased to search often (so every step hits the retriever). */
export function searchingFactory(tok: WordTokenizer) {
  const base = fakeFactory(tok);
  return async (spec: TrainerSpec): Promise<Trainer> => {
    const p = (await base(spec)) as TabularPolicy;
    const search = tok.encode('<search>')[0];
    for (let a = 0; a < p.V; a++) p.W[a * p.V + search] = 6;
    return p;
  };
}

/** A retriever whose every search takes `ms` (a remote one, roughly): rollouts then take time. */
export function slowRetriever(inner: Retriever, ms: number): Retriever {
  return {
    search: async (queries, topk) => {
      await new Promise((r) => setTimeout(r, ms));
      return inner.search(queries, topk);
    },
  };
}

/** The config of the signal tests: 6 steps, validation every 2, checkpoints only at the end. */
export function signalTestConfig(runDir: string) {
  return fakeConfig({
    runDir,
    steps: 6,
    val: { every: 2, beforeTrain: false },
    checkpoint: { every: 100, keepLast: 3 },
  });
}
