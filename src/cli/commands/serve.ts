// `search-r1 serve`: expose a retriever over the Search-R1 `/retrieve` API — the embedded BM25
// index (--index) or, as a proxy, any remote Search-R1-compatible server (--remote).
import type { Command } from 'commander';
import { Bm25Index } from '../../retrieval/bm25/index.ts';
import { Bm25Pool } from '../../retrieval/bm25/pool.ts';
import { RemoteRetriever } from '../../retrieval/remote.ts';
import { startRetrievalServer, type RetrievalServer } from '../../retrieval/server.ts';
import type { Retriever } from '../../core/retriever.ts';
import { integerOption, numberOption } from '../options.ts';
import { openRetriever, RETRIEVER_KINDS, type RetrieverKind } from '../../retrieval/open.ts';

export interface ServeOptions {
  /** bm25 (default) | dense | hybrid, optionally followed by --reranker (docs/dense-retrieval.md). */
  retriever?: RetrieverKind;
  denseIndex?: string;
  encoder?: string;
  reranker?: string;
  rerankDepth?: number;
  hybridWeights?: string;
  index?: string;
  remote?: string;
  port?: number;
  host?: string;
  topk?: number;
  k1?: number;
  b?: number;
  /** Score as Lucene 8.7 does (one-byte norms, float32) instead of exact BM25. */
  luceneCompat?: boolean;
  /** Query worker threads for --index (default: all cores; 0 = search on the event loop). */
  threads?: number;
  maxConcurrency?: number;
  maxBodyBytes?: number;
  quiet?: boolean;
  handleSignals?: boolean;
}

/** Library form: open the retriever and start serving. `server.closed` resolves after shutdown;
 *  the retriever is closed then too. */
export async function serveRetriever(
  o: ServeOptions,
): Promise<{ server: RetrievalServer; retriever: Retriever }> {
  if ((o.retriever !== undefined && o.retriever !== 'bm25') || o.reranker !== undefined) {
    const retriever = await openRetriever({
      kind: o.retriever ?? 'bm25',
      index: o.index,
      denseIndex: o.denseIndex,
      encoder: o.encoder,
      reranker: o.reranker,
      rerankDepth: o.rerankDepth,
      hybridWeights: o.hybridWeights,
    });
    return startWith(retriever, o);
  }
  if ((o.index === undefined) === (o.remote === undefined))
    throw new Error('give exactly one of --index <dir> or --remote <url>');
  const bm25 = { k1: o.k1, b: o.b, scoring: o.luceneCompat ? ('lucene' as const) : undefined };
  const retriever: Retriever =
    o.index === undefined
      ? new RemoteRetriever(o.remote!)
      : o.threads === 0
        ? await Bm25Index.open(o.index, bm25)
        : await Bm25Pool.open(o.index, { ...bm25, threads: o.threads });
  return startWith(retriever, o);
}

async function startWith(
  retriever: Retriever,
  o: ServeOptions,
): Promise<{ server: RetrievalServer; retriever: Retriever }> {
  const log = o.quiet
    ? undefined
    : (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const server = await startRetrievalServer(retriever, {
    port: o.port,
    host: o.host,
    defaultTopk: o.topk,
    maxConcurrency: o.maxConcurrency,
    maxBodyBytes: o.maxBodyBytes,
    log,
    handleSignals: o.handleSignals,
  });
  void server.closed.then(() => retriever.close?.());
  return { server, retriever };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve a retriever over the Search-R1 /retrieve API (BM25 index, or proxy a remote server)')
    .option('--index <dir>', 'BM25 index directory built by `search-r1 index`')
    .option('--remote <url>', 'proxy another Search-R1-compatible server (http://host:port[/retrieve])')
    .option('-p, --port <n>', 'TCP port', integerOption('port'), 8000)
    .option('--host <addr>', 'bind address (0.0.0.0 to expose beyond this machine)', '127.0.0.1')
    .option('--topk <n>', 'topk when a request gives none', integerOption('topk'), 3)
    .option('--k1 <x>', "BM25 k1 (default: the index's, normally 0.9)", numberOption('k1'))
    .option('--b <x>', "BM25 b (default: the index's, normally 0.4)", numberOption('b'))
    .option(
      '--lucene-compat',
      "score as Lucene 8.7 / Pyserini (one-byte length norms, float32); default: the index's",
    )
    .option(
      '--threads <n>',
      'BM25 query worker threads (default: all cores; 0 = on the event loop)',
      integerOption('threads'),
    )
    .option(
      '--max-concurrency <n>',
      'searches running at once (more wait in a queue)',
      integerOption('max-concurrency'),
      4,
    )
    .option('--max-body-bytes <n>', 'largest request body accepted', integerOption('max-body-bytes'), 1 << 20)
    .option('-q, --quiet', 'no access log on stderr')
    .option('--retriever <kind>', `${RETRIEVER_KINDS.join(' | ')} (default bm25)`)
    .option('--dense-index <dir>', 'dense index directory built by `search-r1 index --dense`')
    .option('--encoder <dir>', 'dense query encoder (default: the one recorded in the dense index)')
    .option('--reranker <dir>', 'cross-encoder folder: rerank the first stage (e.g. ms-marco MiniLM)')
    .option(
      '--rerank-depth <n>',
      'first-stage candidates per query for the reranker',
      integerOption('rerank-depth'),
      10,
    )
    .option('--hybrid-weights <w>', 'hybrid: RRF weights "bm25,dense"', '1,1')
    .action(async (opts: ServeOptions) => {
      const { server } = await serveRetriever({ ...opts, handleSignals: true });
      process.stderr.write(
        `search-r1 serve: POST ${server.url}/retrieve, GET ${server.url}/health (SIGTERM or Ctrl-C stops)\n`,
      );
      await server.closed;
    });
}
