// `search-r1 serve-model`: any Sampler (our engine's EmbeddedTrainer, a GGUF model) behind an
// OpenAI-compatible HTTP API, so any OpenAI client can use a model trained here.
//
//   GET  /v1/models
//   POST /v1/completions       prompt: string | string[] | int[] | int[][]  (vLLM-style token ids)
//   POST /v1/chat/completions  messages rendered through the model's chat template
//
// Extensions as vLLM names them: `return_token_ids` (choice.token_ids, choice.prompt_token_ids),
// `include_stop_str_in_output`, `stop_reason`, `top_k`. Log-probs: `logprobs: k` on completions
// (chosen token's log-prob; top alternatives are not computed: top_logprobs is null) and
// `logprobs: true` on chat. `stream: true` is answered as server-sent events carrying the whole
// completion in one chunk (the Sampler seam has no token streaming), then `[DONE]`.
//
// Requests are queued and run one Sampler call at a time (engines are not re-entrant); pending
// requests with identical sampling parameters are merged into one batched call.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import type { ChatMessage } from '../core/tokenizer.ts';
import type { Completion, SampleRequest, Sampler } from '../core/sampler.ts';

export interface OpenAIServerOptions {
  port?: number;
  host?: string;
  /** The id reported by /v1/models and echoed in responses. */
  modelName?: string;
  /** Most prompts merged into one Sampler call (default 16). */
  maxBatch?: number;
  /** An idle server waits while requests keep arriving less than this apart (≤ 10 gaps) to batch them (default 2 ms). */
  batchWindowMs?: number;
  /** Largest accepted request body in bytes (default 8 MiB). */
  maxBodyBytes?: number;
  /** Upper bound on max_tokens (default 4096). */
  maxTokensLimit?: number;
  /** The model's context: prompt + max_tokens beyond it is a 400, as vLLM answers (default: unchecked). */
  contextLength?: number;
}

export interface RunningOpenAIServer {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

const stopField = z.union([z.string(), z.array(z.string()).max(16)]).nullish();
const samplingFields = {
  model: z.string().optional(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: z.number().int().nullish(),
  n: z.number().int().min(1).max(64).nullish(),
  stop: stopField,
  seed: z.number().int().nullish(),
  stream: z.boolean().nullish(),
  return_token_ids: z.boolean().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  user: z.string().optional(),
};

const completionSchema = z.object({
  ...samplingFields,
  prompt: z.union([
    z.string(),
    z.array(z.string()).min(1),
    z.array(z.number().int().nonnegative()).min(1),
    z.array(z.array(z.number().int().nonnegative()).min(1)).min(1),
  ]),
  logprobs: z.number().int().min(0).max(20).nullish(),
  echo: z.literal(false).nullish(),
});

const chatSchema = z.object({
  ...samplingFields,
  messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string() })).min(1),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  add_generation_prompt: z.boolean().nullish(),
  continue_final_message: z.boolean().nullish(),
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

type SamplingParams = Omit<SampleRequest, 'prompts'>;

interface Pending {
  prompts: number[][];
  params: SamplingParams;
  resolve: (c: Completion[][]) => void;
  reject: (e: unknown) => void;
}

/** Serialises Sampler calls; merges queued requests that share sampling parameters. */
class BatchQueue {
  private readonly queue: Pending[] = [];
  private running = false;
  constructor(
    private readonly sampler: Sampler,
    private readonly maxBatch: number,
    private readonly windowMs: number,
  ) {}

  submit(prompts: number[][], params: SamplingParams): Promise<Completion[][]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ prompts, params, resolve, reject });
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    // Concurrent clients' requests arrive a few ms apart (HTTP parsing): let them join the first
    // batch. Later batches form naturally while the previous Sampler call runs.
    // Debounced: wait while requests keep arriving (each gap ≤ window), at most 10 windows.
    if (this.windowMs <= 0) await new Promise((r) => setImmediate(r));
    for (
      let waited = 0, seen = -1;
      this.windowMs > 0 && seen !== this.queue.length && waited < 10;
      waited++
    ) {
      seen = this.queue.length;
      if (this.queue.reduce((n, p) => n + p.prompts.length, 0) >= this.maxBatch) break;
      await new Promise((r) => setTimeout(r, this.windowMs));
    }
    while (this.queue.length > 0) {
      const first = this.queue.shift()!;
      const key = JSON.stringify(first.params);
      const group = [first];
      let size = first.prompts.length;
      for (let i = 0; i < this.queue.length && size < this.maxBatch;) {
        const p = this.queue[i];
        if (JSON.stringify(p.params) === key && size + p.prompts.length <= this.maxBatch) {
          group.push(p);
          size += p.prompts.length;
          this.queue.splice(i, 1);
        } else i++;
      }
      try {
        const out = await this.sampler.sample({ ...first.params, prompts: group.flatMap((g) => g.prompts) });
        let at = 0;
        for (const g of group) {
          g.resolve(out.slice(at, at + g.prompts.length));
          at += g.prompts.length;
        }
      } catch (err) {
        for (const g of group) g.reject(err);
      }
    }
    this.running = false;
  }
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new HttpError(413, `request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not valid JSON: ${(e as Error).message}`);
  }
}

