// meta.json of a dense index directory (written last: its presence means the index is complete).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EncoderSettings } from '../../engine/bert/folder.ts';
import { VECTOR_DTYPES } from './store.ts';
import type { VectorDtype } from './store.ts';

export const DENSE_FORMAT = 'search-r1-dense';
export const DENSE_VERSION = 1;

export const FILES = {
  meta: 'meta.json',
  vectors: 'vectors.bin',
  scales: 'scales.bin',
  passages: 'passages.jsonl',
  offsets: 'passages.offsets',
  hnswLevels: 'hnsw.levels',
  hnswOffsets: 'hnsw.offsets',
  hnswNeighbors: 'hnsw.neighbors',
} as const;

export interface HnswMeta {
  /** cum_nneighbor_per_level: neighbour slots before level l in a node's list. */
  cum: number[];
  entryPoint: number;
  maxLevel: number;
  efSearch: number;
  M: number;
  efConstruction: number;
  /** Where the graph came from. */
  source: 'built' | 'faiss';
}

export interface DenseMeta {
  format: typeof DENSE_FORMAT;
  version: number;
  dim: number;
  count: number;
  dtype: VectorDtype;
  metric: 'ip';
  /** The encoder that made the vectors (absolute folder path) and how it was used. */
  encoder: { path: string; settings: EncoderSettings } | null;
  source: { corpus: string; faiss?: string[] };
  hnsw: HnswMeta | null;
}

export function readDenseMeta(dir: string): DenseMeta {
  const p = join(dir, FILES.meta);
  if (!existsSync(p))
    throw new Error(
      existsSync(`${dir}.partial`)
        ? `${dir}: index build not finished (${dir}.partial exists; re-run the same index command to resume)`
        : `${dir}: no ${FILES.meta} (not a dense index directory)`,
    );
  let m: DenseMeta;
  try {
    m = JSON.parse(readFileSync(p, 'utf8')) as DenseMeta;
  } catch (e) {
    throw new Error(`${p}: invalid JSON (${(e as Error).message})`);
  }
  if (m.format !== DENSE_FORMAT) throw new Error(`${p}: field "format" is not "${DENSE_FORMAT}"`);
  if (m.version !== DENSE_VERSION)
    throw new Error(`${p}: version ${m.version} is not supported (expected ${DENSE_VERSION})`);
  if (!VECTOR_DTYPES.includes(m.dtype))
    throw new Error(`${p}: field "dtype" must be one of ${VECTOR_DTYPES.join(', ')}`);
  for (const f of ['dim', 'count'] as const)
    if (!Number.isInteger(m[f]) || m[f] < 0)
      throw new Error(`${p}: field "${f}" must be a non-negative integer`);
  return m;
}
