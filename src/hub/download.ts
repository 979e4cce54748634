// One file from the Hub into the standard cache layout, the one Python's huggingface_hub uses,
// so files either side fetched are shared (docs/hub.md):
//
//   <cache>/models--org--name/blobs/<etag>                     the bytes (etag = sha256 for LFS files,
//                                                              git blob sha1 for small ones)
//   <cache>/models--org--name/snapshots/<commit>/<path>        relative symlink to the blob
//   <cache>/models--org--name/refs/<revision>                  the commit the revision pointed to
//
// The download goes to blobs/<etag>.incomplete and resumes from its length with a Range request
// (after a cut connection, a retry, or a new run); the finished bytes are checked against the
// etag (sha256 or git sha1) and the announced size before they become the blob.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { getRepoFolderName } from '@huggingface/hub';
import type { HubConfig } from './config.ts';
import { backoffMs, fetchWithRetry, HubError, sleep, statusError } from './http.ts';
import { silentProgress, type Progress } from './progress.ts';
import { COMMIT_RE, formatHubRef, type HubRef, type RepoType } from './repo-id.ts';

/** The cache folder of a repo. */
export function repoCacheDir(cfg: HubConfig, type: RepoType, name: string): string {
  return join(cfg.cacheDir, getRepoFolderName({ type, name }));
}

/** `https://…/datasets/org/name/resolve/<rev>/<path>` (models have no type prefix). */
export function resolveUrl(
  cfg: HubConfig,
  type: RepoType,
  name: string,
  revision: string,
  path: string,
): string {
  const prefix = type === 'model' ? '' : `${type}s/`;
  const file = path.split('/').map(encodeURIComponent).join('/');
  return `${cfg.endpoint}/${prefix}${name}/resolve/${encodeURIComponent(revision)}/${file}`;
}

/** Python's _normalize_etag: drop a weak `W/` prefix and the quotes. */
export function normalizeEtag(etag: string | null): string | null {
  if (etag === null) return null;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export interface FileMetadata {
  commit: string;
  etag: string;
  size: number | null;
  /** Where the bytes are (the CDN location for LFS files, else the resolve URL). */
  location: string;
}

/** HEAD on the resolve URL, as Python's get_hf_file_metadata: commit, etag, size, location. */
export async function fileMetadata(cfg: HubConfig, ref: HubRef & { path: string }): Promise<FileMetadata> {
  let url = resolveUrl(cfg, ref.type, ref.name, ref.revision, ref.path);
  const what = formatHubRef(ref);
  for (let hop = 0; hop < 5; hop++) {
    const res = await fetchWithRetry(cfg, url, {
      method: 'HEAD',
      redirect: 'manual',
      headers: { 'accept-encoding': 'identity' },
    });
    const location = res.headers.get('location');
    const commit = res.headers.get('x-repo-commit');
    // A relative redirect without Hub headers is a renamed repo: follow it. An absolute one
    // (with the headers) points at the LFS storage: that is where the GET goes.
    if (res.status >= 300 && res.status < 400 && location && commit === null) {
      url = new URL(location, url).toString();
      continue;
    }
    if (!(res.status >= 200 && res.status < 400)) throw statusError(res, what, url);
    const etag = normalizeEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag'));
    if (commit === null || etag === null) {
      throw new HubError(
        `${what}: the server sent no ${commit === null ? 'X-Repo-Commit' : 'ETag'} header (is ${cfg.endpoint} a Hugging Face Hub endpoint?)`,
        res.status,
        url,
      );
    }
    const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
    return {
      commit,
      etag,
      size: sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null,
      location: location ? new URL(location, url).toString() : url,
    };
  }
  throw new HubError(`${what}: too many redirects`, null, url);
}

/** The checksum an etag stands for: sha256 (LFS), git blob sha1 (small files), or none (e.g. xet hashes). */
function hasherFor(etag: string, size: number | null): Hash | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return createHash('sha256');
  if (/^[0-9a-f]{40}$/.test(etag) && size !== null) return createHash('sha1').update(`blob ${size}\0`);
  return null;
}

async function hashFile(h: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
}

const fileSize = async (f: string) => (existsSync(f) ? (await stat(f)).size : 0);

/**
 * Fetch `meta.location` into `blobPath`, resuming a `.incomplete` file, checking size and checksum.
 * A checksum mismatch removes the partial file and fails (a second run starts clean).
 */
