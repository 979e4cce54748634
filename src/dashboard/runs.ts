// Run folders under the dashboard's roots (docs/dashboard.md). A folder is a run when it holds
//   train: metrics.jsonl, or config.json next to val/, samples/ or checkpoints/  (search-r1 train)
//   eval:  run.json or results.jsonl                                             (search-r1 eval)
//   demo:  summary.json or eval.jsonl                                            (search-r1 demo)
// Runs nest (a demo's training runs sit in its train/<name>/). Ids are made here, from paths found
// by listing the roots; a request names an id, never a path, so nothing outside the roots is
// reachable (symlinks that leave a root are not followed).
import { existsSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { basename, isAbsolute, join, relative, resolve, sep } from 'node:path';

export type RunKind = 'train' | 'eval' | 'demo';

export interface RunInfo {
  /** `r<root index>` + `/<path under the root>` when the run is below the root. */
  id: string;
  name: string;
  kind: RunKind;
  /** Absolute, real path. */
  dir: string;
  /** The id of the run this one is nested in (a demo's training runs), if any. */
  parent?: string;
}

const SKIP = new Set(['checkpoints', 'val', 'samples', 'node_modules', '.git', 'policy', 'critic']);
const MAX_DEPTH = 4;

function has(dir: string, name: string): boolean {
  return existsSync(join(dir, name));
}

export function runKind(dir: string): RunKind | null {
  if (has(dir, 'metrics.jsonl')) return 'train';
  if (has(dir, 'config.json') && (has(dir, 'val') || has(dir, 'samples') || has(dir, 'checkpoints')))
    return 'train';
  if (has(dir, 'run.json') || has(dir, 'results.jsonl')) return 'eval';
  if (has(dir, 'summary.json') || has(dir, 'eval.jsonl')) return 'demo';
  return null;
}

/** True when `p` is `root` or inside it (both real, absolute paths). */
export function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith('..' + sep) && !isAbsolute(rel));
}

/** Every run under the roots, depth-first, parents before children. Missing roots: an error. */
export function discoverRuns(roots: string[]): RunInfo[] {
  const out: RunInfo[] = [];
  roots.forEach((rootArg, ri) => {
    const abs = resolve(rootArg);
    if (!existsSync(abs) || !statSync(abs).isDirectory())
      throw new Error(`${rootArg}: not a directory (the dashboard needs run folders)`);
    const root = realpathSync(abs);
    const walk = (dir: string, depth: number, parent: string | undefined) => {
      const kind = runKind(dir);
      const rel = relative(root, dir).split(sep).join('/');
      const id = rel ? `r${ri}/${rel}` : `r${ri}`;
      let nextParent = parent;
      if (kind) {
        out.push({ id, name: rel || basename(root), kind, dir, ...(parent ? { parent } : {}) });
        nextParent = id;
      }
      if (depth >= MAX_DEPTH) return;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return; // unreadable: not listed
      }
      for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        if (SKIP.has(e.name) || e.name.startsWith('.')) continue;
        let child = join(dir, e.name);
        if (e.isSymbolicLink()) {
          try {
            child = realpathSync(child);
          } catch {
            continue;
          }
          if (!isInside(root, child) || !statSync(child).isDirectory()) continue;
        } else if (!e.isDirectory()) continue;
        walk(child, depth + 1, nextParent);
      }
    };
    walk(root, 0, undefined);
  });
  return out;
}

/**
 * A file of a run, named relative to the run: resolved, checked to stay inside the run folder
 * (after symlinks), else null. The only way the server turns request input into a path.
 */
export function fileInRun(run: RunInfo, rel: string): string | null {
  if (rel.includes('\0')) return null;
  const p = resolve(run.dir, rel);
  if (!isInside(run.dir, p)) return null;
  try {
    const real = realpathSync(p);
    return isInside(run.dir, real) ? real : null;
  } catch {
    return null;
  }
}
