// A fault-injecting HTTP proxy for the Tinker API: forwards requests to a real server, except where
// a rule says to answer with a fault instead (try_again, 408, 410, 429 + Retry-After, or to drop the
// connection before or after forwarding).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'try_again' }
  | { kind: 'status'; status: 408 | 410 | 429 | 500 | 503; headers?: Record<string, string> }
  /** Close the socket without an answer; `forward: true` first lets the server process the request. */
  | { kind: 'drop'; forward: boolean };

export interface Rule {
  /** API route, e.g. "retrieve_future" or "forward_backward". */
  route: string;
  /** Skip this many matching requests before injecting. */
  after?: number;
  /** Inject on this many requests (default 1). */
  times?: number;
  fault: Fault;
}

export interface ProxyEvent {
  route: string;
  fault: string | null;
}

export class FaultProxy {
  readonly events: ProxyEvent[] = [];
  private readonly seen = new Map<Rule, number>();
  private server: Server | null = null;
  url = '';

  constructor(
    private readonly upstream: string,
    public rules: Rule[] = [],
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        (out) => {
          if (out === 'dropped') return;
          res.writeHead(out.status, out.headers);
          res.end(out.body);
        },
        (err: Error) => {
          res.writeHead(502, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ detail: `proxy: ${err.message}` }));
        },
      );
    });
    await new Promise<void>((ok) => this.server!.listen(0, '127.0.0.1', () => ok()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((ok) => s.close(() => ok()));
  }

  /** How many times a fault of this label fired. */
  count(label: string): number {
    return this.events.filter((e) => e.fault === label).length;
  }

  private pick(route: string): Rule | null {
    for (const rule of this.rules) {
      if (rule.route !== route) continue;
      const n = this.seen.get(rule) ?? 0;
      this.seen.set(rule, n + 1);
      const after = rule.after ?? 0;
      if (n >= after && n < after + (rule.times ?? 1)) return rule;
    }
    return null;
  }

  private async handle(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: string } | 'dropped'> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const route = (req.url ?? '').replace(/^\/api\/v1\//, '').replace(/\?.*$/, '');
    const rule = this.pick(route);
    const label = rule ? faultLabel(rule.fault) : null;
    this.events.push({ route, fault: label });
    const json = { 'content-type': 'application/json' };
    if (rule?.fault.kind === 'try_again') {
      const id = (JSON.parse(body) as { request_id: string }).request_id;
      return {
        status: 200,
        headers: json,
        body: JSON.stringify({ type: 'try_again', request_id: id, queue_state: 'active' }),
      };
    }
    if (rule?.fault.kind === 'status') {
      return {
        status: rule.fault.status,
        headers: { ...json, ...(rule.fault.headers ?? {}) },
        body: JSON.stringify({ detail: `injected ${rule.fault.status}` }),
      };
    }
    if (rule?.fault.kind === 'drop' && !rule.fault.forward) {
      req.socket.destroy();
      return 'dropped';
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !['host', 'connection', 'content-length', 'keep-alive'].includes(k))
        headers[k] = v;
    }
    const up = await fetch(`${this.upstream}${req.url ?? '/'}`, {
      method: req.method,
      headers,
      body: req.method === 'POST' ? body : undefined,
    });
    const text = await up.text();
    if (rule?.fault.kind === 'drop') {
      req.socket.destroy(); // the server did the work; the client never hears of it
      return 'dropped';
    }
    return {
      status: up.status,
      headers: { 'content-type': up.headers.get('content-type') ?? 'application/json' },
      body: text,
    };
  }
}

export function faultLabel(f: Fault): string {
  if (f.kind === 'try_again') return 'try_again';
  if (f.kind === 'status') return String(f.status);
  return f.forward ? 'drop_after_forward' : 'drop_before_forward';
}