export async function downloadBlob(
  cfg: HubConfig,
  meta: FileMetadata,
  blobPath: string,
  label: string,
  progress: Progress = silentProgress,
): Promise<void> {
  const incomplete = `${blobPath}.incomplete`;
  await mkdir(dirname(blobPath), { recursive: true });
  let have = await fileSize(incomplete);
  if (meta.size !== null && have > meta.size) {
    await rm(incomplete, { force: true });
    have = 0;
  }
  progress.start(label, meta.size, have);
  try {
    for (let attempt = 0; ; attempt++) {
      if (meta.size !== null && have === meta.size) break;
      const res = await fetchWithRetry(
        cfg,
        meta.location,
        { headers: { 'accept-encoding': 'identity', ...(have > 0 ? { range: `bytes=${have}-` } : {}) } },
        (why, ms) => progress.note(`${why}; retrying in ${ms} ms`),
      );
      if (res.status === 416 && meta.size !== null && have >= meta.size) break;
      if (res.status !== 200 && res.status !== 206) throw statusError(res, label, meta.location);
      if (res.status === 200 && have > 0) {
        // The server ignored the Range: start over.
        have = 0;
        await rm(incomplete, { force: true });
      }
      const out = createWriteStream(incomplete, { flags: 'a' });
      const closed = new Promise<void>((resolve, reject) => {
        out.on('close', resolve);
        out.on('error', reject);
      });
      let cut: Error | null = null;
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
          have += chunk.length;
          progress.advance(chunk.length);
        }
      } catch (e) {
        cut = e as Error; // connection dropped mid-body: keep what arrived, resume
      } finally {
        out.end();
        await closed;
      }
      if (cut === null && (meta.size === null || have >= meta.size)) break;
      if (attempt >= cfg.retries)
        throw new HubError(
          `${label}: download stopped at ${have} of ${meta.size ?? '?'} bytes after ${attempt + 1} attempts${cut ? ` (${cut.message})` : ''}; run again to resume`,
        );
      const wait = backoffMs(cfg, attempt);
      progress.note(
        `connection ended at ${have} bytes${cut ? ` (${cut.message})` : ''}; resuming in ${wait} ms`,
      );
      await sleep(wait);
    }
  } finally {
    progress.stop();
  }
  const size = await fileSize(incomplete);
  if (meta.size !== null && size !== meta.size) {
    await rm(incomplete, { force: true });
    throw new HubError(
      `${label}: got ${size} bytes, the Hub announced ${meta.size}; the partial file was removed`,
    );
  }
  const h = hasherFor(meta.etag, meta.size ?? size);
  if (h) {
    await hashFile(h, incomplete);
    const got = h.digest('hex');
    if (got !== meta.etag) {
      await rm(incomplete, { force: true });
      throw new HubError(
        `${label}: corrupted download: ${meta.etag.length === 64 ? 'sha256' : 'git sha1'} ${got}, expected ${meta.etag}; the file was removed, run again`,
      );
    }
  }
  await rename(incomplete, blobPath);
}

/** snapshots/<commit>/<path> → ../../blobs/<etag> (relative, as Python); a copy where symlinks fail. */
async function linkPointer(blobPath: string, pointer: string): Promise<void> {
  await mkdir(dirname(pointer), { recursive: true });
  const target = relative(dirname(pointer), blobPath);
  try {
    const st = await lstat(pointer);
    if (st.isSymbolicLink() && (await readlink(pointer)) === target) return;
    await rm(pointer, { force: true });
  } catch {
    /* absent */
  }
  try {
    await symlink(target, pointer);
  } catch {
    await copyFile(blobPath, pointer);
  }
}

/** refs/<revision> = commit (nothing for a commit revision). */
export async function writeRef(repoDir: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const file = join(repoDir, 'refs', revision);
  if (existsSync(file) && (await readFile(file, 'utf8')).trim() === commit) return;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, commit);
}

/** The commit a revision points to in the cache (refs/<revision>), or the revision when it is a commit. */
export async function cachedCommit(cfg: HubConfig, ref: HubRef): Promise<string | null> {
  if (COMMIT_RE.test(ref.revision)) return ref.revision;
  const file = join(repoCacheDir(cfg, ref.type, ref.name), 'refs', ref.revision);
  return existsSync(file) ? (await readFile(file, 'utf8')).trim() : null;
}

/** A file of `ref` already in the cache (offline lookup), or null. */
export async function cachedFile(cfg: HubConfig, ref: HubRef & { path: string }): Promise<string | null> {
  const commit = await cachedCommit(cfg, ref);
  if (commit === null) return null;
  const p = join(repoCacheDir(cfg, ref.type, ref.name), 'snapshots', commit, ref.path);
  return existsSync(p) ? p : null;
}

export interface DownloadOptions {
  progress?: Progress;
}

/**
 * The local path of one Hub file (snapshots/<commit>/<path>), downloading it when the cache does
 * not hold it. Offline (HF_HUB_OFFLINE) or when the Hub cannot be reached, the cached copy is
 * used, or the error says it is missing.
 */
export async function hubDownload(
  cfg: HubConfig,
  ref: HubRef & { path: string },
  opts: DownloadOptions = {},
): Promise<string> {
  const what = formatHubRef(ref);
  if (cfg.offline) {
    const p = await cachedFile(cfg, ref);
    if (p) return p;
    throw new HubError(`${what}: not in the cache (${cfg.cacheDir}) and HF_HUB_OFFLINE is set`);
  }
  let meta: FileMetadata;
  try {
    meta = await fileMetadata(cfg, ref);
  } catch (e) {
    if (e instanceof HubError) throw e;
    // The Hub is unreachable: fall back to the cache, as Python's hf_hub_download does.
    const p = await cachedFile(cfg, ref);
    if (p) return p;
    throw new HubError(
      `${what}: cannot reach ${cfg.endpoint} (${(e as Error).message}) and the file is not cached`,
    );
  }
  const repoDir = repoCacheDir(cfg, ref.type, ref.name);
  const pointer = join(repoDir, 'snapshots', meta.commit, ref.path);
  const blobPath = join(repoDir, 'blobs', meta.etag);
  await writeRef(repoDir, ref.revision, meta.commit);
  if (existsSync(pointer) && existsSync(blobPath)) return pointer;
  if (!existsSync(blobPath)) await downloadBlob(cfg, meta, blobPath, what, opts.progress ?? silentProgress);
  await linkPointer(blobPath, pointer);
  return pointer;
}
