// The bundled world's files on disk: corpus, question sets and BM25 index under the cache folder,
// written once per world seed and reused (the corpus is a pure function of the seed).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildIndex, isCurrentIndex } from '../retrieval/bm25/index.ts';
import { buildWorld, DEFAULT_WORLD_SEED, writeWorld, type World, type WorldFiles } from '../world/world.ts';

/** The cache folder of `search-r1 demo`, `train --preset world|smoke` and `eval` on the world. */
export const CACHE_DIR = '.cache/search-r1';

/** Where the default world's files live (what the world presets point at). */
export const WORLD_DIR = `${CACHE_DIR}/world-${DEFAULT_WORLD_SEED}`;

export async function prepareWorld(worldSeed: number, cacheDir: string, log: (l: string) => void): Promise<{ world: World; files: WorldFiles; indexDir: string }> {
  const dir = resolve(cacheDir, `world-${worldSeed}`);
  const world = buildWorld({ seed: worldSeed });
  const files = await writeWorld(world, dir);
  const indexDir = join(dir, 'bm25');
  // The corpus is a pure function of the seed, so a built index of the same corpus is reused.
  const stamp = join(indexDir, 'world-corpus.json');
  const want = JSON.stringify({ worldSeed, passages: world.passages.length, bytes: readFileSync(files.corpus).length });
  // An index of an older format (or analyzer) is rebuilt too, not reused and refused later.
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== want || !isCurrentIndex(indexDir)) {
    log(`[demo] indexing ${world.passages.length} passages with BM25 → ${indexDir}`);
    await buildIndex(files.corpus, indexDir);
    writeFileSync(stamp, want);
  }
  return { world, files, indexDir };
}
