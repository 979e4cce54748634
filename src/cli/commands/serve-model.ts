// `search-r1 serve-model`: a model behind an OpenAI-compatible API (/v1/completions,
// /v1/chat/completions, /v1/models) with token ids and log-probs.
import type { Command } from 'commander';
import { loadPolicy, type PolicyOptions } from '../../eval/backends.ts';
import { addPolicyOptions } from '../policy-options.ts';
import { integerOption } from '../options.ts';
import { startOpenAIServer, type RunningOpenAIServer } from '../../policy/openai-server.ts';

export interface ServeModelOptions extends PolicyOptions {
  port: number;
  host: string;
  name?: string;
  maxBatch: number;
}

/** Starts the server; resolves once it listens. `close()` stops it and frees the model. */
export async function serveModel(
  o: ServeModelOptions,
): Promise<RunningOpenAIServer & { describe: string; modelName: string }> {
  if (o.openaiUrl) throw new Error('serve-model serves --model DIR or --gguf FILE, not another server');
  const policy = await loadPolicy(o);
  const name = o.name ?? (o.model ?? o.gguf ?? 'search-r1').replace(/\/+$/, '').split('/').pop()!;
  const srv = await startOpenAIServer(policy.sampler, {
    port: o.port,
    host: o.host,
    modelName: name,
    maxBatch: o.maxBatch,
    ...(policy.maxContext ? { maxTokensLimit: policy.maxContext, contextLength: policy.maxContext } : {}),
  });
  return {
    ...srv,
    describe: policy.describe,
    modelName: name,
    close: async () => {
      await srv.close();
      await policy.close();
    },
  };
}

export function register(program: Command): void {
  const cmd = program
    .command('serve-model')
    .description(
      'Serve a model over an OpenAI-compatible API (/v1/completions, /v1/chat/completions) with token ids and log-probs',
    )
    .option('--port <n>', 'port (0 = any free port)', integerOption('port', 0), 8000)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--name <name>', 'model id reported by /v1/models (default: the folder or file name)')
    .option(
      '--max-batch <n>',
      'most queued prompts merged into one engine call',
      integerOption('max-batch', 1),
      16,
    );
  addPolicyOptions(cmd, 'model to serve');
  cmd.action(async (o: ServeModelOptions) => {
    const srv = await serveModel(o);
    process.stderr.write(
      `serve-model: ${srv.describe} as "${srv.modelName}" at ${srv.url}/v1 (Ctrl-C to stop)\n`,
    );
    const stop = () => {
      void srv.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
