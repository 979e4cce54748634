// A Hugging Face Hub stand-in on loopback with the Hub's API shapes: repo info
// (/api/{models,datasets}/<id>/revision/<rev>), file resolve with X-Repo-Commit / ETag /
// X-Linked-Etag / X-Linked-Size and a 302 to LFS storage, Range requests (206), and the failure
// modes we must handle: 401 for private repos, 404 with X-Error-Code, 429 with Retry-After, a
// connection cut mid-body, corrupted bytes.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  path: string;
  content: Buffer;
  /** Stored in LFS: resolve answers 302 to /lfs/<sha256> with X-Linked-Etag. */
  lfs?: boolean;
}

export interface FakeRepo {
  type: 'model' | 'dataset';
  name: string;
  private?: boolean;
  /** branch or tag → commit */
  refs: Record<string, string>;
  /** commit → files */
  commits: Record<string, FakeFile[]>;
}

export interface RequestLog {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
}

export const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
export const gitSha1 = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

export class FakeHub {
  private server: Server | null = null;
  /** LFS storage lives on another origin (port), as the Hub's CDN does. */
  private storage: Server | null = null;
  url = '';
  storageUrl = '';
  readonly requests: RequestLog[] = [];
  /** sha256 → bytes after which the next LFS response is cut (once). */
  readonly cutAfter = new Map<string, number>();
  /** sha256s whose bytes are served with one byte flipped. */
  readonly corrupt = new Set<string>();
  /** The next N requests get 429 (Retry-After: 0). */
  rateLimitNext = 0;
  /** Ignore Range headers (answer 200 with the whole body). */
  ignoreRange = false;
  constructor(
    readonly repos: FakeRepo[],
    readonly token = 'hf_test_token',
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.storage = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.storage!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.storageUrl = `http://127.0.0.1:${(this.storage.address() as AddressInfo).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of [this.server, this.storage]) {
      s?.closeAllConnections();
      await new Promise<void>((r) => s?.close(() => r()));
    }
  }

  count(pred: (r: RequestLog) => boolean): number {
    return this.requests.filter(pred).length;
  }

  private repo(type: string, name: string): FakeRepo | undefined {
    return this.repos.find((r) => r.type === type && r.name === name);
  }

  private commitOf(repo: FakeRepo, rev: string): string | undefined {
    if (repo.commits[rev]) return rev;
    return repo.refs[rev];
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname);
    const auth = req.headers.authorization ?? null;
    this.requests.push({
      method: req.method ?? '',
      path,
      range: (req.headers.range as string) ?? null,
      auth,
    });
    if (this.rateLimitNext > 0) {
      this.rateLimitNext--;
      res.writeHead(429, { 'retry-after': '0', 'content-type': 'application/json' });
      return void res.end('{"error":"rate limited"}');
    }
    const fail = (status: number, code?: string) => {
      res.writeHead(status, {
        'content-type': 'application/json',
        ...(code ? { 'x-error-code': code } : {}),
      });
      res.end(JSON.stringify({ error: code ?? `status ${status}` }));
    };
    const authorised = (repo: FakeRepo) => !repo.private || auth === `Bearer ${this.token}`;

    // Repo info: /api/models/<org>/<name>/revision/<rev>
    let m = /^\/api\/(models|datasets)\/([^/]+\/[^/]+)\/revision\/(.+)$/.exec(path);
    if (m && req.method === 'GET') {
      const repo = this.repo(m[1]!.slice(0, -1), m[2]!);
      if (!repo) return fail(404, 'RepoNotFound');
      if (!authorised(repo)) return fail(401);
      const rev = m[3] === 'HEAD' ? 'main' : m[3]!;
      const commit = this.commitOf(repo, rev);
      if (!commit) return fail(404, 'RevisionNotFound');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          _id: `id-${repo.name}`,
          id: repo.name,
          sha: commit,
          private: !!repo.private,
          downloads: 0,
          likes: 0,
          gated: false,
          lastModified: '2026-01-01T00:00:00.000Z',
          siblings: repo.commits[commit]!.map((f) => ({ rfilename: f.path })),
        }),
      );
    }

    // Resolve: /<org>/<name>/resolve/<rev>/<path> (models), /datasets/<org>/<name>/resolve/...
    m = /^\/(datasets\/)?([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (m && (req.method === 'HEAD' || req.method === 'GET')) {
      const repo = this.repo(m[1] ? 'dataset' : 'model', m[2]!);
      if (!repo) return fail(404, 'RepoNotFound');
      if (!authorised(repo)) return fail(401);
      const commit = this.commitOf(repo, m[3]!);
      if (!commit) return fail(404, 'RevisionNotFound');
      const file = repo.commits[commit]!.find((f) => f.path === m![4]);
      if (!file) return fail(404, 'EntryNotFound');
      if (file.lfs) {
        const oid = sha256(file.content);
        res.writeHead(302, {
          location: `${this.storageUrl}/lfs/${oid}`,
          'x-repo-commit': commit,
          'x-linked-etag': `"${oid}"`,
          'x-linked-size': String(file.content.length),
          etag: `"${gitSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${oid}\n`))}"`,
        });
        return void res.end();
      }
      return this.sendBytes(req, res, file.content, {
        'x-repo-commit': commit,
        etag: `W/"${gitSha1(file.content)}"`,
      });
    }

    // LFS storage (the CDN the Hub redirects to).
    m = /^\/lfs\/([0-9a-f]{64})$/.exec(path);
    if (m && req.method === 'GET') {
      for (const repo of this.repos)
        for (const files of Object.values(repo.commits))
          for (const f of files)
            if (f.lfs && sha256(f.content) === m[1]) {
              // The CDN must never see the Hub token.
              if (auth !== null) return fail(400, 'TokenLeakedToStorage');
              return this.sendBytes(req, res, f.content, { etag: `"${m[1]}"` }, m[1]);
            }
      return fail(404);
    }
    fail(404);
  }

  private sendBytes(
    req: IncomingMessage,
    res: ServerResponse,
    content: Buffer,
    headers: Record<string, string>,
    oid?: string,
  ): void {
    let body = content;
    if (oid && this.corrupt.has(oid)) {
      body = Buffer.from(content);
      body[0] = body[0]! ^ 0xff;
    }
    let start = 0;
    const range = /^bytes=(\d+)-$/.exec((req.headers.range as string) ?? '');
    if (range && !this.ignoreRange) start = Number(range[1]);
    if (start > body.length) {
      res.writeHead(416, { 'content-range': `bytes */${body.length}` });
      return void res.end();
    }
    const part = body.subarray(start);
    const status = range && !this.ignoreRange ? 206 : 200;
    res.writeHead(status, {
      ...headers,
      'content-length': String(part.length),
      'accept-ranges': 'bytes',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    const cut = oid ? this.cutAfter.get(oid) : undefined;
    if (cut !== undefined && cut < part.length) {
      this.cutAfter.delete(oid!);
      res.write(part.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 10));
      return;
    }
    res.end(part);
  }
}
