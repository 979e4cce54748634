// `search-r1 serve-trainer --model DIR [--port N]`: the embedded engine behind the Tinker training
// API (JSON), so the Tinker client, Tinker tools and remote training can drive it.
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ADAPTER_CONFIG, type LoraConfig } from '../../engine/lora.ts';
import type { Command } from 'commander';
import {
  startTinkerServer,
  type TinkerServer,
  type TrainerProvider,
} from '../../policy/tinker-server/server.ts';
import type { Trainer } from '../../core/trainer.ts';
import { addThreadsOption } from '../policy-options.ts';

export interface ServeTrainerOptions {
  /** HF folder of the model to serve (config.json, *.safetensors, tokenizer.json). */
  model: string;
  port?: number;
  host?: string;
  /** Name clients pass as base_model (default: the folder's name). */
  name?: string;
  /** Root of tinker:// checkpoints (default ./tinker-checkpoints). */
  checkpointDir?: string;
  /** Require this X-API-Key on every request (default: no auth, as SkyRL). */
  apiKey?: string;
  /** Seed of each engine instance's RNG (for samples requested without a seed). */
  seed?: number;
  log?: (msg: string) => void;
}

/** An engine provider over an HF folder: every create_model gets a fresh EmbeddedTrainer. */
export async function embeddedProvider(modelDir: string, name: string, seed = 0): Promise<TrainerProvider> {
  const mod = await import('../../policy/embedded.ts');
  const { loadHfFolder } = await import('../../engine/io/hf.ts');
  // Read the config once up front so a bad folder fails at start-up, not at the first request.
  const f = loadHfFolder(modelDir, { noTokenizer: true });
  const config = f.config;
  f.tensors.clear();
  return {
    baseModel: name,
    arch: config.arch,
    maxContextLength: config.maxPositionEmbeddings,
    supportsValueHead: true,
    supportsLora: true,
    load: async (dir?: string, opts?: { valueHead?: boolean; lora?: LoraConfig }): Promise<Trainer> => {
      // A LoRA checkpoint (PEFT adapter folder) is the base model plus the adapter.
      const adapter = dir !== undefined && existsSync(join(dir, ADAPTER_CONFIG));
      const t = await mod.EmbeddedTrainer.load(adapter ? modelDir : (dir ?? modelDir), {
        seed,
        valueHead: opts?.valueHead ?? false,
      });
      if (opts?.lora) t.enableLora(opts.lora);
      if (adapter) await t.loadWeights(dir!);
      return t;
    },
  };
}

/** Starts serve-trainer; resolves once listening. */
export async function serveTrainer(
  opts: ServeTrainerOptions,
): Promise<{ server: TinkerServer; url: string }> {
  const dir = resolve(opts.model);
  const name = opts.name ?? basename(dir);
  const provider = await embeddedProvider(dir, name, opts.seed ?? 0);
  const { server, url } = await startTinkerServer(provider, {
    port: opts.port ?? 8000,
    host: opts.host ?? '127.0.0.1',
    checkpointDir: resolve(opts.checkpointDir ?? 'tinker-checkpoints'),
    apiKey: opts.apiKey,
    log: opts.log,
  });
  return { server, url };
}

export function register(program: Command): void {
  addThreadsOption(program.command('serve-trainer'))
    .description(
      'Serve the embedded engine over the Tinker training API (JSON): sample, forward, forward_backward, optim_step, save/load weights',
    )
    .requiredOption('--model <dir>', 'HF model folder to serve (config.json, *.safetensors, tokenizer.json)')
    .option('--port <n>', 'port to listen on', '8000')
    .option('--host <host>', 'address to bind', '127.0.0.1')
    .option('--name <name>', 'base_model name clients must use (default: the folder name)')
    .option('--checkpoint-dir <dir>', 'where tinker:// checkpoints are written', 'tinker-checkpoints')
    .option('--api-key <key>', 'require this X-API-Key (default: no authentication)')
    .option('--seed <n>', 'seed of the engine RNG for samples requested without a seed', '0')
    .option('--verbose', 'log every request to stderr')
    .action(
      async (o: {
        model: string;
        port: string;
        host: string;
        name?: string;
        checkpointDir: string;
        apiKey?: string;
        seed: string;
        verbose?: boolean;
      }) => {
        const port = Number(o.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535)
          throw new Error(`--port: not a port number: ${o.port}`);
        const seed = Number(o.seed);
        if (!Number.isInteger(seed)) throw new Error(`--seed: not an integer: ${o.seed}`);
        const { server, url } = await serveTrainer({
          model: o.model,
          port,
          host: o.host,
          name: o.name,
          checkpointDir: o.checkpointDir,
          apiKey: o.apiKey,
          seed,
          log: o.verbose ? (m) => process.stderr.write(`serve-trainer: ${m}\n`) : undefined,
        });
        const name = o.name ?? basename(resolve(o.model));
        process.stderr.write(
          `serve-trainer: Tinker API on ${url}/api/v1 (base_model "${name}")\n` +
            `  client: TINKER_BASE_URL=${url} TINKER_API_KEY=${o.apiKey ? '<key>' : 'tml-dummy'} ` +
            `search-r1 train --backend tinker --base-url ${url} --base-model ${name}\n`,
        );
        await new Promise<void>((done) => {
          const stop = (): void => {
            process.stderr.write('serve-trainer: shutting down\n');
            void server.close().then(done);
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
      },
    );
}
