import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { Tokenizer as LibTokenizer } from '@huggingface/tokenizers';
import {
  HfTokenizer,
  SEARCH_R1_TAGS,
  byteToUnicode,
  loadTokenizer,
  trainBpeTokenizer,
} from '../../../src/engine/tokenizer.ts';
import { SEARCH_R1_TEMPLATE, searchR1UserPrompt } from '../../../src/protocol/prompt.ts';

const corpus = [
  SEARCH_R1_TEMPLATE,
  'The Eiffel Tower is in Paris. Paris is the capital of France; the Seine flows through Paris.',
  "It's the answer they'll give: <answer> Paris </answer>. Don't search again.",
  '1984 was written by George Orwell. Müller und Jürgen lesen 日本語の本. Ελληνικά κείμενα.',
].flatMap((t) => [t, t.toLowerCase()]);

const files = trainBpeTokenizer(corpus, { vocabSize: 420, addedTokens: SEARCH_R1_TAGS });
const tok = new HfTokenizer(files, { eos_token_id: [0] });

test('byte-to-unicode map is a bijection onto printable characters', () => {
  const m = byteToUnicode();
  assert.equal(new Set(m).size, 256);
  assert.equal(m[0x41], 'A');
  assert.equal(m[0x20], 'Ġ'); // GPT-2's space
  for (const c of m) assert.ok(!/\s/u.test(c), `${JSON.stringify(c)} is printable`);
});

test('encode -> decode round-trips arbitrary Unicode text (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => tok.decode(tok.encode(s)) === s),
    { numRuns: 400 },
  );
  fc.assert(
    fc.property(
      fc.array(
        fc.constantFrom(
          ' ',
          '\n',
          '\r\n',
          '\t',
          'Paris',
          '<search>',
          '</answer>',
          '<|im_end|>',
          "'s",
          '日本',
          '🎉',
          '42',
          '  ',
        ),
        { maxLength: 20 },
      ),
      (parts) => {
        const s = parts.join('');
        return tok.decode(tok.encode(s)) === s;
      },
    ),
    { numRuns: 300 },
  );
});

test('trained merges compress the training text; training is deterministic', () => {
  const text = corpus[1];
  const ids = tok.encode(text);
  assert.ok(
    ids.length < new TextEncoder().encode(text).length * 0.6,
    `${ids.length} tokens for ${text.length} chars`,
  );
  const again = trainBpeTokenizer(corpus, { vocabSize: 420, addedTokens: SEARCH_R1_TAGS });
  assert.deepEqual(again, files);
  const merges = (files.tokenizerJson.model as { merges: string[] }).merges;
  assert.ok(merges.length > 50);
  // Every merge is "left right" of two tokens in the vocab, and the merge result is in the vocab too.
  const vocab = (files.tokenizerJson.model as { vocab: Record<string, number> }).vocab;
  for (const m of merges) {
    const [a, b] = m.split(' ');
    assert.ok(a in vocab && b in vocab && a + b in vocab, m);
  }
});

test('special and Search-R1 tag tokens: one id each, decoded to themselves, ids after the BPE vocab', () => {
  assert.ok(tok.vocabSize <= 420);
  const ids = new Set<number>();
  for (const t of ['<|endoftext|>', '<|im_start|>', '<|im_end|>', ...SEARCH_R1_TAGS]) {
    const e = tok.encode(t);
    assert.equal(e.length, 1, t);
    assert.equal(tok.decode(e), t);
    ids.add(e[0]);
  }
  assert.equal(ids.size, 11);
  assert.equal(Math.max(...ids), tok.vocabSize - 1);
  // Inside text the tag is cut out as its own token, so a stop string on it ends exactly there.
  const e = tok.encode('x<search> who </search>y');
  assert.ok(e.includes(tok.tokenToId('</search>')!));
  assert.equal(tok.decode(e), 'x<search> who </search>y');
  // Specials can be dropped on decode; tags are ordinary text and stay.
  assert.equal(
    tok.decode(tok.encode('<|im_start|>a<answer>b</answer><|im_end|>'), { skipSpecialTokens: true }),
    'a<answer>b</answer>',
  );
});

