// A Sampler over any OpenAI-compatible server: vLLM, SGLang, llama.cpp's server, Ollama, or our
// own `search-r1 serve-model`.
//
// Three wire modes:
//   tokens  POST /v1/completions with the prompt as a list of token ids (vLLM, SGLang, llama.cpp,
//           serve-model). With vLLM extensions on, asks for `return_token_ids` and
//           `include_stop_str_in_output` so tokens come back exactly as generated (token-in/out).
//   text    POST /v1/completions with the decoded prompt text (any server). Tokens are taken from
//           the server when it returns them, else re-encoded locally (then log-probs are NaN
//           unless the server's per-token log-probs line up one-to-one).
//   chat    POST /v1/chat/completions (servers that only offer chat). The prompt ids are decoded
//           and split back into messages at ChatML / Llama-3 markers; a trailing partial assistant
//           message is continued (vLLM `continue_final_message`).
// `auto` (default) starts in tokens mode and falls back to text mode for good when the server
// rejects a token-id prompt with a 4xx.
//
// Robustness: a concurrency limit over in-flight HTTP requests, a timeout per attempt, and
// 408 / 429 / 5xx / connection errors / timeouts retried under the shared retry policy
// (src/core/retry.ts: exponential backoff with full jitter inside a time budget, default 10 min,
// `--retry-budget` / SEARCH_R1_RETRY_BUDGET; Retry-After honoured; each wait logged on stderr);
// the final error names the URL, the number of attempts and the cause. See docs/faults.md.
import type { ChatMessage, Tokenizer } from '../core/tokenizer.ts';
import { parseRetryAfter, retryPolicy, withRetries, type RetryHooks } from '../core/retry.ts';
import type { Completion, FinishReason, SampleRequest, Sampler } from '../core/sampler.ts';
import { cutAfterStop } from '../core/stop.ts';

export type OpenAIMode = 'auto' | 'tokens' | 'text' | 'chat';

export interface OpenAISamplerOptions {
  /** Server root, with or without the trailing `/v1` (e.g. `http://localhost:8000`). */
  baseUrl: string;
  /** Model name sent in requests; default: the first id of GET /v1/models. */
  model?: string;
  /** Local tokenizer of the served model (prompts arrive as token ids; text mode encodes). */
  tokenizer: Tokenizer;
  mode?: OpenAIMode;
  apiKey?: string;
  /** Maximum in-flight HTTP requests (default 8). */
  concurrency?: number;
  /** Per-attempt timeout in ms (default 120 000). */
  timeoutMs?: number;
  /** Cap on retries after the first attempt (default: none, only the time budget limits). */
  retries?: number;
  /** Total retry budget in ms (default: --retry-budget, $SEARCH_R1_RETRY_BUDGET, or 10 min). */
  retryBudgetMs?: number;
  /** First backoff ceiling in ms, doubled each retry up to 30 s, full jitter (default 500). */
  backoffMs?: number;
  /** Where each wait is logged (default: stderr). */
  retryLog?: RetryHooks['log'];
  /** Ask for per-token log-probs (default true). */
  logprobs?: boolean;
  /** Send vLLM's `return_token_ids` / `include_stop_str_in_output` (default true; others ignore them). */
  vllmExtensions?: boolean;
  /** Extra JSON fields merged into every request body (e.g. `{ "repetition_penalty": 1 }`). */
  extraBody?: Record<string, unknown>;
  /** Injected for tests. */
  fetch?: typeof fetch;
}

/** An HTTP failure that will not get better by retrying (4xx other than 408/429). */
export class OpenAIRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly url: string,
  ) {
    super(message);
    this.name = 'OpenAIRequestError';
  }
}

// ---- stop-string helpers (also used by gguf.ts and openai-server.ts) ----------------------------

/**
 * Which stop string ended a completion, for servers that strip it without saying which (OpenAI's
 * API, llama.cpp, Ollama report only finish_reason "stop", which EOS gives too). With one stop
 * string it is that one; tag-like stops `</x>` resolve to the tag `<x>` opened last and still
 * open. undefined when it cannot be told (the completion is then reported as EOS).
 */
