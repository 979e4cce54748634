// The whole world in one value, and its files: the corpus (wiki-18 JSON lines), the question sets
// (FlashRAG JSON lines and Search-R1 parquet), and world.json (the knowledge base, for analysis).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qaToSearchR1Row, writeSearchR1Parquet } from '../data/searchr1-parquet.ts';
import { DEFAULT_SIZE, generateKnowledgeBase, type KnowledgeBase, type WorldSize } from './kb.ts';
import { buildPassages, DEFAULT_STYLE, wikiContents, type PassageStyle, type WorldPassage } from './passages.ts';
import { generateQuestions, splitQuestions, type WorldQuestion } from './questions.ts';

export interface WorldOptions {
  seed: number;
  size?: Partial<WorldSize>;
  style?: Partial<PassageStyle>;
}

export interface World {
  kb: KnowledgeBase;
  passages: WorldPassage[];
  /** Questions about pretraining entities: only the pretraining trajectories use them. */
  pretrain: WorldQuestion[];
  /** RL training questions. */
  train: WorldQuestion[];
  /** Held-out evaluation questions. */
  test: WorldQuestion[];
}

export const DEFAULT_WORLD_SEED = 20250101;

export function buildWorld(opts: WorldOptions): World {
  const kb = generateKnowledgeBase(opts.seed, { ...DEFAULT_SIZE, ...opts.size });
  const passages = buildPassages(kb, { ...DEFAULT_STYLE, ...opts.style });
  const { pretrain, train, test } = splitQuestions(kb, generateQuestions(kb));
  return { kb, passages, pretrain, train, test };
}

export interface WorldFiles {
  corpus: string;
  trainJsonl: string;
  testJsonl: string;
  trainParquet: string;
  testParquet: string;
  worldJson: string;
}

/** FlashRAG row: `id`, `question`, `golden_answers`, plus `metadata` (question type and chain). */
export function flashragRow(q: WorldQuestion): Record<string, unknown> {
  return { id: q.id, question: q.question, golden_answers: q.goldenAnswers, metadata: { data_source: q.dataSource, ...q.metadata } };
}

export async function writeWorld(world: World, dir: string): Promise<WorldFiles> {
  mkdirSync(dir, { recursive: true });
  const files: WorldFiles = {
    corpus: join(dir, 'corpus.jsonl'),
    trainJsonl: join(dir, 'train.jsonl'),
    testJsonl: join(dir, 'test.jsonl'),
    trainParquet: '',
    testParquet: '',
    worldJson: join(dir, 'world.json'),
  };
  writeFileSync(files.corpus, world.passages.map((p) => JSON.stringify({ id: p.id, contents: wikiContents(p) })).join('\n') + '\n');
  writeFileSync(files.trainJsonl, world.train.map((q) => JSON.stringify(flashragRow(q))).join('\n') + '\n');
  writeFileSync(files.testJsonl, world.test.map((q) => JSON.stringify(flashragRow(q))).join('\n') + '\n');
  const { byId: _byId, ...kbPlain } = world.kb;
  writeFileSync(files.worldJson, JSON.stringify(kbPlain));
  const parquet = await writeParquet(world, dir);
  files.trainParquet = parquet.train;
  files.testParquet = parquet.test;
  return files;
}

/** Search-R1 parquet rows (the reference's training format) through the data layer's writer. */
async function writeParquet(world: World, dir: string): Promise<{ train: string; test: string }> {
  const out = { train: join(dir, 'train.parquet'), test: join(dir, 'test.parquet') };
  for (const split of ['train', 'test'] as const) {
    await writeSearchR1Parquet(out[split], world[split].map((q, index) => qaToSearchR1Row(q, index, split)));
  }
  return out;
}
