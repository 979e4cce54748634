// Checkpoints: runs/<name>/checkpoints/step-NNNNNN/{policy/, critic/, state.json, manifest.json}.
// Written into a temp folder and renamed into place, so a folder with that name is always
// complete; the newest K are kept. manifest.json (written last) lists every file with its size
// and sha256, so a checkpoint truncated or corrupted afterwards (a bad disk, a copy cut short) is
// caught on --resume instead of resuming from garbage. A write that fails (disk full, no
// permission) removes its temp folder and leaves the previous checkpoints as they were.
// Behaviour and recovery: docs/faults.md.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { Trainer } from '../core/trainer.ts';
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

export interface CheckpointManifest {
  format: 'search-r1-checkpoint-manifest';
  version: 1;
  /** Relative path (with /) → size and sha256 of every other file in the checkpoint folder. */
  files: Record<string, { bytes: number; sha256: string }>;
}

const STEP_RE = /^step-(\d{6,})$/;
export const MANIFEST = 'manifest.json';

export function checkpointsDir(runDir: string): string {
  return join(runDir, 'checkpoints');
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/** A checkpoint write that failed; the previous checkpoints are untouched (the message says which). */
export class CheckpointWriteError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly previous: string | null,
  ) {
    super(message);
    this.name = 'CheckpointWriteError';
  }
}

/** The newest checkpoint on --resume failed verification; the message names the previous good one. */
export class CorruptCheckpointError extends Error {
  constructor(
    message: string,
    readonly dir: string,
    readonly previous: string | null,
  ) {
    super(message);
    this.name = 'CorruptCheckpointError';
  }
}

function listFiles(root: string, dir = root): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(root, p));
    else out.push(relative(root, p).split('\\').join('/'));
  }
  return out.sort();
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The manifest of every file under `dir` (manifest.json itself excluded). */
export function buildManifest(dir: string): CheckpointManifest {
  const files: CheckpointManifest['files'] = {};
  for (const rel of listFiles(dir)) {
    if (rel === MANIFEST) continue;
    const p = join(dir, rel);
    files[rel] = { bytes: statSync(p).size, sha256: sha256File(p) };
  }
  return { format: 'search-r1-checkpoint-manifest', version: 1, files };
}

/**
 * What is wrong with a checkpoint folder: missing, truncated or changed files against its
 * manifest (empty: it is intact). A folder without a manifest (written before checksums) is
 * reported as `legacy` and trusted as before.
 */
export function verifyCheckpoint(dir: string): { problems: string[]; legacy: boolean } {
  const mpath = join(dir, MANIFEST);
  if (!existsSync(mpath)) {
    return existsSync(join(dir, 'state.json'))
      ? { problems: [], legacy: true }
      : { problems: ['state.json is missing'], legacy: true };
  }
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(mpath, 'utf8')) as CheckpointManifest;
    if (m.format !== 'search-r1-checkpoint-manifest' || typeof m.files !== 'object' || m.files === null)
      return { problems: [`${MANIFEST} is not a checkpoint manifest`], legacy: false };
  } catch (e) {
    return { problems: [`${MANIFEST} is unreadable: ${(e as Error).message}`], legacy: false };
  }
  const problems: string[] = [];
  for (const [rel, want] of Object.entries(m.files)) {
    const p = join(dir, rel);
    if (!existsSync(p)) {
      problems.push(`${rel} is missing`);
      continue;
    }
    const bytes = statSync(p).size;
    if (bytes !== want.bytes)
      problems.push(`${rel} has ${bytes} bytes, the manifest says ${want.bytes} (truncated?)`);
    else if (sha256File(p) !== want.sha256) problems.push(`${rel} does not match its sha256 (corrupted)`);
  }
  if (!('state.json' in m.files)) problems.push('the manifest lists no state.json');
  return { problems, legacy: false };
}

