// The policy and retriever a command runs with, from its options: shared by `infer`, `eval` and
// `serve-model` so every command accepts the same flags (declared in src/cli/policy-options.ts).
//   policy:    --model DIR (our engine, HF folder) | --openai-url URL (+ --tokenizer DIR) | --gguf FILE
//   retriever: --retriever INDEX_DIR (embedded BM25) | --retriever-url URL (Search-R1 /retrieve)
import type { Sampler } from '../core/sampler.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import type { OpenAIMode } from '../policy/openai.ts';
import type { Retriever } from '../core/retriever.ts';

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
