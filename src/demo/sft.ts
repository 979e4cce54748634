// Supervised fine-tuning for `demo --full`: the paper's SFT baseline (question → answer pairs of
// the RL-train questions, in the Direct prompt) and the "instruct" variant (the base model after a
// short tuning on well-formed, correct Search-R1 trajectories of pretrain-split questions). Loss on
// the completion tokens only.
import type { Trainer } from '../core/trainer.ts';
import type { Retriever } from '../core/retriever.ts';
import { normalizeQuestion } from '../protocol/prompt.ts';
import { renderPrompt } from '../eval/methods/common.ts';
import { DIRECT_SYSTEM } from '../eval/methods/direct.ts';
import { buildPretrainExamples, type PretrainExample } from './pretrain-data.ts';
import { encodeExample, lmBatch } from './lm-batch.ts';
import type { World } from '../world/world.ts';
import { Rng } from '../core/rng.ts';

export interface SftOptions {
  steps: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  /** Train only the last segment of each example (the final answer turn of a trajectory). */
  lastSegmentOnly?: boolean;
  log?: (line: string) => void;
}

export async function supervisedTune(trainer: Trainer, examples: PretrainExample[], o: SftOptions): Promise<number> {
  const tok = trainer.tokenizer;
  const eos = tok.eosTokenIds[0];
  const seqs = examples.map((e) => encodeExample(tok, e, 1024, eos));
  // First trained token: after the prompt, or (lastSegmentOnly) after every segment but the last,
  // counted exactly as encodeExample concatenates the separately encoded pieces.
  const from = examples.map((e) => {
    let n = tok.encode(e.prompt).length;
    if (o.lastSegmentOnly) for (const s of e.segments.slice(0, -1)) n += tok.encode(s.text).length;
    return n;
  });
  const rng = new Rng(o.seed);
  let order: number[] = [];
  let loss = NaN;
  for (let step = 0; step < o.steps; step++) {
    if (order.length < o.batchSize) order = order.concat(rng.shuffle(seqs.map((_, i) => i)));
    const idx = order.splice(0, o.batchSize);
    const m = await trainer.forwardBackward(lmBatch(idx.map((i) => seqs[i]), idx.map((i) => from[i])), { type: 'cross_entropy' });
    await trainer.optimStep({ learningRate: o.learningRate, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 1 });
    loss = m['loss:sum'] ?? NaN;
    if ((step + 1) % 10 === 0 || step + 1 === o.steps) o.log?.(`[sft] step ${step + 1}/${o.steps} loss ${loss.toFixed(3)}`);
  }
  return loss;
}

/** SFT baseline data: Direct prompt → the golden answer, for every RL-train question. */
export function sftExamples(world: World): PretrainExample[] {
  const noTemplate = { applyChatTemplate: () => null } as unknown as Trainer['tokenizer'];
  return world.train.map((q) => ({
    prompt: renderPrompt(noTemplate, DIRECT_SYSTEM, `Question: ${normalizeQuestion(q.question)}`, 'Answer:'),
    segments: [{ text: ` ${q.goldenAnswers[0]}`, injected: false }],
    kind: 'direct' as const,
    correct: true,
  }));
}

/** Instruct data: well-formed, correct search-and-copy trajectories about pretrain-split questions. */
export async function instructExamples(world: World, retriever: Retriever, seed: number): Promise<PretrainExample[]> {
  const ex = await buildPretrainExamples(world, retriever, {
    seed,
    topk: 3,
    mix: { search_copy: 1, guess: 0, wrong_query: 0, wrong_span: 0 },
    passageRepeats: 0,
  });
  return ex.filter((e) => e.kind === 'search_copy');
}
