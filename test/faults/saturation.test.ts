// A saturated `serve`: beyond its queue it answers 503 with Retry-After; clients using the shared
// retry policy wait as told and every request is answered correctly; the server stays up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRetrievalServer } from '../../src/retrieval/server.ts';
import { RemoteRetriever } from '../../src/retrieval/remote.ts';
import { makeTask } from '../rl/task.ts';
import { slowRetriever } from './helpers.ts';

test('saturated retrieval server: 503 + Retry-After beyond the queue, no request lost, no crash', async () => {
  const task = makeTask();
  const serverLog: string[] = [];
  const srv = await startRetrievalServer(slowRetriever(task.retriever, 50), {
    port: 0,
    maxConcurrency: 1,
    maxQueue: 2,
    log: (l) => serverLog.push(l),
  });
  const waits: string[] = [];
  try {
    const client = new RemoteRetriever(srv.url, {
      backoffMs: 10,
      budgetMs: 60_000,
      log: (l) => waits.push(l),
    });
    const names = [
      'zorb',
      'quil',
      'mave',
      'trop',
      'senn',
      'dalk',
      'pryx',
      'voom',
      'zorb',
      'quil',
      'mave',
      'trop',
    ];
    const got = await Promise.all(names.map((n) => client.search([`code of ${n}`], 1)));
    const want = await Promise.all(names.map((n) => task.retriever.search([`code of ${n}`], 1)));
    assert.deepEqual(
      got.map((r) => r[0].map((h) => h.id)),
      want.map((r) => r[0].map((h) => h.id)),
    );
    const rejected = serverLog.filter((l) => / 503 /.test(l)).length;
    assert.ok(rejected > 0, `the server shed load with 503s (${rejected}):\n${serverLog.join('\n')}`);
    assert.ok(
      waits.some((l) => /HTTP 503: .*server busy.*; waiting 1\.0 s/.test(l)),
      waits.join('\n'),
    );
    const health = await fetch(`${srv.url}/health`);
    assert.equal(health.status, 200);
  } finally {
    await srv.close();
  }
});
