// Command-line values that name Hub repos → local paths in the Hugging Face cache. Each kind of
// flag says what it needs: a model folder, one data file, a whole index folder (docs/hub.md).
import { basename } from 'node:path';
import { hubConfig, type HubConfig } from './config.ts';
import { hubDownload } from './download.ts';
import { HubError } from './http.ts';
import { makeProgress } from './progress.ts';
import { formatHubRef, parseHubRef, type HubRef } from './repo-id.ts';
import { cachedSnapshot, hubSnapshot, listRepo } from './snapshot.ts';
import { join } from 'node:path';

export type HubArgKind = 'model' | 'encoder' | 'gguf' | 'dataset' | 'corpus' | 'index';

/** The files a model folder needs (config, weights, tokenizer, chat template), not every format a repo ships. */
export const MODEL_FILES = ['*.json', '*.safetensors', '*.txt', '*.model', '*.jinja'];
/** An encoder for dense retrieval: the same plus its ONNX export when the repo has one. */
export const ENCODER_FILES = [...MODEL_FILES, 'onnx/model.onnx'];
const DATA_FILE = /\.(parquet|jsonl|jsonl\.gz|json|json\.gz)$/i;

export interface ResolveOptions {
  /** For a dataset repo with several data files: prefer the one whose name starts with this (test, train). */
  preferSplit?: string;
  cfg?: HubConfig;
}

/** The repo's files: from the Hub, or from the cached snapshot when offline. */
async function repoFiles(cfg: HubConfig, ref: HubRef): Promise<string[]> {
  if (cfg.offline) return (await cachedSnapshot(cfg, ref, 'HF_HUB_OFFLINE is set')).files;
  return (await listRepo(cfg, ref)).files;
}

/** Which data file of a dataset repo is meant: the only one, else the preferred split's. */
export function pickDataFile(ref: HubRef, files: string[], preferSplit?: string): string {
  const data = files.filter(
    (f) => DATA_FILE.test(f) && !/(^|\/)(dataset_info|dataset_infos|config)\.json$/.test(f),
  );
  if (data.length === 1) return data[0]!;
  const preferred = preferSplit ? data.filter((f) => basename(f).toLowerCase().startsWith(preferSplit)) : [];
  if (preferred.length === 1) return preferred[0]!;
  const shown = (preferred.length > 1 ? preferred : data).slice(0, 20);
  throw new HubError(
    data.length === 0
      ? `${formatHubRef(ref)}: no data file (parquet, jsonl, json) in the repo`
      : `${formatHubRef(ref)}: ${data.length} data files; name one with ${ref.name}:<file>, e.g. ${ref.name}:${shown[0]} (files: ${shown.join(', ')}${data.length > shown.length ? ', …' : ''})`,
  );
}

/**
 * `value` as a local path: unchanged when it is one (or is not a Hub id), else the Hub download
 * for this kind of argument: a model/encoder folder, a data file, or an index folder.
 */
export async function resolveHubArg(
  kind: HubArgKind,
  value: string,
  opts: ResolveOptions = {},
): Promise<string> {
  const defaultType = kind === 'model' || kind === 'encoder' || kind === 'gguf' ? 'model' : 'dataset';
  const ref = parseHubRef(value, defaultType);
  if (ref === null) return value;
  const cfg = opts.cfg ?? hubConfig();
  const progress = makeProgress(cfg.progress);
  if (ref.path !== null && kind !== 'index')
    return hubDownload(cfg, { ...ref, path: ref.path }, { progress });
  switch (kind) {
    case 'model':
    case 'encoder':
      return (
        await hubSnapshot(cfg, ref, { allow: kind === 'model' ? MODEL_FILES : ENCODER_FILES, progress })
      ).dir;
    case 'index': {
      // A folder inside the repo (`org/name:bm25`) or the whole repo.
      const snap = await hubSnapshot(cfg, ref, {
        ...(ref.path ? { allow: [`${ref.path}/*`] } : {}),
        progress,
      });
      return ref.path ? join(snap.dir, ref.path) : snap.dir;
    }
    case 'gguf':
    case 'dataset':
    case 'corpus': {
      const files = await repoFiles(cfg, ref);
      const path =
        kind === 'gguf'
          ? (() => {
              const g = files.filter((f) => f.endsWith('.gguf'));
              if (g.length !== 1)
                throw new HubError(
                  `${formatHubRef(ref)}: ${g.length} .gguf files; name one with ${ref.name}:<file> (${g.slice(0, 10).join(', ')})`,
                );
              return g[0]!;
            })()
          : pickDataFile(ref, files, opts.preferSplit);
      return hubDownload(cfg, { ...ref, path }, { progress });
    }
  }
}