function parseWith<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.join('.') || null;
  throw new HttpError(400, `${param ?? 'body'}: ${issue.message}`, param);
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStream(res: http.ServerResponse, chunks: unknown[]): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const c of chunks) res.write(`data: ${JSON.stringify(c)}\n\n`);
  res.end('data: [DONE]\n\n');
}

/** OpenAI finish_reason and vLLM stop_reason of a Completion. */
function finishFields(c: Completion): { finish_reason: 'stop' | 'length'; stop_reason: string | null } {
  if (c.finish === 'length') return { finish_reason: 'length', stop_reason: null };
  return { finish_reason: 'stop', stop_reason: c.finish === 'stop' ? (c.stopString ?? null) : null };
}

/** Completion text as returned: the stop string is stripped unless asked to keep it (OpenAI default). */
function outputText(c: Completion, includeStop: boolean): string {
  if (!includeStop && c.finish === 'stop' && c.stopString && c.text.endsWith(c.stopString)) {
    return c.text.slice(0, c.text.length - c.stopString.length);
  }
  return c.text;
}

/** Builds the request handler over a Sampler (exported so tests can mount it). */
export function createOpenAIHandler(
  sampler: Sampler,
  opts: OpenAIServerOptions = {},
): (req: http.IncomingMessage, res: http.ServerResponse) => void {
  const modelName = opts.modelName ?? 'search-r1';
  const queue = new BatchQueue(
    sampler,
    Math.max(1, opts.maxBatch ?? 16),
    Math.max(0, opts.batchWindowMs ?? 2),
  );
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const maxTokensLimit = opts.maxTokensLimit ?? 4096;
  const tok = sampler.tokenizer;
  let counter = 0;
  const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}${(counter++).toString(36)}`;

  function samplingParams(b: z.infer<typeof completionSchema> | z.infer<typeof chatSchema>): SamplingParams {
    const maxTokens = b.max_tokens ?? b.max_completion_tokens ?? 16;
    if (maxTokens > maxTokensLimit)
      throw new HttpError(400, `max_tokens: at most ${maxTokensLimit}`, 'max_tokens');
    const stop = b.stop == null ? [] : typeof b.stop === 'string' ? [b.stop] : b.stop;
    return {
      maxTokens,
      stop,
      temperature: b.temperature ?? 1,
      topP: b.top_p ?? 1,
      ...(b.top_k != null && b.top_k > 0 ? { topK: b.top_k } : {}),
      n: b.n ?? 1,
      ...(b.seed != null ? { seed: b.seed } : {}),
    };
  }

  function checkTokens(prompts: number[][], maxTokens: number): void {
    for (const p of prompts) {
      if (opts.contextLength !== undefined && p.length + maxTokens > opts.contextLength) {
        throw new HttpError(
          400,
          `prompt (${p.length} tokens) + max_tokens (${maxTokens}) exceed the model's context length ${opts.contextLength}`,
          'prompt',
        );
      }
      for (const t of p) {
        if (t >= tok.vocabSize)
          throw new HttpError(
            400,
            `prompt: token id ${t} outside the vocabulary (size ${tok.vocabSize})`,
            'prompt',
          );
      }
    }
  }

  async function completions(body: unknown, res: http.ServerResponse): Promise<void> {
    const b = parseWith(completionSchema, body);
    const params = samplingParams(b);
    const p = b.prompt;
    const prompts: number[][] =
      typeof p === 'string'
        ? [tok.encode(p)]
        : typeof p[0] === 'number'
          ? [p as number[]]
          : typeof p[0] === 'string'
            ? (p as string[]).map((s) => tok.encode(s))
            : (p as number[][]);
    checkTokens(prompts, params.maxTokens);
    const out = await queue.submit(prompts, params);
    const includeStop = b.include_stop_str_in_output ?? false;
    const choices = out.flatMap((perPrompt, i) =>
      perPrompt.map((c, j) => {
        const text = outputText(c, includeStop);
        return {
          index: i * (params.n ?? 1) + j,
          text,
          logprobs:
            b.logprobs != null
              ? {
                  tokens: c.tokens.map((t) => tok.decode([t])),
                  token_logprobs: c.logprobs,
                  top_logprobs: null,
                  text_offset: null,
                }
              : null,
          ...finishFields(c),
          ...(b.return_token_ids ? { token_ids: c.tokens, prompt_token_ids: prompts[i] } : {}),
        };
      }),
    );
    const usage = {
      prompt_tokens: prompts.reduce((s, q) => s + q.length, 0),
      completion_tokens: out.flat().reduce((s, c) => s + c.tokens.length, 0),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const response = {
      id: newId('cmpl'),
      object: 'text_completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices,
      usage,
    };
    if (b.stream)
      sendStream(res, [
        { ...response, usage: undefined },
        { ...response, choices: [], usage },
      ]);
    else sendJson(res, 200, response);
  }

  async function chat(body: unknown, res: http.ServerResponse): Promise<void> {
    const b = parseWith(chatSchema, body);
    const params = samplingParams(b);
    const messages = b.messages as ChatMessage[];
    const continueFinal = b.continue_final_message ?? false;
    if (continueFinal && messages[messages.length - 1].role !== 'assistant') {
      throw new HttpError(
        400,
        'continue_final_message needs the last message to be from the assistant',
        'messages',
      );
    }
    const addGen = continueFinal ? false : (b.add_generation_prompt ?? true);
    let promptText = tok.applyChatTemplate(messages, { addGenerationPrompt: addGen });
    if (promptText === null) {
      // A model without a chat template (e.g. a base model): contents joined by newlines.
      promptText = messages.map((m) => m.content).join('\n') + (continueFinal ? '' : '\n');
    } else if (continueFinal) {
      // The template closes the last message; cut back to the end of its content.
      const last = messages[messages.length - 1].content;
      const at = promptText.lastIndexOf(last);
      if (at >= 0) promptText = promptText.slice(0, at + last.length);
    }
    const prompt = tok.encode(promptText);
    checkTokens([prompt], params.maxTokens);
    const [out] = await queue.submit([prompt], params);
    const includeStop = b.include_stop_str_in_output ?? false;
    const choices = out.map((c, j) => ({
      index: j,
      message: { role: 'assistant', content: outputText(c, includeStop) },
      logprobs: b.logprobs
        ? {
            content: c.tokens.map((t, k) => ({
              token: tok.decode([t]),
              logprob: c.logprobs[k],
              bytes: null,
              top_logprobs: [],
            })),
          }
        : null,
      ...finishFields(c),
      ...(b.return_token_ids ? { token_ids: c.tokens } : {}),
    }));
    const completionTokens = out.reduce((s, c) => s + c.tokens.length, 0);
    const usage = {
      prompt_tokens: prompt.length,
      completion_tokens: completionTokens,
      total_tokens: prompt.length + completionTokens,
    };
    const response = {
      id: newId('chatcmpl'),
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: modelName,
      choices,
      usage,
      ...(b.return_token_ids ? { prompt_token_ids: prompt } : {}),
    };
    if (b.stream) {
      const chunk = {
        ...response,
        object: 'chat.completion.chunk',
        usage: undefined,
        choices: choices.map((c) => ({
          index: c.index,
          delta: c.message,
          logprobs: c.logprobs,
          finish_reason: c.finish_reason,
          stop_reason: c.stop_reason,
        })),
      };
      sendStream(res, [chunk]);
    } else sendJson(res, 200, response);
  }

  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname.replace(/\/+$/, '');
    const handle = async (): Promise<void> => {
      if (route === '/v1/models' || route === '/models') {
        if (req.method !== 'GET') throw new HttpError(405, `${req.method} not allowed on ${route}`);
        sendJson(res, 200, {
          object: 'list',
          data: [
            {
              id: modelName,
              object: 'model',
              created: 0,
              owned_by: 'search-r1',
              ...(opts.contextLength !== undefined ? { max_model_len: opts.contextLength } : {}),
            },
          ],
        });
        return;
      }
      if (route === '/health') {
        sendJson(res, 200, { status: 'ok' });
        return;
      }
      const isCompletions = route === '/v1/completions' || route === '/completions';
      const isChat = route === '/v1/chat/completions' || route === '/chat/completions';
      if (!isCompletions && !isChat) throw new HttpError(404, `no route ${req.method} ${url.pathname}`);
      if (req.method !== 'POST') throw new HttpError(405, `${req.method} not allowed on ${route}`);
      const body = await readBody(req, maxBody);
      if (isCompletions) await completions(body, res);
      else await chat(body, res);
    };
    handle().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, status, {
        error: {
          message,
          type: status < 500 ? 'invalid_request_error' : 'server_error',
          param: err instanceof HttpError ? err.param : null,
          code: status,
        },
      });
    });
  };
}

/** Starts the server; resolves once it listens (port 0 picks a free port). */
export async function startOpenAIServer(
  sampler: Sampler,
  opts: OpenAIServerOptions = {},
): Promise<RunningOpenAIServer> {
  const server = http.createServer(createOpenAIHandler(sampler, opts));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 8000, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
