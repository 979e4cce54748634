// One query worker of Bm25Pool: opens a Bm25Index over the pool's shared arrays and answers
// {id, queries, k} messages with hits (or an error string).
import { parentPort, workerData } from 'node:worker_threads';
import { Bm25Index, type SharedIndex } from './index.ts';
import type { QueryReply, QueryRequest } from './pool.ts';

const port = parentPort!;
try {
  const index = Bm25Index.fromShared((workerData as { shared: SharedIndex }).shared);
  port.on('message', (m: QueryRequest) => {
    let reply: QueryReply;
    try {
      reply = { id: m.id, hits: m.queries.map((q) => index.searchOne(q, m.k)) };
    } catch (e) {
      reply = { id: m.id, error: (e as Error).message };
    }
    port.postMessage(reply);
  });
  port.postMessage({ ready: true });
} catch (e) {
  port.postMessage({ error: (e as Error).message });
}
