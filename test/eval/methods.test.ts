// Each inference method's prompting and loop, driven by a scripted model and a keyword retriever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS } from '../../src/eval/methods/index.ts';
import { boxedAnswer, cotAnswer, shortAnswer } from '../../src/eval/methods/common.ts';
import { firstSentence, IRCOT_INSTRUCTION } from '../../src/eval/methods/ircot.ts';
import {
  previousReasoning,
  reasonInDocumentsPrompt,
  searchO1UserPrompt,
} from '../../src/eval/methods/search-o1.ts';
import { DIRECT_SYSTEM } from '../../src/eval/methods/direct.ts';
import { COT_SYSTEM } from '../../src/eval/methods/cot.ts';
import { ragSystem } from '../../src/eval/methods/rag.ts';
import { readFileSync } from 'node:fs';
import { DEFAULT_METHOD_OPTIONS, type MethodContext } from '../../src/eval/types.ts';
import type { QaExample } from '../../src/core/qa.ts';
import { KeywordRetriever, ScriptedSampler } from './fakes.ts';

const PASSAGES = [
  { id: 'p1', title: '"France"', text: 'France is a country whose capital is Paris.' },
  { id: 'p2', title: '"Paris"', text: 'Paris lies on the Seine.' },
  { id: 'p3', title: '"Lyon"', text: 'Lyon is a city in France on the Rhone.' },
  { id: 'p4', title: '"Seine"', text: 'The Seine is a river.' },
];
const Q: QaExample[] = [
  { id: 'q1', question: 'what is the capital of france', goldenAnswers: ['Paris'], dataSource: 'toy' },
  {
    id: 'q2',
    question: 'which river flows through paris?',
    goldenAnswers: ['Seine', 'the Seine'],
    dataSource: 'toy',
  },
];

function ctx(script: (p: string) => string, opts = {}) {
  const sampler = new ScriptedSampler(script);
  const retriever = new KeywordRetriever(PASSAGES);
  const c: MethodContext = { sampler, retriever, opts: { ...DEFAULT_METHOD_OPTIONS, ...opts } };
  return { sampler, retriever, c };
}
const answerFor = (p: string) => (p.includes('capital') ? 'Paris' : 'Seine');
/** What the model wrote so far: the prompt text after the assistant header. */
const written = (p: string) =>
  p.slice(p.lastIndexOf('<|im_start|>assistant\n') + '<|im_start|>assistant\n'.length);

test('direct: question only, greedy, short answer extracted', async () => {
  const { sampler, retriever, c } = ctx((p) => ` ${answerFor(p)}.\nThis is extra text.`);
  const out = await METHODS.direct.run(Q, c);
  assert.deepEqual(
    out.map((o) => o.prediction),
    ['Paris', 'Seine'],
  );
  assert.equal(sampler.calls.length, 1, 'one batched call');
  assert.equal(sampler.calls[0].req.temperature, 0);
  assert.equal(sampler.calls[0].req.maxTokens, DEFAULT_METHOD_OPTIONS.maxAnswerTokens);
  assert.match(
    sampler.calls[0].prompts[0],
    /<\|im_start\|>system\nAnswer the question based on your own knowledge/,
  );
  assert.match(sampler.calls[0].prompts[0], /Question: what is the capital of france\?<\|im_end\|>/);
  assert.equal(retriever.queries.length, 0);
  assert.equal(out[0].numSearches, 0);
});

test('cot: reasoning then "So the answer is"', async () => {
  const { c } = ctx((p) => `It is well known. So the answer is: ${answerFor(p)}.`);
  const out = await METHODS.cot.run(Q, c);
  assert.deepEqual(
    out.map((o) => o.prediction),
    ['Paris', 'Seine'],
  );
  assert.match(out[0].prompt, /reasoning step by step/);
});

