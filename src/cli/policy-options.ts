// The flags that choose a command's policy and retriever, shared by `infer`, `eval` and `serve-model`
// (the options they produce are read by src/eval/backends.ts).
import type { Command } from 'commander';
import { integerOption } from './options.ts';
import { HubError } from '../hub/http.ts';
import { resolveHubArg, type HubArgKind } from '../hub/resolve.ts';

export function addPolicyOptions(cmd: Command, what = 'policy'): Command {
  return addThreadsOption(cmd, true)
    .option(
      '--model <dir>',
      `${what}: a model folder (HF layout: config.json, *.safetensors, tokenizer.json) run by our engine`,
    )
    .option(
      '--openai-url <url>',
      `${what}: an OpenAI-compatible server (vLLM, SGLang, llama.cpp server, Ollama, search-r1 serve-model)`,
    )
    .option('--openai-model <name>', 'model name sent to the server (default: the first of /v1/models)')
    .option(
      '--openai-mode <mode>',
      'auto | tokens | text | chat (auto: token-id prompts, text when refused)',
      'auto',
    )
    .option('--api-key <key>', 'bearer token for the server (default: $OPENAI_API_KEY)')
    .option('--tokenizer <dir>', "folder with the served model's tokenizer.json (default: --model DIR)")
    .option('--gguf <file>', `${what}: a GGUF file run in process by node-llama-cpp (CPU)`)
    .option('--concurrency <n>', 'OpenAI server: parallel requests', integerOption('concurrency', 1), 8)
    .option(
      '--timeout <ms>',
      'OpenAI server: timeout per request attempt',
      integerOption('timeout', 1),
      120_000,
    )
    .option(
      '--retries <n>',
      'OpenAI server: cap on retries of 408/429/5xx/connection errors (default: none, --retry-budget limits)',
      integerOption('retries', 0),
    )
    .option(
      '--no-chat-template',
      'prompt in raw text even when the tokenizer has a chat template (base models)',
    );
}

export function addRetrieverOptions(cmd: Command): Command {
  return cmd
    .option('--retriever <dir>', 'a BM25 index folder built by `search-r1 index`')
    .option('--retriever-url <url>', 'a Search-R1-compatible retrieval server (POST /retrieve)');
}

/** Option (attribute name) → what a Hub id given there resolves to; see src/hub/resolve.ts. */
const HUB_OPTIONS: Record<string, { kind: HubArgKind; preferSplit?: string }> = {
  model: { kind: 'model' },
  criticModel: { kind: 'model' },
  tokenizer: { kind: 'model' },
  encoder: { kind: 'encoder' },
  gguf: { kind: 'gguf' },
  index: { kind: 'index' },
  retriever: { kind: 'index' },
  corpus: { kind: 'corpus' },
  dataset: { kind: 'dataset', preferSplit: 'test' },
  val: { kind: 'dataset', preferSplit: 'test' },
  train: { kind: 'dataset', preferSplit: 'train' },
  input: { kind: 'dataset' },
};

/**
 * Before any command runs, values typed on the command line that are Hub ids
 * (`Qwen/Qwen2.5-3B-Instruct`, `PeterJinGo/nq_hotpotqa_train@main:test.parquet`) become local
 * paths in the Hugging Face cache; `search-r1 index <corpus>` takes one as its corpus too.
 */
export function addHubResolution(program: Command): void {
  program.hook('preAction', async (_root, action) => {
    const resolveOne = async (flag: string, v: string, kind: HubArgKind, preferSplit?: string) => {
      try {
        return await resolveHubArg(kind, v, preferSplit ? { preferSplit } : {});
      } catch (e) {
        if (!(e instanceof HubError)) throw e;
        throw new Error(`${flag} ${v}: not a local path, and as a Hugging Face Hub id: ${e.message}`);
      }
    };
    for (const [key, { kind, preferSplit }] of Object.entries(HUB_OPTIONS)) {
      if (action.getOptionValueSource(key) !== 'cli') continue;
      const v: unknown = action.getOptionValue(key);
      const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      if (typeof v === 'string') {
        // --dataset takes a comma-separated list of names, files and Hub ids.
        const parts = key === 'dataset' ? v.split(',') : [v];
        const out = await Promise.all(parts.map((p) => resolveOne(flag, p.trim(), kind, preferSplit)));
        action.setOptionValueWithSource(key, out.join(','), 'cli');
      } else if (Array.isArray(v)) {
        const out: string[] = [];
        for (const p of v as string[]) out.push(await resolveOne(flag, p, kind, preferSplit));
        action.setOptionValueWithSource(key, out, 'cli');
      }
    }
    // Commands whose first argument is a data file: `index <corpus>`, `data inspect <file>`.
    const first: unknown = action.processedArgs[0];
    if ((action.name() === 'index' || action.name() === 'inspect') && typeof first === 'string')
      action.processedArgs[0] = await resolveOne(
        action.name(),
        first,
        action.name() === 'index' ? 'corpus' : 'dataset',
      );
  });
}

/**
 * `--threads N`: CPU threads of the embedded engine (default: every core, or $SEARCH_R1_THREADS)
 * and, with `gguf`, of node-llama-cpp (default 1). The program's preAction hook (main.ts) hands it
 * to the engine before any model is built.
 */
export function addThreadsOption(cmd: Command, gguf = false): Command {
  withEngineThreads.add(cmd);
  return cmd.option(
    '--threads <n>',
    'CPU threads of the embedded engine (default: all cores, or $SEARCH_R1_THREADS)' +
      (gguf ? '; of --gguf too (default 1 there)' : ''),
    integerOption('threads', 1),
  );
}

/** Commands whose --threads is the engine's (other commands' --threads, e.g. `serve`'s, are their own). */
const withEngineThreads = new WeakSet<Command>();

/** The engine thread count given on this command's line, if it takes one. */
export function engineThreadsFlag(cmd: Command): number | undefined {
  const v: unknown = cmd.opts().threads;
  return withEngineThreads.has(cmd) && typeof v === 'number' ? v : undefined;
}
