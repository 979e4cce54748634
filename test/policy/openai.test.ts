// The OpenAI-compatible client (policy/openai.ts) against our serve-model server
// (policy/openai-server.ts) on loopback, and against scripted misbehaving servers.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OpenAISampler, splitChatPrompt, inferStrippedStop } from '../../src/policy/openai.ts';
import { cutAfterStop } from '../../src/core/stop.ts';
import { createOpenAIHandler, startOpenAIServer } from '../../src/policy/openai-server.ts';
import { CharTokenizer, ScriptedSampler } from '../eval/fakes.ts';

const tok = new CharTokenizer();
const servers: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

/** A raw HTTP server with a scripted handler; counts requests and in-flight peaks. */
async function scripted(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string, n: number) => void,
) {
  const stats = { requests: 0, inFlight: 0, maxInFlight: 0 };
  const server = http.createServer((req, res) => {
    const n = ++stats.requests;
    stats.inFlight++;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    res.on('close', () => stats.inFlight--);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, Buffer.concat(chunks).toString('utf8'), n));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle = {
    url,
    stats,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  servers.push(handle);
  return handle;
}

/** serve-model over a scripted sampler, wrapped to count concurrent HTTP requests. */
async function serveModel(sampler: ScriptedSampler) {
  const inner = createOpenAIHandler(sampler, { modelName: 'tiny' });
  return scripted((req, res, body) => {
    // Re-feed the consumed body to the real handler through a fake readable request.
    const fake = Object.assign(
      (async function* () {
        yield Buffer.from(body);
      })(),
      { url: req.url, method: req.method, headers: req.headers },
    ) as unknown as http.IncomingMessage;
    inner(fake, res);
  });
}

const script = (prompt: string) => {
  if (prompt.endsWith('Q1')) return ' <think>easy</think> <search> capital of France </search> more text';
  if (prompt.endsWith('Q2')) return ' <answer> Paris </answer> trailing';
  return ' no tags at all';
};

test('tokens mode against serve-model: stop strings, token ids, log-probs, finish reasons', async () => {
  const sampler = new ScriptedSampler(script);
  const srv = await startOpenAIServer(sampler, { port: 0, modelName: 'tiny' });
  servers.push(srv);
  const client = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, retries: 0 });
  assert.deepEqual(await client.listModels(), ['tiny']);
  assert.equal(await client.contextLength(), undefined, 'no context length configured');
  const srv2 = await startOpenAIServer(sampler, { port: 0, modelName: 'tiny', contextLength: 2048 });
  servers.push(srv2);
  assert.equal(
    await new OpenAISampler({ baseUrl: srv2.url, tokenizer: tok }).contextLength(),
    2048,
    'vLLM-style max_model_len',
  );
  const out = await client.sample({
    prompts: [tok.encode('Q1'), tok.encode('Q2'), tok.encode('Q3'), tok.encode('Q1')],
    maxTokens: 100,
    stop: ['</search>', '</answer>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(client.currentMode, 'tokens');
  const [s, a, e] = [out[0][0], out[1][0], out[2][0]];
  assert.equal(s.text, ' <think>easy</think> <search> capital of France </search>');
  assert.equal(s.finish, 'stop');
  assert.equal(s.stopString, '</search>');
  assert.deepEqual(s.tokens, tok.encode(s.text));
  assert.deepEqual(
    s.logprobs,
    s.tokens.map((_, k) => -(k + 1) / 100),
  );
  assert.equal(a.text, ' <answer> Paris </answer>');
  assert.equal(a.stopString, '</answer>');
  assert.equal(e.finish, 'eos');
  assert.equal(e.text, ' no tags at all');
  assert.equal(e.tokens[e.tokens.length - 1], 3, 'the EOS token id comes back');
  assert.deepEqual(out[3][0], s);
  // The server received token ids, not text: the sampler saw exactly the prompts.
  assert.deepEqual(sampler.calls.flatMap((c) => c.prompts).sort(), ['Q1', 'Q1', 'Q2', 'Q3']);

  const short = await client.sample({
    prompts: [tok.encode('Q1')],
    maxTokens: 5,
    stop: ['</search>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(short[0][0].finish, 'length');
  assert.equal(short[0][0].tokens.length, 5);
});

test('n samples per prompt and sampling parameters reach the sampler', async () => {
  const sampler = new ScriptedSampler((p, j) => ` sample ${j} of ${p}`);
  const srv = await startOpenAIServer(sampler, { port: 0 });
  servers.push(srv);
  const client = new OpenAISampler({
    baseUrl: `${srv.url}/v1`,
    tokenizer: tok,
    model: 'search-r1',
    retries: 0,
  });
  const out = await client.sample({
    prompts: [tok.encode('A'), tok.encode('B')],
    maxTokens: 50,
    stop: [],
    temperature: 0.7,
    topP: 0.9,
    topK: 5,
    n: 3,
    seed: 11,
  });
  assert.deepEqual(
    out.map((r) => r.map((c) => c.text)),
    [
      [' sample 0 of A', ' sample 1 of A', ' sample 2 of A'],
      [' sample 0 of B', ' sample 1 of B', ' sample 2 of B'],
    ],
  );
  const req = sampler.calls[0].req;
  assert.equal(req.temperature, 0.7);
  assert.equal(req.topP, 0.9);
  assert.equal(req.topK, 5);
  assert.equal(req.n, 3);
  assert.equal(req.seed, 11);
});

test('concurrency limit bounds in-flight requests; the server batches queued requests', async () => {
  const sampler = new ScriptedSampler((p) => ` echo ${p}`, 30);
  const srv = await serveModel(sampler);
  const client = new OpenAISampler({
    baseUrl: srv.url,
    tokenizer: tok,
    model: 'tiny',
    concurrency: 3,
    retries: 0,
  });
  const prompts = Array.from({ length: 10 }, (_, i) => tok.encode(`P${i}`));
  const out = await client.sample({ prompts, maxTokens: 20, stop: [], temperature: 0, topP: 1 });
  assert.deepEqual(
    out.map((r) => r[0].text),
    prompts.map((_, i) => ` echo P${i}`),
  );
  assert.equal(srv.stats.requests, 10);
  assert.equal(srv.stats.maxInFlight, 3, 'exactly the limit is used');
  assert.ok(sampler.maxInFlight === 1, 'the server never calls the sampler concurrently');
  assert.ok(sampler.calls.length < 10, `queued requests were merged (${sampler.calls.length} sampler calls)`);
});

test('serve-model merges only requests with identical sampling parameters', async () => {
  const sampler = new ScriptedSampler((p) => ` echo ${p}`, 20);
  const srv = await startOpenAIServer(sampler, { port: 0, batchWindowMs: 20 });
  servers.push(srv);
  const post = (prompt: string, temperature: number) =>
    fetch(`${srv.url}/v1/completions`, {
      method: 'POST',
      body: JSON.stringify({ prompt, temperature, max_tokens: 20 }),
    }).then((r) => r.json() as Promise<{ choices: { text: string }[] }>);
  const outs = await Promise.all([post('a', 0), post('b', 0.5), post('c', 0), post('d', 0.5), post('e', 0)]);
  assert.deepEqual(
    outs.map((o) => o.choices[0].text),
    [' echo a', ' echo b', ' echo c', ' echo d', ' echo e'],
  );
  // Every engine call is homogeneous (one temperature), each prompt ran once, and requests were
  // merged (typically exactly [0: a c e] and [0.5: b d]; fewer merges only if the machine stalls).
  for (const c of sampler.calls) {
    const want = c.req.temperature === 0 ? 'ace' : 'bd';
    assert.ok(
      c.prompts.every((p) => want.includes(p)),
      `${c.req.temperature}: ${c.prompts}`,
    );
  }
  assert.deepEqual(sampler.calls.flatMap((c) => c.prompts).sort(), ['a', 'b', 'c', 'd', 'e']);
  assert.ok(sampler.calls.length < 5, `merged into ${sampler.calls.length} calls`);
});

test('a server that returns 500 then succeeds: retried with backoff', async () => {
  const srv = await scripted((_req, res, _body, n) => {
    if (n <= 2) {
      res.writeHead(n === 1 ? 500 : 429, { 'content-type': 'application/json' });
      res.end('{"error":"busy"}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        choices: [
          {
            index: 0,
            text: 'ok',
            finish_reason: 'length',
            token_ids: [111, 107],
            logprobs: { tokens: ['o', 'k'], token_logprobs: [-0.5, -0.25] },
          },
        ],
      }),
    );
  });
  const client = new OpenAISampler({
    baseUrl: srv.url,
    tokenizer: tok,
    model: 'm',
    retries: 3,
    backoffMs: 5,
  });
  const out = await client.sample({ prompts: [[1, 2]], maxTokens: 2, stop: [], temperature: 0, topP: 1 });
  assert.equal(srv.stats.requests, 3);
  assert.deepEqual(out[0][0], { tokens: [111, 107], logprobs: [-0.5, -0.25], finish: 'length', text: 'ok' });
});

test('SGLang-style matched_stop and a stop token id are understood', async () => {
  const srv = await scripted((_req, res, body) => {
    const b = JSON.parse(body) as { prompt: number[] };
    res.writeHead(200, { 'content-type': 'application/json' });
    const sglang = b.prompt[0] === 1;
    res.end(
      JSON.stringify({
        choices: [
          sglang
            ? { index: 0, text: ' <answer> x ', finish_reason: 'stop', matched_stop: '</answer>' }
            : { index: 0, text: ' <answer> x ', finish_reason: 'stop', stop_reason: 151645 },
        ],
      }),
    );
  });
  const client = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, model: 'm', retries: 0 });
  const out = await client.sample({
    prompts: [[1], [2]],
    maxTokens: 9,
    stop: ['</search>', '</answer>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(out[0][0].text, ' <answer> x </answer>');
  assert.equal(out[0][0].finish, 'stop');
  assert.equal(out[1][0].finish, 'eos', 'a stop token id is an end of sequence, not a stop string');
  assert.equal(out[1][0].text, ' <answer> x ');
});

test('a server that hangs: each attempt times out, the error names the URL and the cause', async () => {
  const srv = await scripted(() => {
    /* never answers */
  });
  const client = new OpenAISampler({
    baseUrl: srv.url,
    tokenizer: tok,
    model: 'm',
    timeoutMs: 150,
    retries: 1,
    backoffMs: 5,
  });
  await assert.rejects(
    client.sample({ prompts: [[1]], maxTokens: 2, stop: [], temperature: 0, topP: 1 }),
    (err: Error) => {
      assert.match(err.message, new RegExp(`${srv.url}/v1/completions`));
      assert.match(err.message, /after 2 attempts/);
      assert.match(err.message, /timed out after 150 ms/);
      return true;
    },
  );
  assert.equal(srv.stats.requests, 2);
});

test('an unreachable server fails after the configured retries with URL and cause', async () => {
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const client = new OpenAISampler({
    baseUrl: `http://127.0.0.1:${port}`,
    tokenizer: tok,
    model: 'm',
    retries: 2,
    backoffMs: 5,
  });
  await assert.rejects(
    client.sample({ prompts: [[1]], maxTokens: 2, stop: [], temperature: 0, topP: 1 }),
    (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`http://127.0.0.1:${port}/v1/completions failed after 3 attempts`),
      );
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    },
  );
});

test('a 4xx is not retried; auto mode falls back to text prompts when token ids are rejected', async () => {
  const bodies: Record<string, unknown>[] = [];
  const srv = await scripted((_req, res, body) => {
    const b = JSON.parse(body) as Record<string, unknown>;
    bodies.push(b);
    if (typeof b.prompt !== 'string') {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"prompt must be a string"}}');
      return;
    }
    // A server that strips the stop string and reports only finish_reason (llama.cpp, Ollama).
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ choices: [{ index: 0, text: `${b.prompt} <search> q `, finish_reason: 'stop' }] }),
    );
  });
  const strict = new OpenAISampler({
    baseUrl: srv.url,
    tokenizer: tok,
    model: 'm',
    mode: 'tokens',
    retries: 3,
    backoffMs: 5,
  });
  await assert.rejects(
    strict.sample({
      prompts: [tok.encode('x')],
      maxTokens: 9,
      stop: ['</search>', '</answer>'],
      temperature: 0,
      topP: 1,
    }),
    /HTTP 400/,
  );
  assert.equal(bodies.length, 1, 'no retry on 400');

  const auto = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, model: 'm', retries: 0 });
  const out = await auto.sample({
    prompts: [tok.encode('hi')],
    maxTokens: 50,
    stop: ['</search>', '</answer>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(auto.currentMode, 'text');
  const c = out[0][0];
  assert.equal(c.text, 'hi <search> q </search>', 'the stripped stop string is restored');
  assert.equal(c.finish, 'stop');
  assert.equal(c.stopString, '</search>');
  assert.deepEqual(c.tokens, tok.encode(c.text), 're-encoded locally');
  assert.ok(
    c.logprobs.every((x) => Number.isNaN(x)),
    'unknown log-probs are NaN, not invented',
  );
  assert.equal(bodies[bodies.length - 1].prompt, 'hi');
});

test('auto mode keeps token prompts when a request is bad in any form (e.g. too long)', async () => {
  const srv = await scripted((_req, res, body) => {
    const b = JSON.parse(body) as { prompt: number[] | string };
    const len = typeof b.prompt === 'string' ? b.prompt.length : b.prompt.length;
    if (len > 5) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(`{"error":{"message":"maximum context length exceeded (${typeof b.prompt})"}}`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ choices: [{ index: 0, text: 'ok', finish_reason: 'length', token_ids: [111, 107] }] }),
    );
  });
  const client = new OpenAISampler({ baseUrl: srv.url, tokenizer: tok, model: 'm', retries: 0 });
  const req = { maxTokens: 2, stop: [], temperature: 0, topP: 1 };
  await assert.rejects(
    client.sample({ ...req, prompts: [tok.encode('too long prompt')] }),
    /maximum context length exceeded \(object\)/,
  );
  assert.equal(client.currentMode, 'auto', 'not switched to text by a request that fails either way');
  const ok = await client.sample({ ...req, prompts: [tok.encode('ok')] });
  assert.deepEqual(ok[0][0].tokens, [111, 107]);
  assert.equal(client.currentMode, 'tokens');
});

