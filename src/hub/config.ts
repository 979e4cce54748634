// Where the Hub is and how we talk to it, from the same environment variables the Python
// huggingface_hub library reads (so one setting serves both): docs/hub.md.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';

export interface HubConfig {
  /** Base URL, no trailing slash (HF_ENDPOINT, default https://huggingface.co). */
  endpoint: string;
  /** Bearer token (HF_TOKEN, else the token file huggingface-cli login writes), or null. */
  token: string | null;
  /** HF_HUB_OFFLINE: never touch the network, serve from the cache or fail saying so. */
  offline: boolean;
  /** The hub cache folder: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir: string;
  /** Retries on 429, 5xx and dropped connections (each resumes where the bytes stopped). */
  retries: number;
  /** Cap on one wait between retries, ms (Retry-After is honoured up to it). */
  maxBackoffMs: number;
  /** Progress lines/bars on stderr (default: on when stderr is a terminal). */
  progress: boolean;
  /** fetch to use (tests and proxies); default globalThis.fetch. */
  fetch: typeof fetch;
}

const TRUE = new Set(['1', 'true', 'yes', 'on']);

/** Python's constants.py semantics: HF_HUB_OFFLINE in {1, true, yes, on}, case-insensitive. */
export function envFlag(v: string | undefined): boolean {
  return v !== undefined && TRUE.has(v.trim().toLowerCase());
}

function hfHome(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CACHE_HOME ?? join(env.HOME ?? '.', '.cache');
  return env.HF_HOME ?? join(xdg, 'huggingface');
}

function tokenFromEnv(env: NodeJS.ProcessEnv): string | null {
  const t = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (t !== undefined && t.trim() !== '') return t.trim();
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  if (existsSync(file)) {
    const s = readFileSync(file, 'utf8').trim();
    if (s !== '') return s;
  }
  return null;
}

/** The configuration from `env` (default process.env), with `overrides` on top. */
export function hubConfig(
  overrides: Partial<HubConfig> = {},
  env: NodeJS.ProcessEnv = process.env,
): HubConfig {
  // getHFHubCachePath reads process.env; a different env (tests) is resolved the same way here.
  const cacheDir =
    env === process.env
      ? getHFHubCachePath()
      : (env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome(env), 'hub'));
  return {
    endpoint: (env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    token: tokenFromEnv(env),
    offline: envFlag(env.HF_HUB_OFFLINE),
    cacheDir,
    retries: 5,
    maxBackoffMs: 30_000,
    progress: process.stderr.isTTY === true,
    fetch: globalThis.fetch,
    ...overrides,
  };
}
