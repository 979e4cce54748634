// A whole repo (or the files of it matching some patterns) at one commit: the file list comes
// from the Hub's repo-info API through @huggingface/hub (modelInfo / datasetInfo), the bytes from
// hubDownload, every file pinned to the commit the revision resolved to.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { datasetInfo, globMatch, HubApiError, modelInfo } from '@huggingface/hub';
import type { HubConfig } from './config.ts';
import { cachedCommit, hubDownload, repoCacheDir, writeRef, type DownloadOptions } from './download.ts';
import { HubError } from './http.ts';
import { formatHubRef, type HubRef } from './repo-id.ts';

export interface RepoListing {
  commit: string;
  files: string[];
}

/** A fetch that retries 429/5xx like ours, for the library's calls. */
function libraryFetch(cfg: HubConfig): typeof fetch {
  return async (input, init) => {
    for (let attempt = 0; ; attempt++) {
      const res = await cfg.fetch(input, init);
      if ((res.status !== 429 && res.status < 500) || attempt >= cfg.retries) return res;
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, Math.min(500 * 2 ** attempt, cfg.maxBackoffMs)));
    }
  };
}

/** The commit a revision points to and the repo's file paths (needs the network). */
export async function listRepo(cfg: HubConfig, ref: HubRef): Promise<RepoListing> {
  const common = {
    name: ref.name,
    revision: ref.revision,
    hubUrl: cfg.endpoint,
    fetch: libraryFetch(cfg),
    ...(cfg.token ? { accessToken: cfg.token } : {}),
  };
  try {
    if (ref.type === 'model') {
      const info = await modelInfo({ ...common, additionalFields: ['sha', 'filePaths'] });
      return { commit: String(info.sha), files: info.filePaths ?? [] };
    }
    if (ref.type === 'dataset') {
      // `siblings` is a valid expand key of the datasets API that the library's types leave out.
      const fields = ['sha', 'siblings'] as unknown as 'sha'[];
      const info = (await datasetInfo({ ...common, additionalFields: fields })) as unknown as {
        sha?: string;
        siblings?: { rfilename: string }[];
      };
      return { commit: String(info.sha), files: (info.siblings ?? []).map((s) => s.rfilename) };
    }
  } catch (e) {
    if (e instanceof HubApiError) {
      const s = e.statusCode;
      const why =
        s === 401 || s === 403
          ? 'access denied; a gated or private repo needs a token: set HF_TOKEN'
          : s === 404
            ? 'not found; check the id, its type (model or dataset) and the revision'
            : s === 429
              ? 'rate limited by the Hub (HTTP 429), retries exhausted'
              : e.message;
      throw new HubError(`${formatHubRef(ref)}: ${why} (HTTP ${s})`, s, e.url);
    }
    throw e;
  }
  throw new HubError(`${formatHubRef(ref)}: ${ref.type} repos are not supported`);
}

async function walk(dir: string, root = dir): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, root)));
    else out.push(relative(root, p));
  }
  return out.sort();
}

export interface SnapshotOptions extends DownloadOptions {
  /** fnmatch-style patterns (`*.json`, `onnx/*`): only matching files; default all. */
  allow?: string[];
}

export interface Snapshot {
  /** snapshots/<commit>: the repo's files as a folder. */
  dir: string;
  commit: string;
  files: string[];
}

/** The cached snapshot of ref's revision (all its files), or an error ending in `why`. */
export async function cachedSnapshot(cfg: HubConfig, ref: HubRef, why: string): Promise<Snapshot> {
  const commit = await cachedCommit(cfg, ref);
  const dir = commit ? join(repoCacheDir(cfg, ref.type, ref.name), 'snapshots', commit) : null;
  if (!commit || !dir || !existsSync(dir))
    throw new HubError(`${formatHubRef(ref)}: not in the cache (${cfg.cacheDir}) and ${why}`);
  return { dir, commit, files: await walk(dir) };
}

const matches = (file: string, allow?: string[]) => !allow || allow.some((p) => globMatch(p, file));

/**
 * Download the (matching) files of a repo at one commit into the cache; returns the snapshot
 * folder. Offline, the cached snapshot of the revision is returned as it is.
 */
export async function hubSnapshot(
  cfg: HubConfig,
  ref: HubRef,
  opts: SnapshotOptions = {},
): Promise<Snapshot> {
  const offlineSnapshot = async (why: string): Promise<Snapshot> => {
    const snap = await cachedSnapshot(cfg, ref, why);
    return { ...snap, files: snap.files.filter((f) => matches(f, opts.allow)) };
  };
  if (cfg.offline) return offlineSnapshot('HF_HUB_OFFLINE is set');
  let listing: RepoListing;
  try {
    listing = await listRepo(cfg, ref);
  } catch (e) {
    if (e instanceof HubError) throw e;
    return offlineSnapshot(`the Hub cannot be reached (${(e as Error).message})`);
  }
  const files = listing.files.filter((f) => matches(f, opts.allow));
  if (files.length === 0)
    throw new HubError(
      `${formatHubRef(ref)}: no file matches ${opts.allow?.join(', ')} (the repo has: ${listing.files.slice(0, 12).join(', ')}${listing.files.length > 12 ? ', …' : ''})`,
    );
  // Pinned to the commit so every file comes from the same one; refs/<revision> records it.
  for (const path of files) await hubDownload(cfg, { ...ref, revision: listing.commit, path }, opts);
  await writeRef(repoCacheDir(cfg, ref.type, ref.name), ref.revision, listing.commit);
  return {
    dir: join(repoCacheDir(cfg, ref.type, ref.name), 'snapshots', listing.commit),
    commit: listing.commit,
    files,
  };
}
