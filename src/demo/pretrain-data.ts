// Pretraining text for the world's base model: the passages a reader of the world could know
// (pretrain-split entities, cities and countries — never an RL-train or test entity), and example
// trajectories in the exact Search-R1 format about pretrain-split questions, of mixed quality. The mix is chosen so the
// model learns the format (tags, search calls, information blocks, copying spans) but not the
// policy: its most likely first move is a guess, so greedy EM on test questions starts low, and RL
// has to discover that searching and copying pays.
import type { Retriever } from '../core/retriever.ts';
import { informationBlock } from '../protocol/actions.ts';
import { formatPassages } from '../protocol/passages.ts';
import { normalizeQuestion, searchR1UserPrompt } from '../protocol/prompt.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import { renderPrompt } from '../eval/methods/common.ts';
import { DIRECT_SYSTEM } from '../eval/methods/direct.ts';
import { ragSystem } from '../eval/methods/rag.ts';
import { entity, type Entity, type KnowledgeBase } from '../world/kb.ts';
import { wikiContents } from '../world/passages.ts';
import type { WorldQuestion } from '../world/questions.ts';
import type { World } from '../world/world.ts';
import { Rng } from '../core/rng.ts';

export type TrajectoryMode = 'search_copy' | 'guess' | 'wrong_query' | 'wrong_span';
export type ExampleKind = 'passage' | 'direct' | 'rag' | TrajectoryMode;

/**
 * Probabilities of each mode; the guess dominates so greedy decoding starts by guessing. This is the
 * first stage's mix; the shipped model's second stage (`pretrain --init … --mix guess=0.6,search_copy=0.4`)
 * drops the wrong spans and queries: after them the base model copied a wrong name after a third of its
 * searches, so at temperature 1 person answers were almost never right and GRPO had no signal on them
 * (notes/issue-12-main-job.md). From scratch, that clean mix alone gave a model that copied badly (RAG 0.17).
 */
export const DEFAULT_MIX: Record<TrajectoryMode, number> = { guess: 0.6, search_copy: 0.2, wrong_query: 0.08, wrong_span: 0.12 };

export interface PretrainSegment {
  text: string;
  /** Written by the environment at rollout time (information blocks): encoded on its own, as the rollout does. */
  injected: boolean;
}

export interface PretrainExample {
  /** Text the model conditions on (raw: the base model has no chat template); '' for passages. */
  prompt: string;
  /** The continuation in the pieces a rollout would produce (model turns and injected blocks). */
  segments: PretrainSegment[];
  kind: ExampleKind;
  /** Whether the example's answer is correct (EM); null for passages. */
  correct: boolean | null;
}

export function exampleText(e: PretrainExample): string {
  return e.prompt + e.segments.map((s) => s.text).join('');
}

export interface PretrainDataOptions {
  seed: number;
  topk: number;
  mix?: Record<TrajectoryMode, number>;
  /** Trajectories per training question (each with a freshly drawn mode). */
  trajectoriesPerQuestion?: number;
  /** Copies of each passage document (weight of plain text vs trajectories). */
  passageRepeats?: number;
  /**
   * Direct and RAG examples (the eval harness's prompts, answers after "Answer:") per pretrain
   * question: the base model then knows those formats too, so the Direct and RAG baselines measure
   * the model rather than its unfamiliarity with a prompt. Direct answers are the true facts (the
   * model read these passages); RAG answers are copied from the retrieved passages.
   */
  baselineFormatsPerQuestion?: number;
  /**
   * A shadow world (another seed, used only as pretraining text): every entity and question is
   * usable, and its passages are seen only inside information blocks / RAG prompts. Names there
   * are new to the model, so the only way to predict an answer is to copy it from the context —
   * the skill RL later needs on test entities. (On the real world's pretrain split the model can
   * answer from memory, so those examples alone teach memorising, not copying.)
   */
  shadow?: boolean;
}

function drawMode(rng: Rng, mix: Record<TrajectoryMode, number>): TrajectoryMode {
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  let u = rng.float() * total;
  for (const [m, p] of Object.entries(mix) as [TrajectoryMode, number][]) {
    if ((u -= p) < 0) return m;
  }
  return 'guess';
}

/** Entities the answer could plausibly be (same kind), from the pretrain split or shared (any split in a shadow world). */
function sameKindPool(kb: KnowledgeBase, answer: Entity, shadow: boolean): Entity[] {
  const all: Entity[] = [...kb.countries, ...kb.cities, ...kb.people, ...kb.works, ...kb.orgs];
  return all.filter((e) => e.kind === answer.kind && (shadow || !('split' in e) || e.split === 'pretrain'));
}

/** The base model has no chat template: prompts render as raw text, as the eval harness does for it. */
const NO_CHAT_TEMPLATE = { applyChatTemplate: () => null } as unknown as Tokenizer;

const think = (s: string): string => `<think> ${s} </think>\n`;
const search = (q: string): string => `<search> ${q} </search>`;
const answer = (a: string): string => `<answer> ${a} </answer>`;

