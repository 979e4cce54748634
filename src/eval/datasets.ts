// Which questions `search-r1 eval --dataset …` runs: the paper's seven QA sets by name (looked up
// in a local data directory, FlashRAG or Search-R1 layouts), or any path (FlashRAG / NQ-open
// JSONL, JSON array, Search-R1 parquet), read by the data layer (data/qa.ts), which reports bad
// records with file, line and field.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readQaFile } from '../data/qa.ts';
import type { QaExample } from '../core/qa.ts';
import type { EvalDataset } from './run.ts';

/** The paper's test sets (Search-R1 Table 2), by the names FlashRAG and Search-R1 use. */
export const PAPER_DATASETS = [
  'nq',
  'triviaqa',
  'popqa',
  'hotpotqa',
  '2wikimultihopqa',
  'musique',
  'bamboogle',
] as const;

/** Files tried for a dataset name, in order (test split, else dev, as the paper). */
export function candidatePaths(dataDir: string, name: string): string[] {
  const out: string[] = [];
  for (const split of ['test', 'dev']) {
    out.push(
      join(dataDir, name, `${split}.jsonl`),
      join(dataDir, name, `${split}.parquet`),
      join(dataDir, `${name}_${split}.jsonl`),
      join(dataDir, `${name}.${split}.jsonl`),
      join(dataDir, `${name}_${split}.parquet`),
    );
  }
  out.push(join(dataDir, `${name}.jsonl`), join(dataDir, `${name}.parquet`));
  return out;
}

/** A dataset spec → file: an existing path as given, else a name looked up under dataDir. */
export function resolveDatasetPath(spec: string, dataDir: string): { path: string; name: string | null } {
  if (existsSync(spec) && statSync(spec).isFile()) return { path: spec, name: null };
  if (/[\\/]|\.(jsonl|json|parquet|gz)$/.test(spec)) throw new Error(`--dataset ${spec}: no such file`);
  const found = candidatePaths(dataDir, spec).find((p) => existsSync(p));
  if (!found) {
    const known = (PAPER_DATASETS as readonly string[]).includes(spec)
      ? ''
      : ` (the paper's sets: ${PAPER_DATASETS.join(', ')})`;
    throw new Error(
      `--dataset ${spec}: not found under ${dataDir}${known}; looked for ${candidatePaths(dataDir, spec)
        .slice(0, 3)
        .join(', ')}, …; pass a file path or --data-dir`,
    );
  }
  return { path: found, name: spec };
}

/** The source a question belongs to: its row's data_source (world rows carry it in metadata). */
function sourceOf(ex: QaExample): string {
  const m = ex.metadata?.data_source;
  return typeof m === 'string' && m.length > 0 ? m : ex.dataSource;
}

export interface LoadDatasetsOptions {
  dataDir: string;
  /** First N questions of each dataset. */
  limit?: number;
  /** A seeded random N questions of each dataset (the same ones on every run with the same seed). */
  sample?: number;
  sampleSeed?: number;
  /** A file mixing several data sources (Search-R1's test.parquet, the world's test set) is split into one dataset per source (default true). */
  splitBySource?: boolean;
}

/** Loads `--dataset a,b,c`: each spec → one or more named datasets. */
export async function loadDatasets(specs: string, o: LoadDatasetsOptions): Promise<EvalDataset[]> {
  const out: EvalDataset[] = [];
  const parts = specs
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new Error('--dataset: no dataset given');
  for (const spec of parts) {
    const { path, name } = resolveDatasetPath(spec, o.dataDir);
    // The whole file is read (every row validated); --limit applies per resulting dataset.
    const examples = await readQaFile(path, name ? { dataSource: name } : {});
    if (examples.length === 0) throw new Error(`${path}: no questions`);
    const sources = [...new Set(examples.map(sourceOf))];
    const cap = (xs: QaExample[]) => {
      const picked = o.sample !== undefined ? sampleBySeed(xs, o.sample, o.sampleSeed ?? 0) : xs;
      return o.limit !== undefined ? picked.slice(0, o.limit) : picked;
    };
    if ((o.splitBySource ?? true) && sources.length > 1) {
      for (const s of sources)
        out.push({ name: s, examples: cap(examples.filter((ex) => sourceOf(ex) === s)) });
    } else {
      out.push({
        name: name ?? (sources.length === 1 ? sources[0] : examples[0].dataSource),
        examples: cap(examples),
      });
    }
  }
  const names = out.map((d) => d.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`--dataset: "${dup}" appears twice`);
  return out;
}

/** FNV-1a of a string, 32 bits: a stable per-question sort key. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * n questions chosen by hashing (seed, id): the same subset on every run and for every method, and
 * a question stays chosen when the file grows. Returned in file order.
 */
export function sampleBySeed(xs: readonly QaExample[], n: number, seed: number): QaExample[] {
  if (n >= xs.length) return [...xs];
  const ranked = xs
    .map((ex, i) => ({ i, h: fnv1a(`${seed}\u241f${ex.id}`) }))
    .sort((a, b) => a.h - b.h || a.i - b.i);
  const keep = new Set(ranked.slice(0, n).map((r) => r.i));
  return xs.filter((_, i) => keep.has(i));
}
