import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runRollouts, emptyRolloutStats } from '../../src/rollout/rollout.ts';
import { searchR1Env } from '../../src/rollout/search-env.ts';
import type { RolloutConfig, Trajectory } from '../../src/rollout/types.ts';
import { INVALID_ACTION_MESSAGE, informationBlock } from '../../src/protocol/actions.ts';
import { formatPassages } from '../../src/protocol/passages.ts';
import { WordTokenizer, ScriptedSampler, ScriptedRetriever } from '../rl/fakes.ts';

const cfg: RolloutConfig = {
  maxTurns: 2,
  topk: 2,
  maxTurnTokens: 60,
  maxObsTokens: 200,
  maxTotalTokens: 1000,
  temperature: 1,
  topP: 1,
  seed: 7,
};

const HITS = {
  'capital of france': [
    { id: '1', title: '"France"', text: 'Its capital is Paris.', score: 2 },
    { id: '2', title: '"Paris"', text: 'Paris is a city.', score: 1 },
  ],
  'river of paris': [{ id: '3', title: '"Seine"', text: 'The Seine flows through Paris.', score: 1 }],
};

const count = (s: string, sub: string) => s.split(sub).length - 1;

/** Checks the invariants every trajectory must satisfy. */
function checkInvariants(tok: WordTokenizer, t: Trajectory): void {
  assert.equal(t.responseTokens.length, t.policyMask.length);
  assert.equal(t.responseTokens.length, t.samplingLogprobs.length);
  assert.equal(t.numTurns, t.turns.length);
  for (let k = 0; k < t.policyMask.length; k++)
    if (t.policyMask[k] === 0) assert.equal(t.samplingLogprobs[k], 0);
  // token-in/token-out: the policy tokens of each turn are exactly the sampled ones, in order
  const policyText = tok.decode(t.responseTokens.filter((_, k) => t.policyMask[k] === 1));
  assert.equal(policyText, t.turns.map((r) => r.text).join(''));
}

test('answer on turn 1: generation stops at </answer>, one sample call, no retrieval', async () => {
  const tok = new WordTokenizer();
  const sampler = new ScriptedSampler(
    tok,
    () => '<think> easy </think> <answer> Paris </answer> trailing words',
  );
  const retriever = new ScriptedRetriever(HITS);
  const [t] = await runRollouts(sampler, searchR1Env({ retriever: retriever }), [tok.encode('Q: capital of france?')], 1, cfg);
  checkInvariants(tok, t);
  assert.equal(t.finish, 'answer');
  assert.equal(t.answer, 'Paris');
  assert.equal(t.responseText, '<think> easy </think> <answer> Paris </answer>');
  assert.ok(t.policyMask.every((m) => m === 1));
  assert.deepEqual([t.numTurns, t.numValidActions, t.numSearches], [1, 1, 0]);
  assert.equal(sampler.calls.length, 1);
  assert.deepEqual(sampler.calls[0].stop, ['</search>', '</answer>']);
  assert.equal(retriever.calls.length, 0);
});

test('search then answer: observation injected with mask 0, exact text, query recorded', async () => {
  const tok = new WordTokenizer();
  const sampler = new ScriptedSampler(tok, (ctx) =>
    ctx.includes('<information>')
      ? '<think> found it </think> <answer> Paris </answer>'
      : '<think> need search </think> <search> capital of france </search>',
  );
  const retriever = new ScriptedRetriever(HITS);
  const stats = emptyRolloutStats();
  const [t] = await runRollouts(sampler, searchR1Env({ retriever: retriever }), [tok.encode('Q: capital of france?')], 1, cfg, stats);
  checkInvariants(tok, t);
  const obs = informationBlock(formatPassages(HITS['capital of france']));
  assert.equal(
    t.responseText,
    '<think> need search </think> <search> capital of france </search>' +
      obs +
      '<think> found it </think> <answer> Paris </answer>',
  );
  assert.equal(t.finish, 'answer');
  assert.deepEqual([t.numTurns, t.numValidActions, t.numSearches], [2, 2, 1]);
  assert.equal(t.turns[0].action, 'search');
  assert.equal(t.turns[0].query, 'capital of france');
  assert.equal(t.turns[0].hits?.length, 2);
  // the injected tokens are exactly encode(obs), all mask 0, between the two turns
  const first = tok.encode(t.turns[0].text).length;
  const obsIds = tok.encode(obs);
  assert.deepEqual(t.responseTokens.slice(first, first + obsIds.length), obsIds);
  assert.deepEqual(
    [...t.policyMask.slice(first, first + obsIds.length)],
    obsIds.map(() => 0),
  );
  assert.equal(t.policyMask[first - 1], 1);
  assert.equal(t.policyMask[first + obsIds.length], 1);
  assert.deepEqual(retriever.calls, [['capital of france']]);
  assert.equal(stats.injectedTokens, obsIds.length);
  assert.equal(stats.sampleCalls, 2);
});

