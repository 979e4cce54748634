// The policy and retriever a command runs with, from its options: shared by `infer`, `eval` and
// `serve-model` so every command accepts the same flags.
//   policy:    --model DIR (our engine, HF folder) | --openai-url URL (+ --tokenizer DIR) | --gguf FILE
//   retriever: --retriever INDEX_DIR (embedded BM25) | --retriever-url URL (Search-R1 /retrieve)
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { Sampler, Tokenizer } from '../policy/types.ts';
import type { OpenAIMode } from '../policy/openai.ts';
import type { Retriever } from '../retrieval/types.ts';

export interface PolicyOptions {
  model?: string;
  openaiUrl?: string;
  openaiModel?: string;
  openaiMode?: OpenAIMode;
  apiKey?: string;
  tokenizer?: string;
  gguf?: string;
  concurrency?: number;
  timeout?: number;
  retries?: number;
  threads?: number;
  /** false: ignore the model's chat template (raw-text prompts, as a base model was trained). */
  chatTemplate?: boolean;
}

export interface RetrieverOptions {
  retriever?: string;
  retrieverUrl?: string;
}

export interface LoadedPolicy {
  sampler: Sampler;
  /** What was loaded, for logs and run.json. */
  describe: string;
  /** Longest prompt + generation the model takes, when known. */
  maxContext?: number;
  close(): Promise<void>;
}

export const intArg =
  (min: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min)
      throw new InvalidArgumentError(`expected an integer ≥ ${min}, got "${v}"`);
    return n;
  };

export const numArg = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
  return n;
};

export function addPolicyOptions(cmd: Command, what = 'policy'): Command {
  return cmd
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
    .option('--concurrency <n>', 'OpenAI server: parallel requests', intArg(1), 8)
    .option('--timeout <ms>', 'OpenAI server: timeout per request attempt', intArg(1), 120_000)
    .option('--retries <n>', 'OpenAI server: retries on 429/5xx/connection errors', intArg(0), 3)
    .option('--threads <n>', 'GGUF: CPU threads', intArg(1), 1)
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

/** The same sampler with a tokenizer that reports no chat template (prompts in raw text). */
export function withoutChatTemplate(sampler: Sampler): Sampler {
  const inner = sampler.tokenizer;
  const tokenizer: Tokenizer = {
    encode: (t) => inner.encode(t),
    decode: (ids) => inner.decode(ids),
    eosTokenIds: inner.eosTokenIds,
    vocabSize: inner.vocabSize,
    applyChatTemplate: () => null,
  };
  return { tokenizer, sample: (req) => sampler.sample(req) };
}

export async function loadPolicy(o: PolicyOptions): Promise<LoadedPolicy> {
  const p = await loadPolicyAsIs(o);
  return o.chatTemplate === false
    ? { ...p, sampler: withoutChatTemplate(p.sampler), describe: `${p.describe} (no chat template)` }
    : p;
}

async function loadPolicyAsIs(o: PolicyOptions): Promise<LoadedPolicy> {
  const chosen = [
    o.openaiUrl ? '--openai-url' : null,
    o.gguf ? '--gguf' : null,
    o.model && !o.openaiUrl ? '--model' : null,
  ].filter(Boolean);
  if (chosen.length === 0)
    throw new Error('no model: pass --model DIR, --openai-url URL (with --tokenizer DIR) or --gguf FILE');
  if (chosen.length > 1) throw new Error(`choose one model source, got ${chosen.join(' and ')}`);
  if (o.openaiUrl) {
    const modes = ['auto', 'tokens', 'text', 'chat'];
    if (o.openaiMode !== undefined && !modes.includes(o.openaiMode))
      throw new Error(`--openai-mode: unknown mode "${o.openaiMode}" (known: ${modes.join(', ')})`);
    const tokDir = o.tokenizer ?? o.model;
    if (!tokDir)
      throw new Error(
        "--openai-url needs --tokenizer DIR (a folder with the served model's tokenizer.json) to handle token ids",
      );
    const { loadTokenizer } = await import('../engine/tokenizer.ts');
    const { OpenAISampler } = await import('../policy/openai.ts');
    const sampler = new OpenAISampler({
      baseUrl: o.openaiUrl,
      model: o.openaiModel,
      tokenizer: loadTokenizer(tokDir),
      mode: o.openaiMode ?? 'auto',
      apiKey: o.apiKey ?? process.env.OPENAI_API_KEY,
      concurrency: o.concurrency,
      timeoutMs: o.timeout,
      retries: o.retries,
    });
    // vLLM and serve-model report the served context (max_model_len): prompts are kept within it.
    const maxContext = await sampler.contextLength();
    return {
      sampler,
      ...(maxContext !== undefined ? { maxContext } : {}),
      describe: `openai:${o.openaiUrl}${o.openaiModel ? ` (${o.openaiModel})` : ''}`,
      close: async () => {},
    };
  }
  if (o.gguf) {
    const { GgufSampler } = await import('../policy/gguf.ts');
    let tokenizer;
    if (o.tokenizer) tokenizer = (await import('../engine/tokenizer.ts')).loadTokenizer(o.tokenizer);
    const sampler = await GgufSampler.load(o.gguf, {
      threads: o.threads,
      ...(tokenizer ? { tokenizer } : {}),
    });
    return {
      sampler,
      describe: `gguf:${o.gguf}`,
      maxContext: sampler.contextSize,
      close: () => sampler.close(),
    };
  }
  const { EmbeddedTrainer } = await import('../policy/embedded.ts');
  const t = await EmbeddedTrainer.load(o.model!);
  return {
    sampler: t,
    describe: `model:${o.model}`,
    maxContext: t.model.config.maxPositionEmbeddings,
    close: async () => t.dispose(),
  };
}

export async function loadRetriever(
  o: RetrieverOptions,
): Promise<{ retriever: Retriever | null; describe: string | null }> {
  if (o.retriever && o.retrieverUrl) throw new Error('choose one of --retriever and --retriever-url');
  if (o.retriever) {
    const { Bm25Index } = await import('../retrieval/bm25/index.ts');
    return { retriever: await Bm25Index.open(o.retriever), describe: `bm25:${o.retriever}` };
  }
  if (o.retrieverUrl) {
    const { RemoteRetriever } = await import('../retrieval/remote.ts');
    return { retriever: new RemoteRetriever(o.retrieverUrl), describe: `remote:${o.retrieverUrl}` };
  }
  return { retriever: null, describe: null };
}
