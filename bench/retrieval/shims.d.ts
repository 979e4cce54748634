// Minimal types for the two benchmark-only peers that ship without declarations (only the parts
// bench/retrieval uses).
declare module 'autocannon' {
  interface Histogram {
    average: number;
    p50: number;
    p99: number;
    total: number;
  }
  interface Result {
    requests: Histogram;
    latency: Histogram;
    errors: number;
    timeouts: number;
    non2xx: number;
  }
  interface RequestSpec {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string;
    setupRequest?: (req: RequestSpec) => RequestSpec;
  }
  interface Options {
    url: string;
    connections?: number;
    duration?: number;
    requests?: RequestSpec[];
  }
  export default function autocannon(opts: Options): Promise<Result>;
}
declare module 'better-sqlite3' {
  interface Statement {
    run(...args: unknown[]): unknown;
    get(...args: unknown[]): unknown;
  }
  interface Database {
    pragma(s: string): unknown;
    exec(sql: string): void;
    prepare(sql: string): Statement;
    transaction<A extends unknown[]>(fn: (...args: A) => void): (...args: A) => void;
    close(): void;
  }
  const Database: { new (file: string, opts?: { readonly?: boolean }): Database };
  export default Database;
}
