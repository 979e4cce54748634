// Evaluation of a policy on world questions, for the demo's table, through the eval harness's
// methods (Direct, RAG, Search-R1 and R1 — the latter two run the training rollout loop, greedy),
// so the demo and `search-r1 eval` score the same way. EM per question type and overall.
import type { Sampler } from '../core/sampler.ts';
import type { Retriever } from '../core/retriever.ts';
import { exactMatch } from '../protocol/rewards.ts';
import type { Method, MethodOptions } from '../eval/types.ts';
import { DEFAULT_METHOD_OPTIONS } from '../eval/types.ts';
import type { TrajectorySegment } from '../eval/report/render.ts';
import type { QuestionType, WorldQuestion } from '../world/questions.ts';

export interface EvalRow {
  id: string;
  type: QuestionType;
  relation: string;
  question: string;
  golds: string[];
  prediction: string;
  em: number;
  numSearches: number;
  prompt: string;
  segments: TrajectorySegment[];
}

export interface EmTable {
  single_hop: number;
  two_hop: number;
  overall: number;
}

export function emByType(rows: readonly EvalRow[]): EmTable {
  const mean = (xs: EvalRow[]) => (xs.length === 0 ? 0 : xs.reduce((a, r) => a + r.em, 0) / xs.length);
  return {
    single_hop: mean(rows.filter((r) => r.type === 'single_hop')),
    two_hop: mean(rows.filter((r) => r.type === 'two_hop')),
    overall: mean([...rows]),
  };
}

/** EM per relation, relations in first-seen order. */
export function emByRelation(rows: readonly EvalRow[]): Record<string, number> {
  const sum: Record<string, [number, number]> = {};
  for (const r of rows) {
    const acc = (sum[r.relation] ??= [0, 0]);
    acc[0] += r.em;
    acc[1] += 1;
  }
  return Object.fromEntries(Object.entries(sum).map(([k, [s, n]]) => [k, s / n]));
}

/** A baseline through the eval harness's Method (Direct, RAG, ...). */
export async function evalMethod(
  method: Method,
  sampler: Sampler,
  retriever: Retriever | null,
  qs: readonly WorldQuestion[],
  opts: Partial<MethodOptions> & { chunk: number; onProgress?: (done: number, total: number) => void },
): Promise<EvalRow[]> {
  const rows: EvalRow[] = [];
  const mopts: MethodOptions = { ...DEFAULT_METHOD_OPTIONS, ...opts };
  for (let i = 0; i < qs.length; i += opts.chunk) {
    const part = qs.slice(i, i + opts.chunk);
    const outs = await method.run([...part], { sampler, retriever, opts: mopts });
    outs.forEach((o, k) => {
      const q = part[k];
      rows.push({
        id: q.id,
        type: q.metadata.type,
        relation: q.metadata.relation,
        question: q.question,
        golds: q.goldenAnswers,
        prediction: o.prediction,
        em: exactMatch(o.prediction, q.goldenAnswers),
        numSearches: o.numSearches,
        prompt: o.prompt,
        segments: o.segments,
      });
    });
    opts.onProgress?.(Math.min(qs.length, i + opts.chunk), qs.length);
  }
  return rows;
}

/** A stratified, seeded-order subset: the first k of each type in file order (already shuffled). */
export function evalSubset(qs: readonly WorldQuestion[], perType: number): WorldQuestion[] {
  const single = qs.filter((q) => q.metadata.type === 'single_hop').slice(0, perType);
  const two = qs.filter((q) => q.metadata.type === 'two_hop').slice(0, perType);
  return [...single, ...two];
}
