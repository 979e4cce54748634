// A Sampler over a GGUF model in process, through node-llama-cpp (llama.cpp's CPU build):
// token-in/token-out, with the sampling probability of every generated token (node-llama-cpp's
// `confidence`, i.e. after temperature / top-k / top-p), as a log-prob.
//
// Prompts run on a pool of context sequences (llama.cpp batches them together); a sequence keeps
// its KV cache and only evaluates the part of a new prompt that differs from what it holds, so a
// multi-turn rollout re-uses the prefix it already computed.
import type { ChatMessage } from '../core/tokenizer.ts';
import { renderChatTemplate } from '../protocol/prompt.ts';
import { findStop } from '../core/stop.ts';
import type { Completion, SampleRequest, Sampler } from '../core/sampler.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';

export interface GgufSamplerOptions {
  /** Parallel sequences (default 4). */
  sequences?: number;
  /** Context tokens per sequence (default: min(model's training context, 4096)). */
  contextSize?: number;
  /**
   * CPU threads (default 1). llama.cpp's worker threads spin while waiting: on a shared or busy
   * machine more threads than free cores slow tiny models down by orders of magnitude (measured
   * 11 ms vs 35 s for 12 tokens of a 64-wide model at load 11 on 2 vCPUs). Raise it for big models.
   */
  threads?: number;
  /** A tokenizer to use instead of the GGUF's own (it must share the ids, e.g. the HF folder the GGUF was exported from). */
  tokenizer?: Tokenizer;
}

/** The GGUF's own vocabulary as a Tokenizer; chat template from its `tokenizer.chat_template`. */
export class GgufTokenizer implements Tokenizer {
  readonly eosTokenIds: readonly number[];
  readonly vocabSize: number;
  private readonly chatTemplate: string | null;
  constructor(private readonly model: LlamaModel) {
    const eos = new Set<number>();
    const t = model.tokens;
    for (const id of [t.eos, t.eot]) if (id !== null && id !== undefined) eos.add(id as number);
    this.eosTokenIds = [...eos];
    const meta = model.fileInfo.metadata as unknown as {
      tokenizer?: { chat_template?: unknown; ggml?: { tokens?: unknown[] } };
    };
    const ct = meta.tokenizer?.chat_template;
    this.chatTemplate = typeof ct === 'string' ? ct : null;
    this.vocabSize = Array.isArray(meta.tokenizer?.ggml?.tokens) ? meta.tokenizer.ggml.tokens.length : 0;
  }
  encode(text: string): number[] {
    // specialTokens: true so "<|im_start|>" in a rendered chat prompt maps to its control token,
    // as HF tokenizers do for added tokens.
    return this.model.tokenize(text, true) as number[];
  }
  decode(ids: readonly number[]): string {
    return this.model.detokenize(ids as Token[], true);
  }
  applyChatTemplate(messages: ChatMessage[], opts?: { addGenerationPrompt?: boolean }): string | null {
    if (!this.chatTemplate) return null;
    return renderChatTemplate(this.chatTemplate, messages, {
      addGenerationPrompt: opts?.addGenerationPrompt ?? false,
    });
  }
}

export class GgufSampler implements Sampler {
  readonly tokenizer: Tokenizer;
  private readonly free: LlamaContextSequence[];
  private readonly waiting: ((s: LlamaContextSequence) => void)[] = [];

