// Trajectory → report view. The segments come from the policy mask (rl/samples.ts, which training
// runs also use for their trajectory files): injected text is marked exactly where the mask is 0.
import type { Tokenizer } from '../../core/tokenizer.ts';
import type { Trajectory } from '../../rollout/types.ts';
import { trajectorySegments } from '../../rl/samples.ts';
import type { TrajectoryView } from './render.ts';

export { trajectorySegments };

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
