import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  SEARCH_R1_TEMPLATE,
  normalizeQuestion,
  renderChatTemplate,
  searchR1Prompt,
  searchR1UserPrompt,
} from '../../src/protocol/prompt.ts';

const fixture = (name: string): string =>
  readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

// The reference's prefix, written out independently as one literal (docs/protocol.md §1).
const EXPECTED_PREFIX =
  'Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get new information. After reasoning, if you find you lack some knowledge, you can call a search engine by <search> query </search> and it will return the top searched results between <information> and </information>. You can search as many times as your want. If you find no further external knowledge needed, you can directly provide the answer inside <answer> and </answer>, without detailed illustrations. For example, <answer> Beijing </answer>. Question: ';

test('template is byte-exact, keeps "as your want", single spaces, ends with a newline', () => {
  assert.equal(SEARCH_R1_TEMPLATE, `${EXPECTED_PREFIX}{question}\n`);
  assert.ok(SEARCH_R1_TEMPLATE.includes('as many times as your want.'));
  assert.ok(!/ {2}/.test(SEARCH_R1_TEMPLATE));
  // Length of the reference's Python f-string source with the placeholder kept.
  assert.equal(Buffer.byteLength(SEARCH_R1_TEMPLATE, 'utf8'), 575);
});

test('normalizeQuestion strips and appends ? only when missing', () => {
  assert.equal(normalizeQuestion('  who wrote hamlet \n'), 'who wrote hamlet?');
  assert.equal(normalizeQuestion('who wrote hamlet?'), 'who wrote hamlet?');
  assert.equal(normalizeQuestion('\u3000東京はどこ？\u00a0'), '東京はどこ？?'); // full-width ？ is not '?'
  assert.equal(normalizeQuestion('what is 2+2?  '), 'what is 2+2?');
  assert.throws(() => normalizeQuestion('  \t'), /empty/);
});

test('searchR1UserPrompt puts the normalised question in place; $ patterns are literal', () => {
  assert.equal(searchR1UserPrompt(' where is paris '), `${EXPECTED_PREFIX}where is paris?\n`);
  assert.equal(searchR1UserPrompt('cost in $& and $1'), `${EXPECTED_PREFIX}cost in $& and $1?\n`);
});

test('Qwen2.5 chat template renders like transformers apply_chat_template', () => {
  const tpl = fixture('qwen2.5-instruct.chat_template.jinja');
  const user = 'Answer the given question. Q: café 日本? 😀\n';
  // Expected strings were produced by Python jinja2 with transformers' settings (trim_blocks, lstrip_blocks).
  assert.equal(
    renderChatTemplate(tpl, [{ role: 'user', content: user }], { addGenerationPrompt: true }),
    '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nAnswer the given question. Q: café 日本? 😀\n<|im_end|>\n<|im_start|>assistant\n',
  );
  assert.equal(
    renderChatTemplate(tpl, [
      { role: 'system', content: 'S' },
      { role: 'user', content: 'U' },
      { role: 'assistant', content: 'A' },
    ]),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\nA<|im_end|>\n',
  );
});

test('Llama-3 chat template renders with bos_token and trims contents', () => {
  const tpl = fixture('llama3-instruct.chat_template.jinja');
  const user = 'Answer the given question. Q: café 日本? 😀\n';
  assert.equal(
    renderChatTemplate(tpl, [{ role: 'user', content: user }], {
      addGenerationPrompt: true,
      bosToken: '<|begin_of_text|>',
    }),
    '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nAnswer the given question. Q: café 日本? 😀<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  );
  assert.equal(
    renderChatTemplate(
      tpl,
      [
        { role: 'system', content: '  S \n' },
        { role: 'user', content: 'U' },
      ],
      { bosToken: '<|begin_of_text|>' },
    ),
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|>',
  );
});

test('Llama-3.2 chat template: date_string and strftime_now variables as transformers passes them', () => {
  const tpl = fixture('llama3.2-instruct.chat_template.jinja');
  const msgs = [{ role: 'user' as const, content: 'Q: café?\n' }];
  const head =
    '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ';
  const tail =
    '<|start_header_id|>user<|end_header_id|>\n\nQ: café?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
  // Expected strings from Python jinja2 with transformers' settings.
  assert.equal(
    renderChatTemplate(tpl, [{ role: 'system', content: ' S ' }, ...msgs], {
      addGenerationPrompt: true,
      bosToken: '<|begin_of_text|>',
      date_string: '01 Jan 2025',
    }),
    `${head}01 Jan 2025\n\nS<|eot_id|>${tail}`,
  );
  // Without date_string the template calls the built-in strftime_now (today's date), as transformers does.
  const today = renderChatTemplate(tpl, msgs, { addGenerationPrompt: true, bosToken: '<|begin_of_text|>' });
  assert.match(today, /Today Date: \d\d [A-Z][a-z]{2} \d{4}\n\n<\|eot_id\|>/);
  assert.ok(today.endsWith(tail));
  assert.throws(
    () => renderChatTemplate(tpl, msgs, { strftime_now: () => 'x' }),
    /"strftime_now" is built into the template engine.*date_string/,
  );
});

test('extra variables reach the template', () => {
  const out = renderChatTemplate(
    '{{ greeting }} {{ messages[0].content }}{% if add_generation_prompt %}!{% endif %}',
    [{ role: 'user', content: 'x' }],
    { greeting: 'hi', addGenerationPrompt: true },
  );
  assert.equal(out, 'hi x!');
});

test('searchR1Prompt: raw text without a template, chat-rendered with one', () => {
  assert.equal(searchR1Prompt('q', null), `${EXPECTED_PREFIX}q?\n`);
  const tpl = fixture('qwen2.5-instruct.chat_template.jinja');
  const out = searchR1Prompt('q', tpl);
  assert.ok(out.startsWith('<|im_start|>system\n'));
  assert.ok(out.endsWith(`<|im_start|>user\n${EXPECTED_PREFIX}q?\n<|im_end|>\n<|im_start|>assistant\n`));
});