  private constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly context: LlamaContext,
    tokenizer: Tokenizer | undefined,
  ) {
    this.tokenizer = tokenizer ?? new GgufTokenizer(model);
    this.free = Array.from({ length: context.totalSequences }, () => context.getSequence());
  }

  /** Loads a GGUF file on the CPU. */
  static async load(modelPath: string, opts: GgufSamplerOptions = {}): Promise<GgufSampler> {
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    // build: 'never' — use the shipped CPU binary, never download or compile at run time.
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath });
    } catch (e) {
      await llama.dispose();
      throw new Error(`${modelPath}: cannot load GGUF model (${(e as Error).message})`);
    }
    const sequences = Math.max(1, opts.sequences ?? 4);
    const contextSize = opts.contextSize ?? Math.min(model.trainContextSize || 4096, 4096);
    const context = await model.createContext({
      sequences,
      contextSize,
      threads: Math.max(1, opts.threads ?? 1),
    });
    return new GgufSampler(llama, model, context, opts.tokenizer);
  }

  /** Tokens each sequence can hold. */
  get contextSize(): number {
    return this.context.contextSize;
  }

  private async acquire(): Promise<LlamaContextSequence> {
    const s = this.free.pop();
    if (s) return s;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(s: LlamaContextSequence): void {
    const next = this.waiting.shift();
    if (next) next(s);
    else this.free.push(s);
  }

  async sample(req: SampleRequest): Promise<Completion[][]> {
    const n = req.n ?? 1;
    const jobs = req.prompts.map((p, i) =>
      Promise.all(
        Array.from({ length: n }, async (_, j) => {
          const seq = await this.acquire();
          try {
            // Distinct seeds per sample so n > 1 gives n different samples.
            const seed = req.seed !== undefined ? req.seed + i * n + j : undefined;
            return await this.generate(seq, p, req, seed);
          } finally {
            this.release(seq);
          }
        }),
      ),
    );
    return Promise.all(jobs);
  }

  private async generate(
    seq: LlamaContextSequence,
    prompt: number[],
    req: SampleRequest,
    seed: number | undefined,
  ): Promise<Completion> {
    if (prompt.length === 0) throw new Error('GgufSampler: empty prompt');
    if (prompt.length + req.maxTokens > this.context.contextSize) {
      throw new Error(
        `GgufSampler: prompt (${prompt.length}) + maxTokens (${req.maxTokens}) exceed the context size ${this.context.contextSize}`,
      );
    }
    // Keep the cached prefix this sequence shares with the prompt; evaluate the rest (at least
    // the last prompt token, whose logits give the first sample).
    await seq.adaptStateToTokens(prompt as Token[], false);
    let start = Math.min(seq.nextTokenIndex, prompt.length - 1);
    if (seq.nextTokenIndex > start) await seq.eraseContextTokenRanges([{ start, end: seq.nextTokenIndex }]);
    start = seq.nextTokenIndex;
    const tokens: number[] = [];
    const logprobs: number[] = [];
    let text = '';
    let finish: Completion['finish'] = 'length';
    let stopString: string | undefined;
    const eog = (t: number) => this.model.isEogToken(t as Token) || this.tokenizer.eosTokenIds.includes(t);
    if (req.maxTokens > 0) {
      const gen = seq.evaluateWithMetadata(
        prompt.slice(start) as Token[],
        { confidence: true },
        {
          temperature: req.temperature,
          topP: req.topP,
          ...(req.topK !== undefined && req.topK > 0 ? { topK: req.topK } : {}),
          ...(seed !== undefined ? { seed } : {}),
          yieldEogToken: true,
        },
      );
      for await (const out of gen) {
        const t = out.token as number;
        tokens.push(t);
        logprobs.push(Math.log(Math.max(out.confidence, Number.MIN_VALUE)));
        if (eog(t)) {
          finish = 'eos';
          break;
        }
        text = this.tokenizer.decode(tokens);
        // Cut exactly after the (earliest-ending) stop string, as the Sampler seam asks.
        const hit = findStop(text, req.stop);
        if (hit) {
          text = text.slice(0, hit.index + hit.stop.length);
          finish = 'stop';
          stopString = hit.stop;
          break;
        }
        if (tokens.length >= req.maxTokens) break;
      }
    }
    if (finish === 'eos') text = this.tokenizer.decode(tokens.slice(0, -1));
    return { tokens, logprobs, finish, text, ...(stopString !== undefined ? { stopString } : {}) };
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
