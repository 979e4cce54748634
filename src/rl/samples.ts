// Trajectory samples of a training run, for the dashboard's trajectory browser (docs/dashboard.md):
//   val/step-NNNNNN.jsonl      every validation question of that step (greedy)
//   samples/step-NNNNNN.jsonl  the first ROLLOUT_SAMPLES_PER_STEP training rollouts of that step
// One JSON line per trajectory: the scores, and the response as segments, where consecutive tokens
// with the same policy-mask value form one segment, so what the environment injected (masked from
// the loss) is marked exactly where the mask is 0 — the mask is the truth, the text is decoded per run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tokenizer } from '../core/tokenizer.ts';
import type { QaExample } from '../core/qa.ts';
import type { Trajectory } from '../rollout/types.ts';

/** Bounded: a long run writes this many rollouts per step, not the whole batch. */
export const ROLLOUT_SAMPLES_PER_STEP = 16;

export interface MaskSegment {
  text: string;
  /** true: the environment wrote it (information block, invalid-action message); masked from the loss. */
  injected: boolean;
}

export function trajectorySegments(
  traj: Pick<Trajectory, 'responseTokens' | 'policyMask'>,
  tokenizer: Pick<Tokenizer, 'decode'>,
): MaskSegment[] {
  const segs: MaskSegment[] = [];
  let start = 0;
  const n = traj.responseTokens.length;
  for (let i = 1; i <= n; i++) {
    if (i === n || traj.policyMask[i] !== traj.policyMask[start]) {
      segs.push({
        text: tokenizer.decode(traj.responseTokens.slice(start, i)),
        injected: traj.policyMask[start] === 0,
      });
      start = i;
    }
  }
  return segs;
}

/** One line of val/step-N.jsonl or samples/step-N.jsonl. */
export interface SampleLine {
  id: string;
  dataSource: string;
  question: string;
  golden: string[];
  response: string;
  answer: string | null;
  score: number;
  em: number;
  searches: number;
  turns: number;
  finish: string;
  /** Which of the prompt's n samples (rollouts; 0 for validation). */
  sample: number;
  segments: MaskSegment[];
}

export function sampleLine(
  t: Trajectory,
  ex: QaExample,
  score: number,
  em: number,
  tok: Pick<Tokenizer, 'decode'>,
): SampleLine {
  return {
    id: ex.id,
    dataSource: ex.dataSource,
    question: ex.question,
    golden: ex.goldenAnswers,
    response: t.responseText,
    answer: t.answer,
    score,
    em,
    searches: t.numSearches,
    turns: t.numTurns,
    finish: t.finish,
    sample: t.sampleIndex,
    segments: trajectorySegments(t, tok),
  };
}

export const stepFileName = (step: number) => `step-${String(step).padStart(6, '0')}.jsonl`;

/** Writes samples/step-N.jsonl: the first `max` rollouts of a training step. */
export function writeRolloutSamples(
  runDir: string,
  step: number,
  rows: { traj: Trajectory; example: QaExample; score: number; em: number }[],
  tok: Pick<Tokenizer, 'decode'>,
  max = ROLLOUT_SAMPLES_PER_STEP,
): void {
  const dir = join(runDir, 'samples');
  mkdirSync(dir, { recursive: true });
  const lines = rows
    .slice(0, max)
    .map((r) => JSON.stringify(sampleLine(r.traj, r.example, r.score, r.em, tok)));
  writeFileSync(join(dir, stepFileName(step)), lines.map((l) => l + '\n').join(''));
}