test('EOS ids come from generation_config and tokenizer_config; chat template renders ChatML', () => {
  const endoftext = tok.tokenToId('<|endoftext|>')!;
  assert.deepEqual(
    [...tok.eosTokenIds].sort((a, b) => a - b),
    [0, endoftext].sort((a, b) => a - b),
  );
  assert.equal(tok.bosTokenId, null);
  const prompt = tok.applyChatTemplate([{ role: 'user', content: searchR1UserPrompt('capital of France') }], {
    addGenerationPrompt: true,
  });
  assert.equal(
    prompt,
    `<|im_start|>user\n${searchR1UserPrompt('capital of France')}<|im_end|>\n<|im_start|>assistant\n`,
  );
  const noTemplate = new HfTokenizer({
    tokenizerJson: files.tokenizerJson,
    tokenizerConfig: { ...files.tokenizerConfig, chat_template: undefined },
  });
  assert.equal(noTemplate.applyChatTemplate([{ role: 'user', content: 'x' }]), null);
});

test('loadTokenizer reads a folder; a tokenizer_config naming an unknown EOS fails naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tok-test-'));
  try {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [5, 6] }));
    const t = loadTokenizer(dir);
    assert.deepEqual(t.encode('Paris <answer>'), tok.encode('Paris <answer>'));
    assert.ok(t.eosTokenIds.includes(5) && t.eosTokenIds.includes(6));
    // The chat template may live in chat_template.jinja (newer transformers) instead of the config.
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ ...files.tokenizerConfig, chat_template: undefined }),
    );
    writeFileSync(join(dir, 'chat_template.jinja'), '{{ messages[0].content }}!');
    assert.equal(loadTokenizer(dir).applyChatTemplate([{ role: 'user', content: 'hi' }]), 'hi!');
    writeFileSync(
      join(dir, 'tokenizer_config.json'),
      JSON.stringify({ ...files.tokenizerConfig, eos_token: '<nope>' }),
    );
    assert.throws(() => loadTokenizer(dir), /tokenizer_config field "eos_token" names token "<nope>"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vocabSize too small for bytes + special + added tokens is refused', () => {
  assert.throws(
    () => trainBpeTokenizer(['x'], { vocabSize: 260, addedTokens: SEARCH_R1_TAGS }),
    /vocabSize 260 < 256 bytes \+ 3 special \+ 8 added/,
  );
  // Exactly bytes + specials (the engine's tiny preset, 259): a pure byte-level tokenizer.
  const bytesOnly = new HfTokenizer(trainBpeTokenizer(['hello hello'], { vocabSize: 259 }));
  assert.equal(bytesOnly.vocabSize, 259);
  assert.equal(bytesOnly.encode('héllo').length, 6);
});

test('merges stored as pairs (tokenizers >= 0.20 format, e.g. recent Qwen2.5 files) encode identically', () => {
  const model = files.tokenizerJson.model as { merges: string[] };
  const pairs = {
    ...files.tokenizerJson,
    model: { ...model, merges: model.merges.map((m) => m.split(' ')) },
  };
  const t2 = new HfTokenizer({ tokenizerJson: pairs, tokenizerConfig: files.tokenizerConfig });
  for (const s of corpus) assert.deepEqual(t2.encode(s), tok.encode(s));
});

test('the fast byte-table decode equals the library decode on random id sequences (property)', () => {
  const lib = new LibTokenizer(files.tokenizerJson, files.tokenizerConfig);
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: tok.vocabSize - 1 }), { minLength: 1, maxLength: 30 }),
      fc.boolean(),
      (ids, skip) =>
        tok.decode(ids, { skipSpecialTokens: skip }) ===
        lib.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }),
    ),
    { numRuns: 1000 },
  );
  // Ids beyond the tokenizer (padded embedding rows) decode to nothing, as in the library.
  const beyond = [65, tok.vocabSize + 5, 66];
  assert.equal(tok.decode(beyond), 'AB');
  assert.equal(tok.decode(beyond), lib.decode(beyond, { clean_up_tokenization_spaces: false }));
});
