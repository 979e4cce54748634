// The learning task for the embedded engine: "code of kN?" where kN's code is only in the
// corpus, train and validation entities disjoint (so no memorisation can answer validation).
// A tiny Qwen2-style model gets a short supervised warm start on mixed-quality trajectories
// (half search-then-copy, half a direct guess), then RL must raise the search rate.
import type { QaExample } from '../../src/protocol/types.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { ModelConfig } from '../../src/engine/config.ts';
import type { Datum } from '../../src/policy/types.ts';
import { INVALID_ACTION_MESSAGE, informationBlock } from '../../src/protocol/actions.ts';
import { formatPassages } from '../../src/protocol/passages.ts';
import { mulberry32 } from '../../src/rl/rng.ts';
import { KeywordRetriever, WordTokenizer } from './fakes.ts';

export const KB_TEMPLATE = 'Question: {question}\n';
const NUM_ENTITIES = 48;
const NUM_TRAIN = 24;
// Two codes: chance EM without search is 1/2. (With 4–8 codes the tiny model's copy circuit forms
// too slowly for a CI budget; the RL signal — search beats guessing — is the same.)
const CODES = ['c0', 'c1'];

export function kbTask(seed = 11) {
  const r = mulberry32(seed);
  const entities = Array.from({ length: NUM_ENTITIES }, (_, i) => ({ name: `k${i}`, code: CODES[Math.floor(r() * CODES.length)] }));
  const passages = entities.map((e, i) => ({ id: `p${i}`, title: e.name, text: `${e.name} code ${e.code}` }));
  const ex = (e: { name: string; code: string }, i: number): QaExample => ({ id: `q${i}`, question: `code of ${e.name}`, goldenAnswers: [e.code], dataSource: 'kb' });
  const train = entities.slice(0, NUM_TRAIN).map(ex);
  const val = entities.slice(NUM_TRAIN).map((e, i) => ex(e, NUM_TRAIN + i));
  const tok = new WordTokenizer(4096, [
    KB_TEMPLATE, 'code of ?', INVALID_ACTION_MESSAGE, '<think></think><search></search><answer></answer><information></information>',
    'Doc 1(Title: ) \n\n', ...passages.map((p) => `${p.title} ${p.text}`), ...CODES,
  ]).freeze();
  const retriever = new KeywordRetriever(passages);
  return { entities, passages, train, val, tok, retriever, r };
}

export function tinyConfig(vocabSize: number): ModelConfig {
  return {
    arch: 'qwen2', vocabSize, hiddenSize: 48, intermediateSize: 96, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 12,
    ropeTheta: 10000, rmsNormEps: 1e-6, tieWordEmbeddings: true, attentionBias: true, maxPositionEmbeddings: 256,
  };
}

/**
 * Supervised warm start on mixed-quality trajectories: a share of the examples search and copy
 * the code from the information block, the rest answer at once with a random code. The
 * information blocks of the warm start carry RANDOM codes (not the corpus's), so it teaches the
 * format and copying but no entity's code: validation codes exist only in the corpus.
 * Injected tokens get weight 0.
 */
export async function warmStart(policy: EmbeddedTrainer, task: ReturnType<typeof kbTask>, steps: number, lr: number, searchShare = 0.5): Promise<void> {
  const { tok, r } = task;
  const datum = (name: string, search: boolean): Datum => {
    const prompt = tok.encode(KB_TEMPLATE.replace('{question}', `code of ${name}?`));
    const code = CODES[Math.floor(r() * CODES.length)];
    const parts: [string, boolean][] = search
      ? [
          [`<search> ${name} </search>`, true],
          [informationBlock(formatPassages([{ title: name, text: `${name} code ${code}` }])), false],
          [`<answer> ${code} </answer>`, true],
        ]
      : [[`<answer> ${CODES[Math.floor(r() * CODES.length)]} </answer>`, true]];
    const full = prompt.slice();
    const w: number[] = prompt.map(() => 0);
    for (const [text, policy] of parts) {
      const ids = tok.encode(text);
      full.push(...ids);
      w.push(...ids.map(() => (policy ? 1 : 0)));
    }
    const N = full.length - 1;
    return { inputTokens: full.slice(0, N), targetTokens: full.slice(1), weights: Float32Array.from(w.slice(1)) };
  };
  for (let s = 0; s < steps; s++) {
    const batch = Array.from({ length: 16 }, () => datum(task.entities[Math.floor(r() * task.entities.length)].name, r() < searchShare));
    const total = batch.reduce((a, d) => a + d.weights!.reduce((x, y) => x + y, 0), 0);
    for (const d of batch) d.weights = d.weights!.map((x) => x / total);
    await policy.forwardBackward(batch, { type: 'cross_entropy' });
    await policy.optimStep({ learningRate: lr, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0, gradClipNorm: 1 });
  }
}

/** Warm-starts a tiny model (deterministic from the seeds) and saves it as an HF folder. */
export async function warmStartedModel(
  task: ReturnType<typeof kbTask>,
  dir: string,
  opts: { phases: { steps: number; searchShare: number }[]; lr: number; seed: number },
): Promise<void> {
  const policy = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: opts.seed });
  for (const ph of opts.phases) await warmStart(policy, task, ph.steps, opts.lr, ph.searchShare);
  await policy.saveWeights(dir);
}
