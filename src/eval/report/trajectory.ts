// Trajectory → report view: consecutive tokens with the same policy-mask value form one segment,
// so injected information blocks and invalid-action messages are marked exactly where the loss
// mask is 0 (the mask is the truth; the text is decoded per run of tokens).
import type { Tokenizer } from '../../policy/types.ts';
import type { Trajectory } from '../../rollout/types.ts';
import type { TrajectorySegment, TrajectoryView } from './render.ts';

export function trajectorySegments(
  traj: Pick<Trajectory, 'responseTokens' | 'policyMask'>,
  tokenizer: Pick<Tokenizer, 'decode'>,
): TrajectorySegment[] {
  const segs: TrajectorySegment[] = [];
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

export function trajectoryView(
  traj: Trajectory,
  tokenizer: Pick<Tokenizer, 'decode'>,
  opts: { title: string; meta?: Record<string, string | number | boolean>; showPrompt?: boolean },
): TrajectoryView {
  return {
    title: opts.title,
    prompt: opts.showPrompt ? tokenizer.decode(traj.promptTokens) : undefined,
    segments: trajectorySegments(traj, tokenizer),
    meta: { searches: traj.numSearches, turns: traj.numTurns, finish: traj.finish, ...opts.meta },
  };
}
