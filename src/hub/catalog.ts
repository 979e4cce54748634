// `search-r1 data fetch NAME`: the data the Search-R1 reference evaluates and retrieves with,
// fetched from the Hub into the cache and linked under a data folder where `eval --dataset NAME`,
// `index` and `serve` find it (docs/hub.md).
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { lstat, mkdir, rename, rm, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { HubConfig } from './config.ts';
import { hubDownload } from './download.ts';
import { makeProgress } from './progress.ts';
import type { RepoType } from './repo-id.ts';

export interface CatalogEntry {
  what: string;
  type: RepoType;
  repo: string;
  /** Files in the repo → where they go under the data folder. */
  files: { path: string; as: string }[];
  /** Concatenate the files (in order) into this one (the E5 index ships in parts). */
  concatInto?: string;
}

const FLASHRAG = 'RUC-NLPIR/FlashRAG_datasets';
/** The paper's test sets and the split Search-R1 evaluates on (test, else dev). */
const EVAL_SPLITS: Record<string, string> = {
  nq: 'test',
  triviaqa: 'test',
  popqa: 'test',
  hotpotqa: 'dev',
  '2wikimultihopqa': 'dev',
  musique: 'dev',
  bamboogle: 'test',
};

export const CATALOG: Record<string, CatalogEntry> = {
  ...Object.fromEntries(
    Object.entries(EVAL_SPLITS).map(([name, split]) => [
      name,
      {
        what: `${name} ${split} set (FlashRAG jsonl), as Search-R1 evaluates it`,
        type: 'dataset' as const,
        repo: FLASHRAG,
        files: [{ path: `${name}/${split}.jsonl`, as: `${name}/${split}.jsonl` }],
      },
    ]),
  ),
  'wiki-18': {
    what: 'the wiki-18 corpus (21M passages, jsonl.gz) the reference retrieves from',
    type: 'dataset',
    repo: 'PeterJinGo/wiki-18-corpus',
    files: [{ path: 'wiki-18.jsonl.gz', as: 'wiki-18/wiki-18.jsonl.gz' }],
  },
  'wiki-18-e5-index': {
    what: "the reference's E5 FAISS flat index of wiki-18 (two parts, joined into e5_Flat.index)",
    type: 'dataset',
    repo: 'PeterJinGo/wiki-18-e5-index',
    files: [
      { path: 'part_aa', as: 'wiki-18-e5-index/part_aa' },
      { path: 'part_ab', as: 'wiki-18-e5-index/part_ab' },
    ],
    concatInto: 'wiki-18-e5-index/e5_Flat.index',
  },
  nq_hotpotqa_train: {
    what: "Search-R1's NQ+HotpotQA training and test rows (parquet)",
    type: 'dataset',
    repo: 'PeterJinGo/nq_hotpotqa_train',
    files: [
      { path: 'train.parquet', as: 'nq_hotpotqa_train/train.parquet' },
      { path: 'test.parquet', as: 'nq_hotpotqa_train/test.parquet' },
    ],
  },
};

/** Names that stand for several entries. */
export const GROUPS: Record<string, string[]> = { eval: Object.keys(EVAL_SPLITS) };

async function linkInto(target: string, link: string): Promise<void> {
  await mkdir(dirname(link), { recursive: true });
  try {
    await lstat(link);
    await rm(link, { force: true });
  } catch {
    /* absent */
  }
  await symlink(resolve(target), link);
}

export interface FetchedFile {
  name: string;
  path: string;
  cached: string;
}

/** Fetch one catalog name (or group) into the cache and link its files under `dataDir`. */
export async function dataFetch(name: string, dataDir: string, cfg: HubConfig): Promise<FetchedFile[]> {
  const names = GROUPS[name] ?? [name];
  const out: FetchedFile[] = [];
  for (const n of names) {
    const e = CATALOG[n];
    if (!e)
      throw new Error(
        `data fetch: unknown name "${n}"; known: ${[...Object.keys(GROUPS), ...Object.keys(CATALOG)].join(', ')}`,
      );
    const progress = makeProgress(cfg.progress);
    const parts: string[] = [];
    for (const f of e.files) {
      const cached = await hubDownload(
        cfg,
        { type: e.type, name: e.repo, revision: 'main', path: f.path },
        { progress },
      );
      const path = join(dataDir, f.as);
      await linkInto(cached, path);
      parts.push(path);
      out.push({ name: n, path, cached });
    }
    if (e.concatInto) {
      const whole = join(dataDir, e.concatInto);
      if (!existsSync(whole)) {
        const tmp = `${whole}.tmp-${process.pid}`;
        const w = createWriteStream(tmp);
        for (const p of parts) await pipeline(createReadStream(p), w, { end: false });
        await new Promise<void>((r, j) => w.end((err?: Error | null) => (err ? j(err) : r())));
        await rename(tmp, whole);
      }
      out.push({ name: n, path: whole, cached: whole });
    }
  }
  return out;
}