export function inferStrippedStop(text: string, stops: readonly string[]): string | undefined {
  if (stops.length === 1) return stops[0];
  let best: { pos: number; stop: string } | undefined;
  for (const s of stops) {
    const m = /^<\/([^<>]+)>$/.exec(s);
    if (!m) continue;
    const pos = text.lastIndexOf(`<${m[1]}>`);
    if (pos < 0 || text.indexOf(s, pos) >= 0) continue;
    if (!best || pos > best.pos) best = { pos, stop: s };
  }
  return best?.stop;
}

// ---- chat prompt splitting ----------------------------------------------------------------------

/**
 * Splits a rendered chat prompt back into messages (ChatML `<|im_start|>role\n…<|im_end|>`,
 * Llama-3 `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`, Gemma
 * `<start_of_turn>user|model\n…<end_of_turn>`, Phi-3 `<|user|>\n…<|end|>`). `continueFinal` is true
 * when the prompt ends inside an assistant message that has content (a multi-turn rollout).
 * Text without markers becomes one user message.
 */
export function splitChatPrompt(text: string): { messages: ChatMessage[]; continueFinal: boolean } {
  const patterns: RegExp[] = [
    // ChatML (Qwen, many others)
    /<\|im_start\|>(system|user|assistant)\n([\s\S]*?)(<\|im_end\|>|$)/g,
    // Llama 3
    /<\|start_header_id\|>(system|user|assistant)<\|end_header_id\|>\n\n([\s\S]*?)(<\|eot_id\|>|$)/g,
    // Gemma (the assistant is "model")
    /<start_of_turn>(user|model)\n([\s\S]*?)(<end_of_turn>|$)/g,
    // Phi-3
    /<\|(system|user|assistant)\|>\n([\s\S]*?)(<\|end\|>|$)/g,
  ];
  for (const re of patterns) {
    const messages: ChatMessage[] = [];
    let lastOpen = false;
    for (const m of text.matchAll(re)) {
      const role = m[1] === 'model' ? 'assistant' : (m[1] as ChatMessage['role']);
      messages.push({ role, content: m[2] });
      lastOpen = m[3] === '';
    }
    if (messages.length === 0) continue;
    const last = messages[messages.length - 1];
    if (last.role === 'assistant' && lastOpen) {
      if (last.content.length === 0) {
        messages.pop(); // only the generation prompt
        return { messages, continueFinal: false };
      }
      return { messages, continueFinal: true };
    }
    return { messages, continueFinal: false };
  }
  return { messages: [{ role: 'user', content: text }], continueFinal: false };
}

// ---- the sampler --------------------------------------------------------------------------------

/** A FIFO semaphore bounding concurrent requests. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

/** Human-readable cause of a fetch failure (undici hides the socket error in `cause`). */
function describeCause(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return e.message ?? 'timed out';
  if (e?.cause?.message)
    return e.cause.code && !e.cause.message.includes(e.cause.code)
      ? `${e.cause.code}: ${e.cause.message}`
      : e.cause.message;
  return e?.message ?? String(err);
}

interface ChoiceLike {
  index?: number;
  text?: string;
  message?: { content?: string | null };
  finish_reason?: string | null;
  /** vLLM: the stop string, a stop token id, or null for EOS. */
  stop_reason?: string | number | null;
  /** SGLang's name for the same. */
  matched_stop?: string | number | null;
  token_ids?: number[] | null;
  logprobs?: {
    tokens?: string[];
    token_logprobs?: (number | null)[];
    content?: { token: string; logprob: number }[] | null;
  } | null;
}

export class OpenAISampler implements Sampler {
  readonly tokenizer: Tokenizer;
  private readonly root: string;
  private model: string | undefined;
  private mode: OpenAIMode;
  private readonly limiter: Limiter;
  private readonly fetchFn: typeof fetch;
  private readonly opts: Required<
    Pick<OpenAISamplerOptions, 'timeoutMs' | 'backoffMs' | 'logprobs' | 'vllmExtensions'>
  >;

  constructor(private readonly options: OpenAISamplerOptions) {
    this.tokenizer = options.tokenizer;
    this.root = options.baseUrl.replace(/\/+$/, '').replace(/\/v1$/, '');
    this.model = options.model;
    this.mode = options.mode ?? 'auto';
    this.limiter = new Limiter(Math.max(1, options.concurrency ?? 8));
    this.fetchFn = options.fetch ?? fetch;
    this.opts = {
      timeoutMs: options.timeoutMs ?? 120_000,
      backoffMs: options.backoffMs ?? 500,
      logprobs: options.logprobs ?? true,
      vllmExtensions: options.vllmExtensions ?? true,
    };
  }

