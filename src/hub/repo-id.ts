// Hub references as users write them on the command line:
//   Qwen/Qwen2.5-3B-Instruct                     a repo (type from the flag: model or dataset)
//   PeterJinGo/nq_hotpotqa_train@v1              at a branch, tag or commit
//   RUC-NLPIR/FlashRAG_datasets:nq/test.jsonl    one file in it
//   hf://datasets/org/name@rev/path/in/repo      explicit type (models/, datasets/, spaces/)
import { existsSync } from 'node:fs';

export type RepoType = 'model' | 'dataset' | 'space';

export interface HubRef {
  type: RepoType;
  /** `org/name`. */
  name: string;
  /** Branch, tag or 40-hex commit (default `main`). */
  revision: string;
  /** A file inside the repo, or null for the repo itself. */
  path: string | null;
}

const NAME = '[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*';
const SHORT = new RegExp(`^(${NAME})(?:@([^:\\s]+))?(?::(.+))?$`);
const URL_FORM = new RegExp(`^hf://(?:(models|datasets|spaces)/)?(${NAME})(?:@([^/\\s]+))?(?:/(.+))?$`);
const DATA_FILE = /\.(jsonl|json|parquet|gz|tsv|csv|txt)$/i;

/** A 40-hex git commit id. */
export const COMMIT_RE = /^[0-9a-f]{40}$/;

/**
 * Parse `spec` as a Hub reference, or null when it is a local path. A value that exists on disk
 * is always local; `org/file.jsonl` (a data-file name with one slash and no `:`) is taken as a
 * missing local file rather than a repo, so a typo in a path is reported as one.
 */
export function parseHubRef(spec: string, defaultType: RepoType): HubRef | null {
  const url = URL_FORM.exec(spec);
  if (url) {
    const type = url[1] ? (url[1].slice(0, -1) as RepoType) : defaultType;
    return { type, name: url[2]!, revision: url[3] ?? 'main', path: url[4] ?? null };
  }
  if (existsSync(spec)) return null;
  const m = SHORT.exec(spec);
  if (!m) return null;
  if (m[3] === undefined && m[2] === undefined && DATA_FILE.test(m[1]!)) return null;
  return { type: defaultType, name: m[1]!, revision: m[2] ?? 'main', path: m[3] ?? null };
}

export function formatHubRef(r: HubRef): string {
  return `${r.type === 'model' ? '' : `${r.type}s/`}${r.name}@${r.revision}${r.path ? `:${r.path}` : ''}`;
}