test('invalid action then recovery: the invalid-action message is injected and the turn is not valid', async () => {
  const tok = new WordTokenizer();
  const sampler = new ScriptedSampler(tok, (ctx) =>
    ctx.includes('invalid') ? '<answer> Paris </answer>' : 'I think the answer is Paris',
  );
  const [t] = await runRollouts(sampler, searchR1Env({ retriever: new ScriptedRetriever(HITS) }), [tok.encode('Q: x?')], 1, cfg);
  checkInvariants(tok, t);
  assert.equal(
    t.responseText,
    'I think the answer is Paris' + INVALID_ACTION_MESSAGE + '<answer> Paris </answer>',
  );
  assert.deepEqual(
    t.turns.map((r) => r.action),
    ['invalid', 'answer'],
  );
  assert.deepEqual([t.numTurns, t.numValidActions, t.numSearches], [2, 1, 0]);
  assert.equal(t.finish, 'answer');
  const injected = t.policyMask.reduce((a, m) => a + (m === 0 ? 1 : 0), 0);
  assert.equal(injected, tok.encode(INVALID_ACTION_MESSAGE).length);
});

test('max turns: maxTurns searches are executed, then one final turn whose search is not', async () => {
  const tok = new WordTokenizer();
  const sampler = new ScriptedSampler(tok, () => '<search> capital of france </search>');
  const retriever = new ScriptedRetriever(HITS);
  const [t] = await runRollouts(sampler, searchR1Env({ retriever: retriever }), [tok.encode('Q: x?')], 1, cfg);
  checkInvariants(tok, t);
  assert.equal(t.finish, 'max_turns');
  assert.equal(t.numTurns, cfg.maxTurns + 1);
  assert.equal(t.numSearches, cfg.maxTurns);
  assert.equal(retriever.calls.length, cfg.maxTurns);
  assert.equal(count(t.responseText, '<information>'), cfg.maxTurns);
  assert.ok(t.responseText.endsWith('</search>'), 'nothing is appended after the final turn');
  assert.equal(t.answer, null);
});

test('observation truncation keeps </information> and the trailing newlines within maxObsTokens', async () => {
  const tok = new WordTokenizer();
  const long = [
    { id: '9', title: '"Long"', text: Array.from({ length: 80 }, (_, i) => `w${i}`).join(' '), score: 1 },
  ];
  const sampler = new ScriptedSampler(tok, (ctx) =>
    ctx.includes('<information>') ? '<answer> x </answer>' : '<search> long </search>',
  );
  const stats = emptyRolloutStats();
  const [t] = await runRollouts(
    sampler,
    searchR1Env({ retriever: new ScriptedRetriever({ long }) }),
    [tok.encode('Q: x?')],
    1,
    { ...cfg, maxObsTokens: 30 },
    stats,
  );
  checkInvariants(tok, t);
  const injected = t.responseTokens.filter((_, k) => t.policyMask[k] === 0);
  assert.equal(injected.length, 30);
  assert.ok(tok.decode(injected).endsWith('</information>\n\n'));
  assert.ok(tok.decode(injected).startsWith('\n\n<information>Doc 1(Title: "Long") w0'));
  assert.equal(stats.truncatedObservations, 1);
  assert.equal(t.finish, 'answer');
});