export async function buildPretrainExamples(world: World, retriever: Retriever, opts: PretrainDataOptions): Promise<PretrainExample[]> {
  const rng = new Rng(opts.seed);
  const mix = opts.mix ?? DEFAULT_MIX;
  const perQ = opts.trajectoriesPerQuestion ?? 1;
  const { kb } = world;
  const shadow = opts.shadow === true;
  const questions = shadow ? [...world.pretrain, ...world.train, ...world.test] : world.pretrain;
  const out: PretrainExample[] = [];
  for (const p of world.passages) {
    if (shadow || (p.split !== 'pretrain' && p.split !== 'shared')) continue;
    for (let r = 0; r < (opts.passageRepeats ?? 1); r++) out.push({ prompt: '', segments: [{ text: wikiContents(p), injected: false }], kind: 'passage', correct: null });
  }
  // Plan every trajectory first so the searches can go to the retriever in one batch.
  interface Plan { q: WorldQuestion; mode: TrajectoryMode; queries: string[] }
  const plans: Plan[] = [];
  for (const q of questions) {
    for (let k = 0; k < perQ; k++) {
      const mode = drawMode(rng, mix);
      const chainNames = q.metadata.chain.map((id) => entity(kb, id).name);
      let queries: string[] = [];
      if (mode === 'search_copy' || mode === 'wrong_span') queries = chainNames;
      else if (mode === 'wrong_query') {
        const subj = entity(kb, q.metadata.chain[0]);
        queries = [rng.pick(sameKindPool(kb, subj, shadow).filter((e) => e.id !== subj.id)).name];
      }
      plans.push({ q, mode, queries });
    }
  }
  const baselinePlans: { q: WorldQuestion; kind: 'direct' | 'rag' }[] = [];
  const perQBaseline = opts.baselineFormatsPerQuestion ?? 0;
  for (const q of questions) {
    // In a shadow world a two-hop RAG answer is not in the passages retrieved for the question (and
    // not known): it would teach guessing, so shadow RAG examples are single-hop.
    if (shadow && q.metadata.type === 'two_hop') continue;
    // Fractional rates: each question gets ⌊r⌋ examples, plus one more with probability r − ⌊r⌋.
    const k = Math.floor(perQBaseline) + (rng.float() < perQBaseline - Math.floor(perQBaseline) ? 1 : 0);
    for (let j = 0; j < k; j++) {
      // Direct answers about shadow entities would be unknowable guesses: shadow worlds teach RAG only.
      baselinePlans.push({ q, kind: shadow || rng.float() < 0.5 ? 'rag' : 'direct' });
    }
  }
  const ragQueries = baselinePlans.filter((b) => b.kind === 'rag').map((b) => normalizeQuestion(b.q.question));
  const allQueries = [...new Set([...plans.flatMap((p) => p.queries), ...ragQueries])];
  // Pretraining must not read about RL-train or test entities, even as distractors: over-fetch and
  // keep only pretrain-split and shared passages.
  const visible = new Set(world.passages.filter((p) => shadow || p.split === 'pretrain' || p.split === 'shared').map((p) => p.id));
  const raw = allQueries.length > 0 ? await retriever.search(allQueries, opts.topk * 8) : [];
  const hits = raw.map((hs) => hs.filter((h) => visible.has(h.id)).slice(0, opts.topk));
  const info = new Map(allQueries.map((q, i) => [q, informationBlock(formatPassages(hits[i]))]));

  for (const { q, mode, queries } of plans) {
    const gold = entity(kb, q.metadata.answerEntity);
    const pool = sameKindPool(kb, gold, shadow);
    const wrong = (): Entity => {
      const others = pool.filter((e) => e.id !== gold.id);
      return rng.pick(others);
    };
    const segments: PretrainSegment[] = [];
    let said: string;
    if (mode === 'guess') {
      said = rng.float() < 1 / pool.length ? gold.name : wrong().name;
      segments.push({ text: think('I know the answer.') + answer(said), injected: false });
    } else {
      for (let i = 0; i < queries.length; i++) {
        const prefix = think(i === 0 ? `I need to search ${queries[i]}.` : `Now I need to search ${queries[i]}.`);
        segments.push({ text: prefix + search(queries[i]), injected: false }, { text: info.get(queries[i])!, injected: true });
      }
      if (mode === 'search_copy') said = rng.pick(q.goldenAnswers);
      else if (mode === 'wrong_span') {
        // A wrong entity of the right kind that the retrieved text mentions, else any.
        const seen = queries.map((x) => info.get(x)!).join(' ');
        const mentioned = pool.filter((e) => e.id !== gold.id && seen.includes(e.name));
        said = (mentioned.length > 0 ? rng.pick(mentioned) : wrong()).name;
      } else {
        const seen = info.get(queries[0])!;
        const mentioned = pool.filter((e) => e.id !== gold.id && seen.includes(e.name));
        said = (mentioned.length > 0 ? rng.pick(mentioned) : wrong()).name;
      }
      // The final thought restates the question, so the answer is predicted right after it (as in RAG's
      // "Question: … Answer:"), not ~250 tokens of retrieved text away: a 1M-parameter model loses the
      // question over that distance and copies whatever span its type prior favours (measured: a
      // policy trained without this answered a city to "Who directed …?").
      segments.push({ text: think(`I found the answer to the question: ${normalizeQuestion(q.question)}`) + answer(said), injected: false });
    }
    out.push({
      prompt: searchR1UserPrompt(q.question),
      segments,
      kind: mode,
      correct: q.goldenAnswers.some((g) => g.toLowerCase() === said.toLowerCase()),
    });
  }
  for (const { q, kind } of baselinePlans) {
    const question = normalizeQuestion(q.question);
    const prompt =
      kind === 'direct'
        ? renderPrompt(NO_CHAT_TEMPLATE, DIRECT_SYSTEM, `Question: ${question}`, 'Answer:')
        : renderPrompt(NO_CHAT_TEMPLATE, ragSystem(formatPassages(hits[allQueries.indexOf(question)])), `Question: ${question}`, 'Answer:');
    // The true answer: RAG's passages hold it for single-hop questions; otherwise (Direct, two-hop
    // RAG) it is a fact the model read about this pretrain-split entity.
    out.push({ prompt, segments: [{ text: ` ${q.goldenAnswers[0]}`, injected: false }], kind, correct: true });
  }
  return rng.shuffle(out);
}
