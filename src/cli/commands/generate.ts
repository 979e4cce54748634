// `search-r1 generate`: load a Hugging Face model folder into the embedded engine and print the
// continuation of a prompt (raw text, or through the model's chat template with --chat).
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadHfFolder, parseHfConfig } from '../../engine/io/hf.ts';
import { Model } from '../../engine/model.ts';
import { generate } from '../../engine/generate.ts';
import type { Completion } from '../../core/sampler.ts';
import { addThreadsOption } from '../policy-options.ts';

export interface GenerateTextOptions {
  modelDir: string;
  prompt: string;
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  stop?: string[];
  /** Wrap the prompt as a user message in the model's chat template (with the assistant header). */
  chat?: boolean;
  system?: string;
  /** Checkpoint loading progress (bytes read, total). */
  onLoadProgress?: (done: number, total: number) => void;
}

export interface GenerateTextResult {
  /** The exact prompt text fed to the model (after the chat template). */
  promptText: string;
  promptTokens: number[];
  completion: Completion;
}

export async function generateText(o: GenerateTextOptions): Promise<GenerateTextResult> {
  // Build the model from config.json first, then read the weights straight into its parameter
  // memory (a checkpoint is held once, not twice).
  const configPath = join(o.modelDir, 'config.json');
  if (!existsSync(configPath))
    throw new Error(`${o.modelDir}: no config.json (not a Hugging Face model folder)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${configPath}: ${(e as Error).message}`);
  }
  const model = new Model(parseHfConfig(raw, configPath), { init: false }); // weights are loaded next
  try {
    const views = new Map(model.namedParameters().map((p) => [p.name, p.data]));
    const folder = loadHfFolder(o.modelDir, {
      into: (name) => views.get(name) ?? null,
      onProgress: o.onLoadProgress,
    });
    // Copies only what did not land in place (nothing, unless the folder has extra heads).
    model.loadTensors(folder.tensors, {
      source: o.modelDir,
      allowMissingValueHead: true,
      ignoreUnknown: true,
    });
    const tok = folder.tokenizer;
    if (!tok) throw new Error(`${o.modelDir}: no tokenizer.json (needed to encode the prompt)`);
    let promptText = o.prompt;
    if (o.chat) {
      const messages = [
        ...(o.system !== undefined ? [{ role: 'system' as const, content: o.system }] : []),
        { role: 'user' as const, content: o.prompt },
      ];
      const rendered = tok.applyChatTemplate(messages, { addGenerationPrompt: true });
      if (rendered === null)
        throw new Error(`${o.modelDir}: --chat given but tokenizer_config.json has no chat_template`);
      promptText = rendered;
    }
    const promptTokens = tok.encode(promptText);
    if (promptTokens.length === 0) throw new Error('the prompt is empty');
    const [[completion]] = await generate(model, tok, {
      prompts: [promptTokens],
      maxTokens: o.maxTokens ?? 64,
      stop: o.stop ?? [],
      temperature: o.temperature ?? 0,
      topP: o.topP ?? 1,
      topK: o.topK,
      seed: o.seed ?? 0,
    });
    return { promptText, promptTokens, completion };
  } finally {
    model.dispose();
  }
}

function num(name: string, check: (n: number) => boolean, what: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || !check(n)) throw new Error(`${name} must be ${what}, got "${v}"`);
    return n;
  };
}

export function register(program: Command): void {
  addThreadsOption(program.command('generate'))
    .description(
      'Generate a continuation of a prompt with a Hugging Face model folder on the embedded engine',
    )
    .requiredOption(
      '--model <dir>',
      'Hugging Face model folder (config.json, model.safetensors, tokenizer.json)',
    )
    .requiredOption('--prompt <text>', 'prompt text')
    .option(
      '--max-tokens <n>',
      'new tokens at most',
      num('--max-tokens', (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
      64,
    )
    .option(
      '--temperature <t>',
      'sampling temperature (0 = greedy)',
      num('--temperature', (n) => n >= 0, '≥ 0'),
      0,
    )
    .option(
      '--top-p <p>',
      'nucleus sampling mass',
      num('--top-p', (n) => n > 0 && n <= 1, 'in (0, 1]'),
      1,
    )
    .option(
      '--top-k <k>',
      'keep the k most likely tokens (0 = off)',
      num('--top-k', (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
      0,
    )
    .option('--seed <n>', 'random seed', num('--seed', Number.isInteger, 'an integer'), 0)
    .option('--stop <text...>', 'stop strings (the output ends with the first one generated)')
    .option('--chat', "wrap the prompt as a user message in the model's chat template")
    .option('--system <text>', 'system message (with --chat)')
    .option('--show-prompt', 'print the prompt text before the continuation')
    .action(
      async (o: {
        model: string;
        prompt: string;
        maxTokens: number;
        temperature: number;
        topP: number;
        topK: number;
        seed: number;
        stop?: string[];
        chat?: boolean;
        system?: string;
        showPrompt?: boolean;
      }) => {
        const r = await generateText({
          modelDir: o.model,
          prompt: o.prompt,
          maxTokens: o.maxTokens,
          temperature: o.temperature,
          topP: o.topP,
          topK: o.topK,
          seed: o.seed,
          stop: o.stop,
          chat: o.chat,
          system: o.system,
          // A live progress line on a terminal (large checkpoints take seconds to read).
          onLoadProgress: process.stderr.isTTY
            ? (d, t) =>
                process.stderr.write(
                  `\rloading ${o.model}: ${Math.floor((100 * d) / Math.max(t, 1))}%${d >= t ? '\n' : ''}`,
                )
            : undefined,
        });
        if (o.showPrompt) process.stdout.write(r.promptText);
        process.stdout.write(r.completion.text + '\n');
        process.stderr.write(
          `[${r.completion.tokens.length} tokens, finish: ${r.completion.finish}${r.completion.stopString ? ` (${JSON.stringify(r.completion.stopString)})` : ''}]\n`,
        );
      },
    );
}
