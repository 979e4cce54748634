// FAISS index (+ its corpus) → our dense index directory, streamed: vectors are copied block by
// block (re-encoded as f32, f16 or int8), an HNSW graph's neighbour lists likewise, passages from
// the corpus file. The corpus must have exactly as many passages as the FAISS index has vectors
// (row i of the index is passage i of the corpus, as in the reference's e5_Flat.index/wiki-18).
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { BertEncoder } from '../../engine/bert/encoder.ts';
import { readCorpus } from '../../data/corpus.ts';
import { openFaissIndex } from './faiss.ts';
import { DENSE_FORMAT, DENSE_VERSION, FILES } from './format.ts';
import type { DenseMeta, HnswMeta } from './format.ts';
import { PassageWriter } from './passages.ts';
import { VectorWriter, writeFully } from './store.ts';
import type { VectorDtype } from './store.ts';

export interface ConvertFaissOptions {
  dtype?: VectorDtype;
  /** Encoder to record for queries (its dimension must match the index). */
  encoder?: string;
  skipBadLines?: boolean;
  onProgress?: (done: number, total: number) => void;
}

const BLOCK = 16384;

export async function convertFaissIndex(
  faissPaths: readonly string[],
  corpus: string,
  out: string,
  o: ConvertFaissOptions = {},
): Promise<DenseMeta> {
  const fx = openFaissIndex(faissPaths);
  const target = resolve(out);
  const part = `${target}.partial`;
  try {
    if (fx.metric !== 'ip')
      throw new Error(
        `${fx.file.name}: an L2 index; only inner-product (IndexFlatIP / HNSW IP) indexes are supported`,
      );
    let encoder: DenseMeta['encoder'] = null;
    if (o.encoder) {
      const enc = BertEncoder.load(o.encoder);
      if (enc.dim !== fx.dim)
        throw new Error(
          `--encoder ${o.encoder} makes ${enc.dim}-dimensional vectors but ${fx.file.name} holds ${fx.dim}-dimensional ones (wrong vector dimension)`,
        );
      encoder = { path: resolve(o.encoder), settings: enc.settings };
      enc.dispose();
    }
    rmSync(part, { recursive: true, force: true });
    mkdirSync(part, { recursive: true });
    const dtype = o.dtype ?? 'f16';
    // Passages first: a corpus/index mismatch fails before gigabytes are copied.
    const pw = new PassageWriter(join(part, FILES.passages), join(part, FILES.offsets));
    let batch: { id: string; contents: string }[] = [];
    for await (const r of readCorpus(corpus, { skipBadLines: o.skipBadLines })) {
      batch.push({ id: r.id, contents: r.contents });
      if (batch.length >= 4096) {
        pw.append(batch);
        batch = [];
      }
      if (pw.count + batch.length > fx.count) break;
    }
    pw.append(batch);
    pw.finish();
    if (pw.count !== fx.count)
      throw new Error(
        `corpus/index mismatch: ${corpus} has ${pw.count > fx.count ? `more than ${fx.count}` : pw.count} passages but ${fx.file.name} holds ${fx.count} vectors`,
      );
    const vw = new VectorWriter(join(part, FILES.vectors), join(part, FILES.scales), fx.dim, dtype);
    const rows = new Float32Array(BLOCK * fx.dim);
    try {
      for (let s = 0; s < fx.count; s += BLOCK) {
        const n = Math.min(BLOCK, fx.count - s);
        fx.vectors.readRows(s, n, rows);
        vw.append(rows.subarray(0, n * fx.dim));
        o.onProgress?.(s + n, fx.count);
      }
      vw.sync();
    } finally {
      vw.close();
    }
    let hnsw: HnswMeta | null = null;
    if (fx.hnsw) {
      const g = fx.hnsw;
      writeFileSync(join(part, FILES.hnswLevels), new Uint8Array(g.levels.buffer));
      writeFileSync(join(part, FILES.hnswOffsets), new Uint8Array(g.offsets.buffer));
      const fd = openSync(join(part, FILES.hnswNeighbors), 'w');
      try {
        const buf = new Int32Array(1 << 20);
        for (let s = 0; s < g.neighborsCount; s += buf.length) {
          const n = Math.min(buf.length, g.neighborsCount - s);
          g.readNeighbors(s, buf.subarray(0, n));
          writeFully(fd, new Uint8Array(buf.buffer, 0, n * 4), s * 4);
        }
      } finally {
        closeSync(fd);
      }
      const cum = Array.from(g.cum);
      hnsw = {
        cum,
        entryPoint: g.entryPoint,
        maxLevel: g.maxLevel,
        efSearch: g.efSearch,
        M: cum.length > 2 ? cum[2] - cum[1] : cum[1] / 2,
        efConstruction: 0,
        source: 'faiss',
      };
    }
    const meta: DenseMeta = {
      format: DENSE_FORMAT,
      version: DENSE_VERSION,
      dim: fx.dim,
      count: fx.count,
      dtype,
      metric: 'ip',
      encoder,
      source: { corpus: resolve(corpus), faiss: faissPaths.map((p) => resolve(p)) },
      hnsw,
    };
    writeFileSync(join(part, FILES.meta), JSON.stringify(meta, null, 2) + '\n');
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(part, target);
    rmSync(old, { recursive: true, force: true });
    return meta;
  } catch (e) {
    rmSync(part, { recursive: true, force: true });
    throw e;
  } finally {
    fx.close();
  }
}
