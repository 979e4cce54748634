// The learning task for the embedded engine: "code of kN?" where kN's code is only in the
// corpus, train and validation entities disjoint (so no memorisation can answer validation).
// A tiny Qwen2-style model gets a short supervised warm start on mixed-quality trajectories
// (half search-then-copy, half a direct guess), then RL must raise the search rate.
import type { QaExample } from '../../src/core/qa.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { ModelConfig } from '../../src/engine/config.ts';
import type { Datum } from '../../src/core/trainer.ts';
import { INVALID_ACTION_MESSAGE, informationBlock } from '../../src/protocol/actions.ts';
import { formatPassages } from '../../src/protocol/passages.ts';
import { mulberry32 } from '../../src/core/rng.ts';
import { WordTokenizer } from './fakes.ts';
import type { Hit, Retriever } from '../../src/core/retriever.ts';

export const KB_TEMPLATE = 'Question: {question}\n';
const NUM_ENTITIES = 48;
const NUM_TRAIN = 24;
// Two codes: chance EM without search is 1/2. (With 4–8 codes the tiny model's copy circuit forms
// too slowly for a CI budget; the RL signal — search beats guessing — is the same.)
const CODES = ['c0', 'c1'];

/**
 * The passage of an entity: its code, repeated, and not its name. Repeated, even uniform
 * attention carries the code to the answer position, so the copy circuit forms quickly from any
 * seed (a single occurrence makes its emergence a seed-dependent phase transition, too slow for
 * CI); without the name, the name-copying the query needs cannot be confused with it.
 */
function passageText(_name: string, code: string): string {
  return `code ${code} ${code} ${code} ${code} ${code} ${code}`;
}

const PASSAGE_TITLE = 'record';
/** What the warm start answers when it does not search (never a gold answer). */
const NO_ANSWER = 'unknown';

/** Entity lookup: a query that names an entity gets its passage; any other query gets nothing. */
class EntityRetriever implements Retriever {
  constructor(private readonly byName: Map<string, Hit>) {}
  async search(queries: string[], topk: number): Promise<Hit[][]> {
    return queries.map((q) => {
      const hits = q
        .split(/\s+/)
        .map((w) => this.byName.get(w))
        .filter((h): h is Hit => h !== undefined);
      return [...new Set(hits)].slice(0, topk);
    });
  }
}

function questionText(name: string): string {
  return `code of ${name}`;
}

export function kbTask(seed = 11) {
  const r = mulberry32(seed);
  const entities = Array.from({ length: NUM_ENTITIES }, (_, i) => ({
    name: `k${i}`,
    code: CODES[Math.floor(r() * CODES.length)],
  }));
  const passages = entities.map((e, i) => ({
    id: `p${i}`,
    title: PASSAGE_TITLE,
    text: passageText(e.name, e.code),
  }));
  const ex = (e: { name: string; code: string }, i: number): QaExample => ({
    id: `q${i}`,
    question: questionText(e.name),
    goldenAnswers: [e.code],
    dataSource: 'kb',
  });
  const train = entities.slice(0, NUM_TRAIN).map(ex);
  const val = entities.slice(NUM_TRAIN).map((e, i) => ex(e, NUM_TRAIN + i));
  const tok = new WordTokenizer(4096, [
    KB_TEMPLATE,
    'code of ?',
    INVALID_ACTION_MESSAGE,
    '<think></think><search></search><answer></answer><information></information>',
    'Doc 1(Title: ) \n\n',
    PASSAGE_TITLE,
    NO_ANSWER,
    ...entities.map((e) => e.name),
    ...passages.map((p) => p.text),
    ...CODES,
  ]).freeze();
  // A query naming no entity finds nothing (a query "c1" must not return every passage whose code
  // is c1: RL learns to exploit that).
  const retriever = new EntityRetriever(
    new Map(entities.map((e, i) => [e.name, { ...passages[i], score: 1 }])),
  );
  return { entities, passages, train, val, tok, retriever, r };
}

export function tinyConfig(vocabSize: number): ModelConfig {
  return {
    arch: 'qwen2',
    vocabSize,
    hiddenSize: 48,
    intermediateSize: 96,
    numLayers: 2,
    numHeads: 4,
    numKvHeads: 2,
    headDim: 12,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: 256,
  };
}

/** One warm-start example: prompt + (search, information, answer) or a direct guess. */
function warmDatum(
  task: ReturnType<typeof kbTask>,
  name: string,
  search: boolean,
): Datum & { namePos: number; codePos: number } {
  const { tok, r } = task;
  const prompt = tok.encode(KB_TEMPLATE.replace('{question}', `${questionText(name)}?`));
  const code = CODES[Math.floor(r() * CODES.length)];
  const parts: [string, boolean][] = search
    ? [
        [`<search> ${name} </search>`, true],
        [informationBlock(formatPassages([{ title: PASSAGE_TITLE, text: passageText(name, code) }])), false],
        [`<answer> ${code} </answer>`, true],
      ]
    : [[`<answer> ${NO_ANSWER} </answer>`, true]];
  const full = prompt.slice();
  const w: number[] = prompt.map(() => 0);
  for (const [text, policy] of parts) {
    const ids = tok.encode(text);
    full.push(...ids);
    w.push(...ids.map(() => (policy ? 1 : 0)));
  }
  const N = full.length - 1;
  // Position p predicts token p+1. The query's name is the 3rd token after the prompt
  // ("<search> kN"); the answer's code is third from the end ("<answer> cX </answer>").
  return {
    inputTokens: full.slice(0, N),
    targetTokens: full.slice(1),
    weights: Float32Array.from(w.slice(1)),
    namePos: prompt.length + 1,
    codePos: N - 3,
  };
}

