// Our client against a fake Tinker server, on the behaviours where it must match the SDK 0.25.0:
// create_session always carries user_metadata ({}); a pending future is `type: "try_again"` alone
// (no queue fields), so a pending optim_step is never taken as done; a body with `error` fails;
// 409 is retried.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TinkerTrainer } from '../../src/policy/tinker/trainer.ts';
import { CharTokenizer } from './bigram.ts';

type Handler = (route: string, body: Record<string, unknown>) => unknown;
/** A handler's answer with another status than 200. */
class Status {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {}
}

async function fake(handler: Handler) {
  const seen: { route: string; body: Record<string, unknown> }[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const route = (req.url ?? '').replace('/api/v1/', '');
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      seen.push({ route, body });
      const out = handler(route, body);
      const [status, payload] = out instanceof Status ? [out.status, out.body] : [200, out];
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after-ms': '1' });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, seen, close: () => new Promise<void>((ok) => server.close(() => ok())) };
}

const ADAM = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 0 };

test('SDK parity: user_metadata {} on create_session; try_again without queue fields is pending; error bodies fail', async () => {
  let polls = 0;
  let failNext = false;
  let conflicts = 0;
  const srv = await fake((route, body) => {
    switch (route) {
      case 'create_session':
        return { session_id: 's1' };
      case 'session_heartbeat':
        return {};
      case 'get_server_capabilities':
        return { supported_models: [{ model_name: 'b' }] };
      case 'create_model':
        return { request_id: 'cm' };
      case 'optim_step':
        // The SDK retries 409 (e.g. a transient seq_id conflict); so must we.
        if (!failNext && conflicts++ < 1) return new Status(409, { detail: 'conflict' });
        return { request_id: failNext ? 'bad' : 'op' };
      case 'unload_model':
        return { request_id: 'un' };
      case 'retrieve_future':
        if (body.request_id === 'cm') return { model_id: 'model_1' };
        if (body.request_id === 'bad') return { error: 'boom', category: 'server' };
        if (body.request_id === 'op') {
          // Pending without queue_state: the old client took this as a finished optim_step ({}).
          if (polls++ < 3) return { type: 'try_again', request_id: 'op' };
          return { metrics: { 'grad_norm:mean': 1.5 } };
        }
        return { model_id: 'model_1' };
      default:
        return {};
    }
  });
  const client = await TinkerTrainer.create({
    baseUrl: srv.url,
    baseModel: 'b',
    tokenizer: new CharTokenizer(),
    http: { log: () => {} },
  });
  try {
    const cs = srv.seen.find((s) => s.route === 'create_session')!;
    assert.deepEqual(cs.body.user_metadata, {});
    const m = await client.optimStep(ADAM);
    assert.equal(polls, 4, 'polled through three try_again answers');
    assert.equal(srv.seen.filter((x) => x.route === 'optim_step').length, 2, 'the 409 was retried');
    assert.equal(m['grad_norm:mean'], 1.5);
    failNext = true;
    await assert.rejects(client.optimStep(ADAM), /boom/);
  } finally {
    await client.close();
    await srv.close();
  }
});