test('rag: top-k passages in the prompt, Doc i(Title: t) format', async () => {
  const { sampler, retriever, c } = ctx(
    (p) => (p.includes('Doc 1(Title: "France") France is a country') ? 'Paris' : 'unknown'),
    { topk: 2 },
  );
  const out = await METHODS.rag.run([Q[0]], c);
  assert.deepEqual(retriever.queries, ['what is the capital of france?']);
  assert.equal(out[0].prediction, 'Paris');
  assert.equal(out[0].numSearches, 1);
  const docs = sampler.calls[0].prompts[0].match(/Doc \d\(Title:/g) ?? [];
  assert.equal(docs.length, 2, 'exactly top-k passages');
});

test('ircot: one CoT sentence per step, each sentence is the next query, stops at "answer is"', async () => {
  const { sampler, retriever, c } = ctx((p) => {
    if (written(p).length === 0) return 'France has its capital on the Seine river. Ignored second sentence.';
    if (!p.includes('Wikipedia Title: Seine')) return 'Something is missing.';
    return 'So the answer is: Paris. And more.';
  });
  const out = await METHODS.ircot.run([Q[0]], c);
  assert.equal(out[0].prediction, 'Paris');
  assert.equal(out[0].finish, 'answer');
  assert.deepEqual(retriever.queries, [
    'what is the capital of france?',
    'France has its capital on the Seine river.',
  ]);
  assert.equal(out[0].numSearches, 2);
  // The second reader prompt holds the first sentence only, and the newly retrieved passage.
  const second = sampler.calls[1].prompts[0];
  assert.ok(second.endsWith('<|im_start|>assistant\nFrance has its capital on the Seine river.'));
  assert.match(second, /Wikipedia Title: Seine\nThe Seine is a river\./);
  assert.equal(out[0].segments.filter((s) => !s.injected).length, 2);
});

test('ircot stops after the step budget, then the reader answers after "So the answer is:"', async () => {
  const { retriever, c } = ctx(
    (p) => (p.endsWith('So the answer is:') ? ' Paris.\nmore' : 'I keep thinking about France.'),
    {
      ircotMaxSteps: 3,
    },
  );
  const out = await METHODS.ircot.run([Q[0]], c);
  assert.equal(out[0].finish, 'max_steps');
  assert.equal(retriever.queries.length, 3, 'question + 2 intermediate sentences; none after the last step');
  assert.equal(out[0].prediction, 'Paris');
  assert.equal(out[0].numGenerations, 4);
});

test('search-o1: search tags, reason-in-documents, result block, boxed answer', async () => {
  const { sampler, retriever, c } = ctx((p) => {
    if (p.includes('**Task Instruction:**')) {
      assert.match(p, /\*\*Current Search Query:\*\*\ncapital of France/);
      assert.match(p, /\*\*Document 1:\*\*\nTitle: France/);
      return 'Doc 1 says it.\n**Final Information**\nThe capital of France is Paris.';
    }
    if (written(p).includes('<|begin_search_result|>')) {
      assert.match(
        written(p),
        /<\|begin_search_result\|>\nThe capital of France is Paris\.\n<\|end_search_result\|>/,
      );
      return 'Now I know. \\boxed{Paris}';
    }
    return 'I should look it up. <|begin_search_query|>capital of France<|end_search_query|> never seen';
  });
  const out = await METHODS['search-o1'].run([Q[0]], c);
  assert.equal(out[0].prediction, 'Paris');
  assert.equal(out[0].numSearches, 1);
  assert.deepEqual(retriever.queries, ['capital of France']);
  assert.equal(sampler.calls[0].req.stop[0], '<|end_search_query|>');
  assert.ok(!out[0].segments.some((s) => s.text.includes('never seen')), 'generation stopped at the end tag');
  assert.deepEqual(
    out[0].segments.map((s) => s.injected),
    [false, true, false],
  );
});

test('search-o1: repeated queries and the search limit get notices, not results', async () => {
  const { retriever, c } = ctx(() => '<|begin_search_query|>France<|end_search_query|>', {
    searchO1MaxSearches: 2,
  });
  const out = await METHODS['search-o1'].run([Q[0]], c);
  assert.equal(out[0].numSearches, 1, 'the repeated query is not searched again');
  assert.equal(retriever.queries.length, 1);
  assert.ok(out[0].segments.some((s) => s.injected && s.text.includes('You have searched this query')));
  assert.equal(out[0].finish, 'max_turns');
});

test('search-r1: the rollout loop with search; r1: the same without search', async () => {
  const script = (p: string) => {
    if (written(p).includes('My previous action is invalid'))
      return '<think>guess</think> <answer> Lyon </answer>';
    if (written(p).includes('<information>')) return '<think>found it</think> <answer> Paris </answer>';
    return '<think>I need to search</think> <search> capital of France </search>';
  };
  const { retriever, c } = ctx(script);
  const out = await METHODS['search-r1'].run([Q[0]], c);
  assert.equal(out[0].prediction, 'Paris');
  assert.equal(out[0].numSearches, 1);
  assert.deepEqual(retriever.queries, ['capital of France']);
  assert.match(out[0].prompt, /^<\|im_start\|>user\nAnswer the given question\./);
  assert.match(out[0].prompt, /Question: what is the capital of france\?\n<\|im_end\|>/);
  const injected = out[0].segments
    .filter((s) => s.injected)
    .map((s) => s.text)
    .join('');
  assert.match(
    injected,
    /<information>Doc 1\(Title: "France"\) France is a country whose capital is Paris\./,
  );

  const r = ctx(script);
  const noSearch = await METHODS.r1.run([Q[0]], { ...r.c, retriever: null });
  assert.equal(noSearch[0].prediction, 'Lyon');
  assert.equal(noSearch[0].numSearches, 0);
  assert.equal(r.retriever.queries.length, 0);
});

test('retrieving methods without a retriever fail clearly', async () => {
  const { c } = ctx(() => 'x');
  await assert.rejects(METHODS.rag.run(Q, { ...c, retriever: null }), /method rag needs a retriever/);
});

test('prompts longer than the context budget get no generation', async () => {
  const { sampler, c } = ctx(() => 'Paris', { maxTotalTokens: 60 });
  const out = await METHODS.direct.run(Q, c);
  assert.equal(sampler.calls.length, 0);
  assert.deepEqual(
    out.map((o) => [o.prediction, o.finish]),
    [
      ['', 'length'],
      ['', 'length'],
    ],
  );
});

test('answer extraction helpers', () => {
  assert.equal(shortAnswer('\n Answer: Paris.\nmore'), 'Paris');
  assert.equal(shortAnswer('<think>x</think><answer> Paris </answer>'), 'Paris');
  assert.equal(cotAnswer('A. B. So the answer is: the Seine.'), 'the Seine');
  assert.equal(cotAnswer('first line\nlast line.'), 'last line');
  assert.equal(boxedAnswer('x \\boxed{a} y \\boxed{\\text{New {York}}}'), 'New {York}');
  assert.equal(boxedAnswer('no box'), null);
  assert.equal(firstSentence('  One two. Three.'), 'One two.');
  assert.equal(firstSentence('no period\nsecond line'), 'no period');
  assert.equal(
    previousReasoning('a\n\nb\n\nc\n\nd\n\ne\n\nf'),
    'Step 1: a\n\n...\n\nStep 3: c\n\nStep 4: d\n\nStep 5: e\n\nStep 6: f',
  );
});

test('search-r1: a prompt longer than the context is scored as no answer, the rest still run', async () => {
  const { sampler, c } = ctx(() => '<answer> Paris </answer>', { maxTotalTokens: 700 });
  const long: QaExample = { id: 'long', question: 'x '.repeat(300), goldenAnswers: ['y'], dataSource: 'toy' };
  const out = await METHODS['search-r1'].run([long, Q[0]], c);
  assert.equal(out[0].finish, 'prompt_too_long');
  assert.equal(out[0].prediction, '');
  assert.equal(out[1].prediction, 'Paris');
  assert.equal(sampler.calls[0].prompts.length, 1);
});

test('docs/eval-prompts.md documents the exact prompt strings of the code', () => {
  const doc = readFileSync(new URL('../../docs/eval-prompts.md', import.meta.url), 'utf8');
  // The indented code blocks of the document, indentation removed.
  const blocks: string[] = [];
  let cur: string[] | null = null;
  for (const line of doc.split('\n')) {
    if (line.startsWith('    ') || (cur && line === '')) (cur ??= []).push(line.slice(4));
    else if (cur) {
      blocks.push(cur.join('\n').replace(/\n+$/, ''));
      cur = null;
    }
  }
  const documented = (text: string) => blocks.some((b) => b === text);
  assert.ok(documented(DIRECT_SYSTEM), 'direct');
  assert.ok(documented(COT_SYSTEM), 'cot');
  assert.ok(documented(ragSystem('{passages}')), 'rag');
  assert.ok(
    blocks.some((b) => b.includes(IRCOT_INSTRUCTION)),
    'ircot',
  );
  const o1 = searchO1UserPrompt('{question}', 5).replace(
    'At most 5 searches',
    'At most {max_searches} searches',
  );
  assert.ok(documented(o1.replace(/\n+$/, '')), 'search-o1');
  const rid = reasonInDocumentsPrompt('{previous_reasoning}', '{query}', [
    { id: 'x', title: '{title}', text: '{text}', score: 1 },
  ]);
  assert.ok(
    blocks.some((b) => b.startsWith(rid.slice(0, rid.indexOf('**Document 1:**')))),
    'reason-in-documents',
  );
});