test('chat mode against serve-model: messages rebuilt from the prompt, partial assistant turn continued', async () => {
  const sampler = new ScriptedSampler((p) =>
    p.endsWith('<search> a </search>\n\n<information>x</information>\n\n')
      ? '<answer> y </answer>'
      : '<search> a </search>',
  );
  const srv = await startOpenAIServer(sampler, { port: 0 });
  servers.push(srv);
  const client = new OpenAISampler({
    baseUrl: srv.url,
    tokenizer: tok,
    model: 'search-r1',
    mode: 'chat',
    retries: 0,
  });
  const first = tok.applyChatTemplate([{ role: 'user', content: 'Question?' }], {
    addGenerationPrompt: true,
  })!;
  const r1 = await client.sample({
    prompts: [tok.encode(first)],
    maxTokens: 40,
    stop: ['</search>', '</answer>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(r1[0][0].text, '<search> a </search>');
  assert.equal(r1[0][0].stopString, '</search>');
  assert.equal(sampler.calls[0].prompts[0], first, 'the server re-rendered exactly the same prompt');
  const second = first + r1[0][0].text + '\n\n<information>x</information>\n\n';
  const r2 = await client.sample({
    prompts: [tok.encode(second)],
    maxTokens: 40,
    stop: ['</search>', '</answer>'],
    temperature: 0,
    topP: 1,
  });
  assert.equal(r2[0][0].text, '<answer> y </answer>');
  assert.equal(sampler.calls[1].prompts[0], second);
});

test('serve-model validates requests with clear 4xx JSON errors', async () => {
  const srv = await startOpenAIServer(new ScriptedSampler(() => 'x'), {
    port: 0,
    maxTokensLimit: 100,
    contextLength: 200,
  });
  servers.push(srv);
  const post = async (path: string, body: string) => {
    const r = await fetch(`${srv.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return {
      status: r.status,
      json: (await r.json()) as { error: { message: string; param: string | null } },
    };
  };
  let r = await post('/v1/completions', '{"prompt": "a", "temperature": -1}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'temperature');
  r = await post('/v1/completions', '{"max_tokens": 5}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'prompt');
  r = await post('/v1/completions', '{"prompt": "a", "max_tokens": 1000}');
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /at most 100/);
  r = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(150), max_tokens: 60 }));
  assert.equal(r.status, 400);
  assert.match(
    r.json.error.message,
    /prompt \(150 tokens\) \+ max_tokens \(60\) exceed the model's context length 200/,
  );
  r = await post('/v1/completions', '{"prompt": [1, 2,');
  assert.equal(r.status, 400);
  assert.match(r.json.error.message, /not valid JSON/);
  r = await post('/v1/chat/completions', '{"messages": [{"role": "robot", "content": "hi"}]}');
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'messages.0.role');
  r = await post('/v1/nope', '{}');
  assert.equal(r.status, 404);
  const get = await fetch(`${srv.url}/v1/completions`);
  assert.equal(get.status, 405);
});

test('serve-model: OpenAI defaults strip the stop string; streaming sends one chunk then [DONE]', async () => {
  const srv = await startOpenAIServer(new ScriptedSampler(() => 'abc</s>def'), { port: 0 });
  servers.push(srv);
  const r = await fetch(`${srv.url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ prompt: 'hi', max_tokens: 20, stop: '</s>', logprobs: 1, return_token_ids: true }),
  });
  const j = (await r.json()) as {
    choices: {
      text: string;
      finish_reason: string;
      stop_reason: string;
      token_ids: number[];
      prompt_token_ids: number[];
      logprobs: { token_logprobs: number[] };
    }[];
  };
  assert.equal(j.choices[0].text, 'abc');
  assert.equal(j.choices[0].finish_reason, 'stop');
  assert.equal(j.choices[0].stop_reason, '</s>');
  assert.deepEqual(j.choices[0].token_ids, tok.encode('abc</s>'));
  assert.deepEqual(j.choices[0].prompt_token_ids, tok.encode('hi'));
  assert.equal(j.choices[0].logprobs.token_logprobs.length, 7);
  const s = await fetch(`${srv.url}/v1/chat/completions`, {
    method: 'POST',
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], stream: true }),
  });
  const text = await s.text();
  const events = text.split('\n\n').filter((x) => x.startsWith('data: '));
  assert.equal(events[events.length - 1], 'data: [DONE]');
  const chunk = JSON.parse(events[0].slice(6)) as { choices: { delta: { content: string } }[] };
  assert.equal(chunk.choices[0].delta.content, 'abc</s>def');
});