test('mixed finish times: one sample call and one retriever call per turn over the live sequences only', async () => {
  const tok = new WordTokenizer();
  // prompt "A" answers at once; "B" searches once; "C" searches twice (second query differs).
  const sampler = new ScriptedSampler(tok, (ctx) => {
    const infos = count(ctx, '<information>');
    if (ctx.includes('Q: A')) return '<answer> a </answer>';
    if (ctx.includes('Q: B'))
      return infos === 0 ? '<search> capital of france </search>' : '<answer> b </answer>';
    return infos === 0
      ? '<search> capital of france </search>'
      : infos === 1
        ? '<search> river of paris </search>'
        : '<answer> Seine </answer>';
  });
  const retriever = new ScriptedRetriever(HITS);
  const prompts = ['Q: A', 'Q: B', 'Q: C'].map((q) => tok.encode(q));
  const trajs = await runRollouts(sampler, searchR1Env({ retriever: retriever }), prompts, 2, { ...cfg, maxTurns: 3 });
  assert.equal(trajs.length, 6);
  for (const t of trajs) checkInvariants(tok, t);
  assert.deepEqual(
    trajs.map((t) => [t.promptIndex, t.sampleIndex]),
    [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [2, 0],
      [2, 1],
    ],
  );
  assert.deepEqual(
    trajs.map((t) => t.numTurns),
    [1, 1, 2, 2, 3, 3],
  );
  assert.ok(trajs.every((t) => t.finish === 'answer'));
  assert.deepEqual(
    sampler.calls.map((c) => [c.prompts.length, c.n]),
    [
      [3, 2],
      [4, 1],
      [2, 1],
    ],
  );
  assert.deepEqual(
    retriever.calls.map((c) => c.length),
    [4, 2],
  );
  assert.deepEqual(retriever.calls[1], ['river of paris', 'river of paris']);
  assert.equal(trajs[4].answer, 'Seine');
  // the per-turn seeds differ (reproducible, derived from cfg.seed)
  assert.equal(new Set(sampler.calls.map((c) => c.seed)).size, 3);
});

test('EOS without an action ends the trajectory; total budget ends it with "length"', async () => {
  const tok = new WordTokenizer();
  const s1 = new ScriptedSampler(tok, () => ({ text: 'no idea', eos: true }));
  const [t1] = await runRollouts(s1, searchR1Env({ retriever: null }), [tok.encode('Q: x?')], 1, cfg);
  checkInvariants(tok, t1);
  assert.equal(t1.finish, 'eos');
  assert.equal(t1.responseTokens[t1.responseTokens.length - 1], tok.eosTokenIds[0]);

  const s2 = new ScriptedSampler(tok, () => 'blah blah blah blah blah blah blah blah blah blah');
  const prompt = tok.encode('Q: x?');
  const [t2] = await runRollouts(s2, searchR1Env({ retriever: null }), [prompt], 1, { ...cfg, maxTotalTokens: prompt.length + 12 });
  checkInvariants(tok, t2);
  assert.equal(t2.finish, 'length');
  assert.ok(prompt.length + t2.responseTokens.length <= prompt.length + 12);
});

test('search disabled (R1 baseline): a search gets the invalid-action message and no retrieval', async () => {
  const tok = new WordTokenizer();
  const sampler = new ScriptedSampler(tok, (ctx) =>
    ctx.includes('invalid') ? '<answer> y </answer>' : '<search> capital of france </search>',
  );
  const retriever = new ScriptedRetriever(HITS);
  const [t] = await runRollouts(sampler, searchR1Env({ retriever: null }), [tok.encode('Q: x?')], 1, cfg);
  assert.equal(retriever.calls.length, 0);
  assert.ok(t.responseText.includes(INVALID_ACTION_MESSAGE));
  assert.deepEqual([t.numSearches, t.numValidActions, t.finish], [0, 1, 'answer']);
});