  /** The wire mode in use (auto resolves to tokens or text after the first request). */
  get currentMode(): OpenAIMode {
    return this.mode;
  }

  /** GET /v1/models, with the same retries; returns the model ids. */
  async listModels(): Promise<string[]> {
    return (await this.modelInfo()).map((m) => m.id);
  }

  /** GET /v1/models with vLLM's `max_model_len` (the served context) when the server gives it. */
  async modelInfo(opts: { retries?: number } = {}): Promise<{ id: string; maxModelLen?: number }[]> {
    const body = (await this.request('GET', '/v1/models', undefined, opts.retries)) as {
      data?: { id: string; max_model_len?: unknown }[];
    };
    return (body.data ?? []).map((m) => ({
      id: m.id,
      ...(typeof m.max_model_len === 'number' ? { maxModelLen: m.max_model_len } : {}),
    }));
  }

  /**
   * The served model's context length, if the server reports it (vLLM, serve-model); one quick
   * attempt, undefined on any failure (the first real request reports an unreachable server).
   */
  async contextLength(): Promise<number | undefined> {
    try {
      const models = await this.modelInfo({ retries: 0 });
      const m = this.model !== undefined ? models.find((x) => x.id === this.model) : models[0];
      return m?.maxModelLen;
    } catch {
      return undefined;
    }
  }

  private async modelName(): Promise<string> {
    if (this.model === undefined) {
      const ids = await this.listModels();
      if (ids.length === 0) throw new Error(`${this.root}/v1/models lists no models; pass a model name`);
      this.model = ids[0];
    }
    return this.model;
  }

  async sample(req: SampleRequest): Promise<Completion[][]> {
    const model = await this.modelName();
    return Promise.all(req.prompts.map((p) => this.limiter.run(() => this.sampleOne(model, p, req))));
  }

  private async sampleOne(model: string, prompt: number[], req: SampleRequest): Promise<Completion[]> {
    const n = req.n ?? 1;
    const common: Record<string, unknown> = {
      model,
      max_tokens: req.maxTokens,
      temperature: req.temperature,
      top_p: req.topP,
      n,
      ...(req.stop.length > 0 ? { stop: req.stop } : {}),
      ...(req.seed !== undefined ? { seed: req.seed } : {}),
      ...(req.topK !== undefined && req.topK > 0 ? { top_k: req.topK } : {}),
      ...(this.opts.vllmExtensions ? { return_token_ids: true, include_stop_str_in_output: true } : {}),
      ...this.options.extraBody,
    };
    if (this.mode === 'chat') {
      const { messages, continueFinal } = splitChatPrompt(this.tokenizer.decode(prompt));
      const body = {
        ...common,
        messages,
        ...(this.opts.logprobs ? { logprobs: true } : {}),
        ...(continueFinal ? { continue_final_message: true, add_generation_prompt: false } : {}),
      };
      const res = (await this.request('POST', '/v1/chat/completions', body)) as { choices?: ChoiceLike[] };
      return this.parseChoices(res.choices, n, req.stop, '/v1/chat/completions');
    }
    const lp = this.opts.logprobs ? { logprobs: 1 } : {};
    const viaText = async () => {
      const text = this.tokenizer.decode(prompt);
      const res = (await this.request('POST', '/v1/completions', { ...common, ...lp, prompt: text })) as {
        choices?: ChoiceLike[];
      };
      return this.parseChoices(res.choices, n, req.stop, '/v1/completions');
    };
    if (this.mode === 'text') return viaText();
    try {
      const res = (await this.request('POST', '/v1/completions', { ...common, ...lp, prompt })) as {
        choices?: ChoiceLike[];
      };
      if (this.mode === 'auto') this.mode = 'tokens';
      return this.parseChoices(res.choices, n, req.stop, '/v1/completions');
    } catch (err) {
      const rejected = err instanceof OpenAIRequestError && (err.status === 400 || err.status === 422);
      if (this.mode !== 'auto' || !rejected) throw err;
      // Maybe the server does not take token-id prompts: try text. If text is refused too, the
      // request itself was bad (e.g. too long): stay in auto mode and report the first error.
      try {
        const out = await viaText();
        this.mode = 'text';
        return out;
      } catch (err2) {
        if (err2 instanceof OpenAIRequestError && err2.status < 500) throw err;
        throw err2;
      }
    }
  }