test('stop helpers and chat prompt splitting', () => {
  assert.deepEqual(cutAfterStop('a </answer> b </search>', ['</search>', '</answer>']), {
    text: 'a </answer>',
    stop: '</answer>',
  });
  assert.equal(inferStrippedStop('<think>x</think> <answer> y ', ['</search>', '</answer>']), '</answer>');
  assert.equal(
    inferStrippedStop('<search> a </search> <answer> b ', ['</search>', '</answer>']),
    '</answer>',
  );
  assert.equal(inferStrippedStop('plain', ['</search>', '</answer>']), undefined);
  assert.deepEqual(
    splitChatPrompt(
      '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n',
    ),
    {
      messages: [
        { role: 'system', content: 'S' },
        { role: 'user', content: 'U' },
      ],
      continueFinal: false,
    },
  );
  assert.deepEqual(
    splitChatPrompt(
      '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\npartial',
    ),
    {
      messages: [
        { role: 'user', content: 'U' },
        { role: 'assistant', content: 'partial' },
      ],
      continueFinal: true,
    },
  );
  assert.deepEqual(
    splitChatPrompt('<bos><start_of_turn>user\nU\n<end_of_turn>\n<start_of_turn>model\nsofar'),
    {
      messages: [
        { role: 'user', content: 'U\n' },
        { role: 'assistant', content: 'sofar' },
      ],
      continueFinal: true,
    },
  );
  assert.deepEqual(splitChatPrompt('<|user|>\nU<|end|>\n<|assistant|>\n'), {
    messages: [{ role: 'user', content: 'U' }],
    continueFinal: false,
  });
  assert.deepEqual(splitChatPrompt('raw text'), {
    messages: [{ role: 'user', content: 'raw text' }],
    continueFinal: false,
  });
});
