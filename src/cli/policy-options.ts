// The flags that choose a command's policy and retriever, shared by `infer`, `eval` and `serve-model`
// (the options they produce are read by src/eval/backends.ts).
import type { Command } from 'commander';
import { integerOption } from './options.ts';

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
    .option('--threads <n>', 'GGUF: CPU threads', integerOption('threads', 1), 1)
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
