// `search-r1 dashboard`: a local web app over run folders (docs/dashboard.md). GET only:
//   /                                 the app (one page, assets inlined: works offline)
//   /api/runs                         the runs under the roots
//   /api/run/metrics?run=&offset=&line=   metrics rows after a byte offset (incremental)
//   /api/run/trajectories?run=&kind=&step=&correct=&searches=&group=&page=
//   /api/run/tables|config|checkpoints?run=
//   /api/run/file?run=&path=          a trajectory file of the run, raw (paths checked to stay inside)
//   /api/events                       server-sent events: `change` {run} when a run's files grow, `runs`
// Requests name runs by id (made by listing the roots), so nothing outside the roots is served.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { discoverRuns, fileInRun, type RunInfo } from './runs.ts';
import {
  metricsFile,
  readMetricsChunk,
  RunData,
  runCheckpoints,
  runConfig,
  trajectoryFiles,
  type TrajKind,
  type TrajQuery,
} from './data.ts';
import { dashboardHtml } from './page.ts';

export interface DashboardOptions {
  roots: string[];
  port?: number;
  host?: string;
  /** How often run files are checked for growth (ms). */
  pollMs?: number;
}

export interface DashboardServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(data);
}

function intParam(u: URL, name: string, min = 0): number | undefined {
  const v = u.searchParams.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < min)
    throw new HttpError(400, `${name}: expected an integer ≥ ${min}, got "${v}"`);
  return Number(v);
}

/** A fingerprint of what a run's files hold now: sizes of metrics, results and trajectory files. */
function fingerprint(run: RunInfo): string {
  const size = (p: string) => {
    try {
      return statSync(p).size;
    } catch {
      return -1;
    }
  };
  const parts = [size(metricsFile(run)), size(join(run.dir, 'results.jsonl'))];
  for (const f of trajectoryFiles(run)) parts.push(size(join(run.dir, f.rel)));
  for (const name of ['checkpoints', 'config.json']) {
    try {
      parts.push(statSync(join(run.dir, name)).mtimeMs);
    } catch {
      parts.push(-1);
    }
  }
  return parts.join(',');
}

export async function startDashboard(o: DashboardOptions): Promise<DashboardServer> {
  let runs = discoverRuns(o.roots); // throws on a missing root: a clear error before listening
  const byId = () => new Map(runs.map((r) => [r.id, r]));
  let ids = byId();
  const data = new RunData();
  const clients = new Set<ServerResponse>();
  const prints = new Map<string, string>();
  for (const r of runs) prints.set(r.id, fingerprint(r));

  const broadcast = (event: string, payload: unknown) => {
    const msg = `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`;
    for (const c of clients) c.write(msg);
  };
  let tick = 0;
  const timer = setInterval(() => {
    if (clients.size === 0) return;
    tick++;
    if (tick % 4 === 0) {
      try {
        const next = discoverRuns(o.roots);
        const key = (rs: RunInfo[]) => rs.map((r) => `${r.id}:${r.kind}`).join('|');
        if (key(next) !== key(runs)) {
          runs = next;
          ids = byId();
          broadcast('runs', { runs: runs.map(publicRun) });
        }
      } catch {
        // a root vanished: keep the last list
      }
    }
    for (const r of runs) {
      const fp = fingerprint(r);
      if (prints.get(r.id) !== fp) {
        prints.set(r.id, fp);
        broadcast('change', { run: r.id });
      }
    }
  }, o.pollMs ?? 500);
  timer.unref();

  const page = dashboardHtml();
  const runOf = (u: URL): RunInfo => {
    const id = u.searchParams.get('run');
    if (!id) throw new HttpError(400, 'run: missing');
    const r = ids.get(id);
    if (!r) throw new HttpError(404, `run "${id}": no such run under the dashboard's folders`);
    return r;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, 'GET only');
    switch (u.pathname) {
      case '/':
      case '/index.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(page);
        return;
      case '/api/runs':
        return sendJson(res, 200, { runs: runs.map(publicRun) });
      case '/api/run/metrics': {
        const run = runOf(u);
        const offset = intParam(u, 'offset') ?? 0;
        const line = intParam(u, 'line') ?? 0;
        return sendJson(res, 200, readMetricsChunk(run, { offset, line }));
      }
      case '/api/run/trajectories': {
        const run = runOf(u);
        const kind = u.searchParams.get('kind') || undefined;
        if (kind !== undefined && !['rollout', 'val', 'eval'].includes(kind))
          throw new HttpError(400, `kind: expected rollout, val or eval, got "${kind}"`);
        const correct = intParam(u, 'correct');
        if (correct !== undefined && correct > 1) throw new HttpError(400, 'correct: expected 0 or 1');
        const q: TrajQuery = {
          kind: kind as TrajKind | undefined,
          step: intParam(u, 'step'),
          correct: correct as 0 | 1 | undefined,
          searches: intParam(u, 'searches'),
          group: u.searchParams.get('group') || undefined,
          page: intParam(u, 'page'),
          pageSize: intParam(u, 'pageSize', 1),
        };
        return sendJson(res, 200, data.trajectories(run, q));
      }
      case '/api/run/tables':
        return sendJson(res, 200, data.tables(runOf(u)));
      case '/api/run/config':
        return sendJson(res, 200, runConfig(runOf(u)));
      case '/api/run/checkpoints':
        return sendJson(res, 200, { checkpoints: runCheckpoints(runOf(u)) });
      case '/api/run/file': {
        // Raw trajectory and metrics files (for download); a path must be one of the run's own.
        const run = runOf(u);
        const rel = u.searchParams.get('path') ?? '';
        const allowed = new Set([
          'metrics.jsonl',
          'results.jsonl',
          ...trajectoryFiles(run).map((f) => f.rel),
        ]);
        const p = fileInRun(run, rel);
        if (!p || !allowed.has(rel)) throw new HttpError(403, `path "${rel}": not a file of run ${run.id}`);
        res.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8' });
        createReadStream(p).pipe(res);
        return;
      }
      case '/api/events': {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write(`retry: 1000\n\n`);
        clients.add(res);
        req.on('close', () => clients.delete(res));
        return;
      }
      default:
        throw new HttpError(404, `${u.pathname}: not found`);
    }
  };

  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 500;
      if (!res.headersSent) sendJson(res, status, { error: (e as Error).message });
      else res.end();
    }
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => ok());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return {
    url: `http://${o.host ?? '127.0.0.1'}:${port}/`,
    server,
    close: async () => {
      clearInterval(timer);
      for (const c of clients) c.end();
      clients.clear();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** What the page learns of a run: no absolute paths. */
function publicRun(r: RunInfo) {
  return { id: r.id, name: r.name, kind: r.kind, parent: r.parent ?? null };
}
export type PublicRun = ReturnType<typeof publicRun>;