/**
 * Supervised warm start on mixed-quality trajectories: a share of the examples search and copy
 * the code from the information block, the rest answer at once "unknown" (reward 0). The
 * information blocks of the warm start carry RANDOM codes (not the corpus's), so it teaches the
 * format and copying but no entity's code: validation codes exist only in the corpus.
 * Injected tokens get weight 0.
 */
export async function warmStart(
  policy: EmbeddedTrainer,
  task: ReturnType<typeof kbTask>,
  steps: number,
  lr: number,
  searchShare = 0.5,
): Promise<void> {
  const { r } = task;
  for (let s = 0; s < steps; s++) {
    const batch: Datum[] = Array.from({ length: 16 }, () =>
      warmDatum(task, task.entities[Math.floor(r() * task.entities.length)].name, r() < searchShare),
    );
    const total = batch.reduce((a, d) => a + d.weights!.reduce((x, y) => x + y, 0), 0);
    for (const d of batch) d.weights = d.weights!.map((x) => x / total);
    await policy.forwardBackward(batch, { type: 'cross_entropy' });
    await policy.optimStep({
      learningRate: lr,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weightDecay: 0,
      gradClipNorm: 1,
    });
  }
}

/** Mean probability of copying right, min over the query's name and the answer's code (every entity). */
export async function copyAccuracy(
  policy: EmbeddedTrainer,
  task: ReturnType<typeof kbTask>,
): Promise<number> {
  const ds = task.entities.map((e) => warmDatum(task, e.name, true));
  const out = await policy.forward(ds);
  const mean = (pos: (i: number) => number) =>
    out.reduce((a, o, i) => a + Math.exp(o.logprobs[pos(i)]), 0) / ds.length;
  return Math.min(
    mean((i) => ds[i].namePos),
    mean((i) => ds[i].codePos),
  );
}

/** Mean probability that the first response token is <search> (over the training questions). */
export async function searchFirstProbability(
  policy: EmbeddedTrainer,
  task: ReturnType<typeof kbTask>,
): Promise<number> {
  const s = task.tok.encode('<search>')[0];
  const ds: Datum[] = task.train.map((q) => {
    const ids = task.tok.encode(KB_TEMPLATE.replace('{question}', `${q.question}?`)).concat([s]);
    return { inputTokens: ids.slice(0, -1), targetTokens: ids.slice(1) };
  });
  const out = await policy.forward(ds);
  return out.reduce((a, o) => a + Math.exp(o.logprobs[o.logprobs.length - 1]), 0) / ds.length;
}

/**
 * Warm-starts a tiny model and saves it as an HF folder. Phase 1 (search-and-copy trajectories
 * only) runs until the copy probability reaches `copyTarget` — checked every 50 steps, so the
 * warm start does not depend on exactly when the copy circuit forms under a given kernel's
 * numerics. Phase 2 makes the policy rarely search without touching any circuit: it shrinks the
 * <search> row of the tied embedding, which lowers that token's logit (RMSNorm makes its use as
 * an input nearly scale-free), bisecting the scale until P(first token = <search>) is in
 * `searchRange`. (Supervised mixing of direct answers instead destroys the fragile copy circuit
 * of so small a model within a few steps.) The result answers correctly when it searches and
 * almost never searches: greedy decoding does not search at all.
 */
export async function warmStartedModel(
  task: ReturnType<typeof kbTask>,
  dir: string,
  opts: { lr: number; seed: number; copyTarget: number; maxCopySteps: number; searchRange: [number, number] },
): Promise<{ copySteps: number; copy: number; searchScale: number; pSearch: number; copyAfter: number }> {
  const policy = EmbeddedTrainer.create(tinyConfig(task.tok.vocabSize), task.tok, { seed: opts.seed });
  let copySteps = 0;
  let copy = 0;
  while (copySteps < opts.maxCopySteps) {
    await warmStart(policy, task, 50, opts.lr, 1);
    copySteps += 50;
    copy = await copyAccuracy(policy, task);
    if (copy >= opts.copyTarget) break;
  }
  const emb = policy.model.params.find((p) => p.name === 'model.embed_tokens.weight');
  if (!emb) throw new Error('warm start: no model.embed_tokens.weight');
  const H = policy.model.config.hiddenSize;
  const id = task.tok.encode('<search>')[0];
  const row = (emb.w.data as Float32Array).subarray(id * H, (id + 1) * H);
  const orig = Float32Array.from(row);
  let lo = 0;
  let hi = 1;
  let scale = 1;
  let pSearch = await searchFirstProbability(policy, task);
  for (let it = 0; it < 40 && !(pSearch >= opts.searchRange[0] && pSearch <= opts.searchRange[1]); it++) {
    scale = (lo + hi) / 2;
    for (let k = 0; k < H; k++) row[k] = orig[k] * scale;
    pSearch = await searchFirstProbability(policy, task);
    if (pSearch > opts.searchRange[1]) hi = scale;
    else lo = scale;
  }
  const copyAfter = await copyAccuracy(policy, task);
  await policy.saveWeights(dir);
  return { copySteps, copy, searchScale: scale, pSearch, copyAfter };
}
