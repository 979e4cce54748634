// A tiny generated knowledge-base task for trainer tests: "what is the code of X?" where X's
// code is only in the corpus. Deterministic from a seed.
import type { QaExample } from '../../src/core/qa.ts';
import { SEARCH_R1_TEMPLATE } from '../../src/protocol/prompt.ts';
import { INVALID_ACTION_MESSAGE } from '../../src/protocol/actions.ts';
import { mulberry32 } from '../../src/core/rng.ts';
import { KeywordRetriever, TabularPolicy, WordTokenizer } from './fakes.ts';
import type { Trainer } from '../../src/core/trainer.ts';
import type { TrainerSpec } from '../../src/policy/backends.ts';
import { parseConfig, type TrainConfig, mergeLayers } from '../../src/rl/config.ts';

export const NAMES = ['zorb', 'quil', 'mave', 'trop', 'senn', 'dalk', 'pryx', 'voom'];
export const CODES = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7', 'c8'];

export function makeTask(seed = 1) {
  const r = mulberry32(seed);
  const codes = CODES.slice();
  for (let i = codes.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [codes[i], codes[j]] = [codes[j], codes[i]];
  }
  const passages = NAMES.map((n, i) => ({ id: `p${i}`, title: n, text: `The code of ${n} is ${codes[i]}.` }));
  const examples: QaExample[] = NAMES.map((n, i) => ({
    id: `q${i}`,
    question: `what is the code of ${n}`,
    goldenAnswers: [codes[i]],
    dataSource: 'kb',
  }));
  return { passages, examples, retriever: new KeywordRetriever(passages) };
}

/** A frozen tokenizer over everything the task can produce. */
export function makeTokenizer(): WordTokenizer {
  const t = makeTask();
  const texts = [
    SEARCH_R1_TEMPLATE,
    INVALID_ACTION_MESSAGE,
    '<think></think><search></search><answer></answer><information></information>',
    'Doc 1(Title: ) \n\n ? . what is the code of',
    ...t.passages.map((p) => `${p.title} ${p.text}`),
    ...CODES,
  ];
  return new WordTokenizer(128, texts);
}

/** Biases a bigram table so that rollouts often answer with some code (so rewards vary). */
export function biasTowardsAnswers(p: TabularPolicy, tok: WordTokenizer): void {
  const id = (s: string) => tok.encode(s)[0];
  const V = p.V;
  const set = (a: string, b: string, v: number) => (p.W[id(a) * V + id(b)] = v);
  for (let a = 0; a < V; a++) p.W[a * V + id('<answer>')] = 5; // from anywhere, <answer> is likely
  for (let a = 0; a < V; a++) p.W[a * V + id('<search>')] = 2.5;
  set(' ', '<answer>', -5);
  set(' ', '<search>', -5);
  set('<answer>', ' ', 5);
  set('<search>', ' ', 5);
  for (const c of CODES) {
    set(' ', c, 3);
    set(c, '</answer>', 6);
  }
  for (const n of NAMES) {
    set(' ', n, 2);
    set(n, '</search>', 5);
  }
  p.W[0] = 0;
}

/** Factory for train(): tabular policies over the shared tokenizer, biased identically. */
export function fakeFactory(tok: WordTokenizer, extra: { nanCalls?: Set<number> } = {}) {
  return async (spec: TrainerSpec): Promise<Trainer> => {
    const p = new TabularPolicy(tok, {
      valueHead: spec.valueHead,
      seed: 3,
      initScale: 0.1,
      nanOnForwardBackwardCalls: spec.valueHead ? undefined : extra.nanCalls,
    });
    biasTowardsAnswers(p, tok);
    return p;
  };
}

export function fakeConfig(overrides: Record<string, unknown> = {}): TrainConfig {
  return parseConfig(
    mergeLayers(
      {
        name: 'fake',
        model: 'fake',
        seed: 5,
        data: { train: ['unused'], val: ['unused'] },
        retriever: { type: 'none' },
        rollout: {
          maxTurns: 2,
          maxTurnTokens: 6,
          maxObsTokens: 40,
          maxTotalTokens: 400,
          maxPromptTokens: 300,
        },
        steps: 6,
        promptsPerStep: 4,
        n: 2,
        miniBatchPrompts: 2,
        actor: { lr: 0.05, warmupRatio: 0 },
        critic: { lr: 0.05 },
        val: { every: 3, beforeTrain: true, batchSize: 3, maxTurns: 2 },
        checkpoint: { every: 2, keepLast: 2 },
      },
      overrides,
    ),
  );
}
