// Checkpoints: runs/<name>/checkpoints/step-NNNNNN/{policy/, critic/, state.json}. Written into a
// temp folder and renamed into place, so a folder with that name is always complete; the
// newest K are kept.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Trainer } from '../policy/types.ts';
import type { LoaderState } from './data-loader.ts';

export interface CheckpointState {
  format: 'search-r1-rl-checkpoint';
  version: 1;
  /** Steps completed. */
  step: number;
  seed: number;
  loader: LoaderState;
  consecutiveBadSteps: number;
  /** The resolved config, to refuse resuming a different run. */
  configHash: string;
}

const STEP_RE = /^step-(\d{6,})$/;

export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

export async function saveCheckpoint(
  runDir: string,
  models: { policy: Trainer; critic: Trainer | null },
  state: CheckpointState,
  keepLast: number,
): Promise<string> {
  const root = checkpointsDir(runDir);
  mkdirSync(root, { recursive: true });
  const final = join(root, `step-${String(state.step).padStart(6, '0')}`);
  const tmp = `${final}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await models.policy.saveWeights(join(tmp, 'policy'), { optimizer: true });
  if (models.critic) await models.critic.saveWeights(join(tmp, 'critic'), { optimizer: true });
  writeFileSync(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  // keep-last-K, and sweep temp folders left by killed runs
  for (const name of readdirSync(root))
    if (name.includes('.tmp-')) rmSync(join(root, name), { recursive: true, force: true });
  const steps = listCheckpoints(runDir);
  for (const s of steps.slice(0, Math.max(0, steps.length - keepLast)))
    rmSync(s.dir, { recursive: true, force: true });
  return final;
}

export function listCheckpoints(runDir: string): { step: number; dir: string }[] {
  const root = checkpointsDir(runDir);
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .map((name) => ({ m: STEP_RE.exec(name), name }))
    .filter((x) => x.m && existsSync(join(root, x.name, 'state.json')))
    .map((x) => ({ step: Number(x.m![1]), dir: join(root, x.name) }))
    .sort((a, b) => a.step - b.step);
}

export function latestCheckpoint(runDir: string): { dir: string; state: CheckpointState } | null {
  const all = listCheckpoints(runDir);
  const last = all[all.length - 1];
  if (!last) return null;
  const path = join(last.dir, 'state.json');
  const state = JSON.parse(readFileSync(path, 'utf8')) as CheckpointState;
  if (state.format !== 'search-r1-rl-checkpoint') throw new Error(`${path}: not a search-r1 RL checkpoint`);
  return { dir: last.dir, state };
}

export async function loadCheckpoint(
  dir: string,
  models: { policy: Trainer; critic: Trainer | null },
): Promise<void> {
  await models.policy.loadWeights(join(dir, 'policy'), { optimizer: true });
  if (models.critic) await models.critic.loadWeights(join(dir, 'critic'), { optimizer: true });
}