export async function saveCheckpoint(
  runDir: string,
  models: { policy: Trainer; critic: Trainer | null },
  state: CheckpointState,
  keepLast: number,
): Promise<string> {
  const root = checkpointsDir(runDir);
  const final = join(root, checkpointName(state.step));
  const tmp = `${final}.tmp-${process.pid}`;
  let previous: { dir: string } | undefined;
  try {
    previous = listCheckpoints(runDir)
      .filter((c) => c.step !== state.step)
      .pop();
    mkdirSync(root, { recursive: true });
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await models.policy.saveWeights(join(tmp, 'policy'), { optimizer: true });
    if (models.critic) await models.critic.saveWeights(join(tmp, 'critic'), { optimizer: true });
    writeFileSync(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
    writeFileSync(join(tmp, MANIFEST), JSON.stringify(buildManifest(tmp), null, 2));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    try {
      rmSync(tmp, { recursive: true, force: true });
    } catch {
      /* the disk may refuse even this; the next save or resume sweeps it */
    }
    const err = e as NodeJS.ErrnoException;
    throw new CheckpointWriteError(
      `the checkpoint of step ${state.step} could not be written to ${final}: ${err.message}; ` +
        (previous ? `the previous checkpoint ${previous.dir} is intact` : 'there is no earlier checkpoint'),
      state.step,
      previous?.dir ?? null,
    );
  }
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

function readState(dir: string): CheckpointState {
  const path = join(dir, 'state.json');
  let state: CheckpointState;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as CheckpointState;
  } catch (e) {
    throw new Error(`${path}: unreadable checkpoint state: ${(e as Error).message}`);
  }
  if (state.format !== 'search-r1-rl-checkpoint') throw new Error(`${path}: not a search-r1 RL checkpoint`);
  return state;
}

/** The newest checkpoint, unverified (for reading the result of a finished run). */
export function latestCheckpoint(runDir: string): { dir: string; state: CheckpointState } | null {
  const all = listCheckpoints(runDir);
  const last = all[all.length - 1];
  return last ? { dir: last.dir, state: readState(last.dir) } : null;
}

/**
 * The checkpoint to resume from, verified against its manifest. Default: the newest; if that one
 * is corrupt, a CorruptCheckpointError names it, what is wrong, and the newest intact one to pass
 * as `from` (`--resume-from step-NNNNNN`). With `from` (a step number, a `step-NNNNNN` name or a
 * folder), that checkpoint; newer checkpoints that fail verification are then renamed
 * `step-NNNNNN.corrupt-<time>` (kept for inspection, never picked again).
 */
export function resumeCheckpoint(
  runDir: string,
  from?: string,
  log: (line: string) => void = () => {},
): { dir: string; state: CheckpointState } | null {
  const all = listCheckpoints(runDir);
  if (from === undefined) {
    const last = all[all.length - 1];
    if (!last) return null;
    const v = verifyCheckpoint(last.dir);
    if (v.problems.length > 0) {
      const previous = all
        .slice(0, -1)
        .reverse()
        .find((c) => verifyCheckpoint(c.dir).problems.length === 0);
      throw new CorruptCheckpointError(
        `${last.dir} is damaged: ${v.problems.join('; ')}. ` +
          (previous
            ? `The previous checkpoint ${previous.dir} is intact: resume from it with --resume-from ${basename(previous.dir)}`
            : 'No earlier intact checkpoint exists: start the run again without --resume (in a new --run-dir)'),
        last.dir,
        previous?.dir ?? null,
      );
    }
    if (v.legacy) log(`${last.dir}: no ${MANIFEST} (written before checksums): not verified`);
    return { dir: last.dir, state: readState(last.dir) };
  }
  const wanted = /^\d+$/.test(from) ? checkpointName(Number(from)) : basename(from.replace(/\/+$/, ''));
  const chosen = all.find((c) => basename(c.dir) === wanted);
  if (!chosen)
    throw new Error(
      `--resume-from ${from}: no checkpoint ${wanted} in ${checkpointsDir(runDir)} (there are: ${all.map((c) => basename(c.dir)).join(', ') || 'none'})`,
    );
  const v = verifyCheckpoint(chosen.dir);
  if (v.problems.length > 0)
    throw new CorruptCheckpointError(
      `${chosen.dir} is damaged too: ${v.problems.join('; ')}`,
      chosen.dir,
      null,
    );
  for (const c of all)
    if (c.step > chosen.step && verifyCheckpoint(c.dir).problems.length > 0) {
      const aside = `${c.dir}.corrupt-${Date.now()}`;
      renameSync(c.dir, aside);
      log(`${c.dir}: damaged, set aside as ${aside}`);
    }
  return { dir: chosen.dir, state: readState(chosen.dir) };
}

export async function loadCheckpoint(
  dir: string,
  models: { policy: Trainer; critic: Trainer | null },
): Promise<void> {
  await models.policy.loadWeights(join(dir, 'policy'), { optimizer: true });
  if (models.critic) await models.critic.loadWeights(join(dir, 'critic'), { optimizer: true });
}
