// The Search-R1 prompt (docs/protocol.md §1) and chat-template rendering.
import { Template } from '@huggingface/jinja';
import type { ChatMessage } from '../core/tokenizer.ts';
import { pyStrip } from './text.ts';

/**
 * The reference's instruction, byte-exact (including its "as your want"): released checkpoints
 * were trained on exactly this text. `{question}` is the only placeholder.
 */
export const SEARCH_R1_TEMPLATE =
  'Answer the given question. ' +
  'You must conduct reasoning inside <think> and </think> first every time you get new information. ' +
  'After reasoning, if you find you lack some knowledge, you can call a search engine by <search> query </search> ' +
  'and it will return the top searched results between <information> and </information>. ' +
  'You can search as many times as your want. ' +
  'If you find no further external knowledge needed, you can directly provide the answer inside <answer> and </answer>, ' +
  'without detailed illustrations. For example, <answer> Beijing </answer>. Question: {question}\n';

/** Strip (Python whitespace) and append `?` when the question does not already end with one. */
export function normalizeQuestion(question: string): string {
  const q = pyStrip(question);
  if (q.length === 0) throw new Error('normalizeQuestion: the question is empty');
  return q.endsWith('?') ? q : `${q}?`;
}

/** The user-message text for one question (normalised first). */
export function searchR1UserPrompt(question: string): string {
  // split/join instead of replace: a `$` in the question must not be read as a replace pattern.
  return SEARCH_R1_TEMPLATE.split('{question}').join(normalizeQuestion(question));
}

export interface ChatTemplateOptions {
  /** Append the assistant header so the model continues as the assistant (HF `add_generation_prompt`). */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** Any other variable the template reads (e.g. `tools`, `date_string`, `enable_thinking`). */
  [extra: string]: unknown;
}

const templateCache = new Map<string, Template>();

// Globals @huggingface/jinja defines itself (as transformers does); passing them again throws
// deep inside the library, so we say it plainly instead.
const BUILT_IN_GLOBALS = new Set([
  'true',
  'false',
  'none',
  'True',
  'False',
  'None',
  'range',
  'raise_exception',
  'strftime_now',
]);

/**
 * Render a Hugging Face chat template (the `chat_template` string of tokenizer_config.json)
 * with @huggingface/jinja, exactly as `tokenizer.apply_chat_template(..., tokenize=False)` does.
 */
export function renderChatTemplate(
  template: string,
  messages: ChatMessage[],
  opts: ChatTemplateOptions = {},
): string {
  const { addGenerationPrompt, bosToken, eosToken, ...extra } = opts;
  for (const k of Object.keys(extra)) {
    if (BUILT_IN_GLOBALS.has(k)) {
      throw new Error(
        `renderChatTemplate: "${k}" is built into the template engine and cannot be overridden` +
          (k === 'strftime_now'
            ? ' (pass date_string for a fixed date, as Llama 3.x templates read it)'
            : ''),
      );
    }
  }
  let compiled = templateCache.get(template);
  if (!compiled) {
    compiled = new Template(template);
    templateCache.set(template, compiled);
  }
  return compiled.render({
    ...extra,
    messages,
    add_generation_prompt: addGenerationPrompt ?? false,
    bos_token: bosToken ?? '',
    eos_token: eosToken ?? '',
  });
}

/**
 * The full prompt text for one question: through the model's chat template when it has one,
 * else the raw instruction (base models, as the reference does).
 */
export function searchR1Prompt(
  question: string,
  chatTemplate: string | null | undefined,
  opts: ChatTemplateOptions = {},
): string {
  const user = searchR1UserPrompt(question);
  if (!chatTemplate) return user;
  return renderChatTemplate(chatTemplate, [{ role: 'user', content: user }], {
    addGenerationPrompt: true,
    ...opts,
  });
}