  /** Server choices → Completions (tokens, log-probs, finish, text cut after the stop string). */
  private parseChoices(
    choices: ChoiceLike[] | undefined,
    n: number,
    stops: string[],
    path: string,
  ): Completion[] {
    if (!Array.isArray(choices) || choices.length !== n) {
      throw new Error(
        `${this.root}${path}: expected ${n} choices, got ${Array.isArray(choices) ? choices.length : 'none'}`,
      );
    }
    const sorted = [...choices].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
    return sorted.map((c) => this.parseChoice(c, stops));
  }

  private parseChoice(c: ChoiceLike, stops: string[]): Completion {
    let text = c.text ?? c.message?.content ?? '';
    let finish: FinishReason = c.finish_reason === 'length' ? 'length' : 'eos';
    let stopString: string | undefined;
    if (c.finish_reason === 'stop') {
      const atEnd = stops.find((s) => s.length > 0 && text.endsWith(s));
      const reason = c.stop_reason !== undefined ? c.stop_reason : c.matched_stop;
      if (typeof reason === 'string') stopString = reason;
      else if (reason === undefined) stopString = atEnd ?? inferStrippedStop(text, stops);
      // stop_reason null or a token id: EOS / a stop token.
      if (stopString !== undefined) {
        finish = 'stop';
        if (!text.endsWith(stopString)) text += stopString; // the server stripped it
      }
    }
    // Token ids as generated: vLLM's return_token_ids, or logprob tokens "token_id:N"
    // (vLLM --return-tokens-as-token-ids); else re-encode the text locally.
    let tokens: number[] | undefined = Array.isArray(c.token_ids) ? c.token_ids : undefined;
    const lpTokens = c.logprobs?.tokens;
    if (!tokens && lpTokens && lpTokens.length > 0 && lpTokens.every((t) => /^token_id:\d+$/.test(t))) {
      tokens = lpTokens.map((t) => Number(t.slice('token_id:'.length)));
    }
    if (!tokens) tokens = this.tokenizer.encode(text);
    const raw: (number | null)[] | undefined =
      c.logprobs?.token_logprobs ?? c.logprobs?.content?.map((x) => x.logprob);
    const logprobs =
      raw && raw.length === tokens.length
        ? raw.map((x) => (typeof x === 'number' ? x : Number.NaN))
        : tokens.map(() => Number.NaN);
    // A server that stops on EOS may append nothing; one that hit the stop string may have
    // generated past it inside the last token: cut the text exactly after the stop string.
    if (finish === 'stop') text = cutAfterStop(text, stops).text;
    return { tokens, logprobs, finish, text, ...(stopString !== undefined ? { stopString } : {}) };
  }

  /** One HTTP call with a timeout per attempt, retried under the shared retry policy. */
  private async request(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    retries?: number,
  ): Promise<unknown> {
    const url = `${this.root}${path}`;
    return withRetries(
      `${method} ${url}`,
      () => this.attempt(method, url, body),
      (err) => {
        if (err instanceof OpenAIRequestError) return null;
        if (err instanceof TransientHttpError) return { cause: err.message, retryAfterMs: err.retryAfterMs };
        const e = err as { name?: string };
        return {
          cause:
            e?.name === 'TimeoutError' ? `timed out after ${this.opts.timeoutMs} ms` : describeCause(err),
        };
      },
      retryPolicy({
        budgetMs: this.options.retryBudgetMs,
        initialDelayMs: this.opts.backoffMs,
        maxRetries: retries ?? this.options.retries,
      }),
      { log: this.options.retryLog },
    );
  }

  private async attempt(method: 'GET' | 'POST', url: string, body: unknown): Promise<unknown> {
    const res = await this.fetchFn(url, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    const status = res.status;
    const textBody = await res.text();
    if (res.ok) {
      try {
        return JSON.parse(textBody);
      } catch {
        throw new OpenAIRequestError(`${url}: response is not JSON: ${textBody.slice(0, 200)}`, status, url);
      }
    }
    const message = `HTTP ${status}: ${textBody.slice(0, 500)}`;
    if (status !== 429 && status !== 408 && status < 500)
      throw new OpenAIRequestError(`${url}: ${message}`, status, url);
    throw new TransientHttpError(message, parseRetryAfter(res.headers.get('retry-after')));
  }
}

/** A 408 / 429 / 5xx answer: worth another attempt. */
class TransientHttpError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}
