// `search-r1 data …`: turn FlashRAG QA files into Search-R1 parquet rows, and look into data files.
import type { Command } from 'commander';
import { readCorpus } from '../../data/corpus.ts';
import { readQaFileWithStats } from '../../data/qa.ts';
import { parseSkipLimit, type SkipLimit } from '../../data/jsonl.ts';
import { prepareSearchR1Data, type PrepareResult } from '../../data/prepare.ts';
import { CATALOG, dataFetch, GROUPS } from '../../hub/catalog.ts';
import { hubConfig } from '../../hub/config.ts';

const list = (v: string): string[] =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got "${v}"`);
  return n;
}

export interface DataPrepareCliOptions {
  input: string[];
  dataSource?: string[];
  split: string;
  out: string;
  skipBadLines?: boolean;
  maxSkipped?: SkipLimit;
  answerSeparator?: string[];
  limit?: number;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** `search-r1 data prepare` as a library function. */
export async function dataPrepare(o: DataPrepareCliOptions): Promise<PrepareResult> {
  return prepareSearchR1Data({
    inputs: o.input,
    ...(o.dataSource ? { dataSources: o.dataSource } : {}),
    split: o.split,
    out: o.out,
    skipBadLines: o.skipBadLines ?? false,
    ...(o.maxSkipped ? { maxSkipped: o.maxSkipped } : {}),
    ...(o.answerSeparator ? { answerSeparators: o.answerSeparator } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  });
}

/** `search-r1 data inspect` as a library function: counts and the first records. */
export async function dataInspect(
  file: string,
  o: {
    corpus?: boolean;
    n?: number;
    skipBadLines?: boolean;
    maxSkipped?: SkipLimit;
    answerSeparator?: string[];
  },
): Promise<{ records: number; skipped: number; first: unknown[] }> {
  const n = o.n ?? 3;
  const first: unknown[] = [];
  if (o.corpus) {
    let shown = false;
    const reader = readCorpus(file, {
      skipBadLines: o.skipBadLines ?? false,
      ...(o.maxSkipped ? { maxSkipped: o.maxSkipped } : {}),
      // wiki-18 has 21M lines: say how far we are.
      onProgress: (s) => {
        shown = true;
        process.stderr.write(`\rsearch-r1 data: ${s.read.toLocaleString('en-US')} records read`);
      },
      progressEvery: 250_000,
    });
    for await (const doc of reader) if (first.length < n) first.push(doc);
    if (shown) process.stderr.write('\n');
    return { records: reader.stats.records, skipped: reader.stats.skipped, first };
  }
  const { examples, stats } = await readQaFileWithStats(file, {
    skipBadLines: o.skipBadLines ?? false,
    ...(o.maxSkipped ? { maxSkipped: o.maxSkipped } : {}),
    ...(o.answerSeparator ? { answerSeparators: o.answerSeparator } : {}),
  });
  return { records: examples.length, skipped: stats.skipped, first: examples.slice(0, n) };
}

const MAX_SKIPPED_FLAG = '--max-skipped <n|p%>';
const MAX_SKIPPED_HELP =
  'with --skip-bad-lines: fail (exit 1) when a file has more bad records than this count or percentage (default: only when every record is bad)';
const ANSWER_SEP_FLAG = '--answer-separator <s>';
const ANSWER_SEP_HELP =
  'split answers given as one string on this separator (repeatable; default <|answer_split|>)';

export function register(program: Command): void {
  const data = program
    .command('data')
    .description('Data preparation: FlashRAG/NQ-open QA files → Search-R1 parquet rows; inspect data files');

  data
    .command('prepare')
    .description(
      'Build Search-R1 training/test rows from QA files (the reference data-prep step) and write one parquet file',
    )
    .addHelpText(
      'after',
      `
Each row (the reference's parquet schema):
  data_source    the row's own data_source (a mixed file stays mixed), else the input's file name;
                 --data-source renames every row of that input
  prompt         [{role: "user", content: <Search-R1 instruction>"Question: <question>?\\n"}]
  ability        "fact-reasoning"
  reward_model   {style: "rule", ground_truth: {target: [gold answers]}}
  extra_info     {split, index, uid}
  id, question, golden_answers   the FlashRAG columns, kept as the reference keeps them
index restarts at 0 for every input (as the reference); uid = "<data_source>:<index>" is unique
across the merged inputs and is the GRPO group id.

Example:
  search-r1 data prepare --input nq/train.jsonl,hotpotqa/train.jsonl --data-source nq,hotpotqa \\
    --split train --out data/train.parquet`,
    )
    .requiredOption(
      '--input <files>',
      'comma-separated QA files, merged in order: FlashRAG JSONL (question, golden_answers), NQ-open JSONL (question, answer), .jsonl.gz, a JSON array, or a Search-R1 .parquet',
      list,
    )
    .option(
      '--data-source <names>',
      'comma-separated dataset names, one per input in the same order (e.g. nq,hotpotqa), renaming every row of that input; default: each row keeps its own data_source, else the file name stem, or its folder when the stem is a split name (nq/test.jsonl → nq)',
      list,
    )
    .option('--split <name>', 'value of extra_info.split for every row (train, test, dev)', 'train')
    .requiredOption('--out <file.parquet>', 'output parquet file (written to a temp file, then renamed)')
    .option(
      '--skip-bad-lines',
      'skip malformed lines instead of failing; the count of skipped lines is reported',
    )
    .option(MAX_SKIPPED_FLAG, MAX_SKIPPED_HELP, parseSkipLimit)
    .option(ANSWER_SEP_FLAG, ANSWER_SEP_HELP, collect)
    .option('--limit <n>', 'keep at most n examples per input', positiveInt)
    .action(async (o: DataPrepareCliOptions) => {
      const r = await dataPrepare(o);
      console.log(JSON.stringify(r));
    });

  data
    .command('inspect')
    .description(
      'Read a QA file (JSONL, JSON array, Search-R1 parquet) or a corpus (--corpus) and print its record count and first records as JSON',
    )
    .argument('<file>', 'file to read')
    .option('--corpus', 'read as a passage corpus (wiki-18 contents, or title+text) instead of QA')
    .option('-n, --n <n>', 'how many records to print', positiveInt, 3)
    .option('--skip-bad-lines', 'skip malformed lines instead of failing; the count is reported')
    .option(MAX_SKIPPED_FLAG, MAX_SKIPPED_HELP, parseSkipLimit)
    .option(ANSWER_SEP_FLAG, ANSWER_SEP_HELP, collect)
    .action(
      async (
        file: string,
        o: {
          corpus?: boolean;
          n: number;
          skipBadLines?: boolean;
          maxSkipped?: SkipLimit;
          answerSeparator?: string[];
        },
      ) => {
        const r = await dataInspect(file, o);
        console.log(JSON.stringify(r, null, 2));
      },
    );

  data
    .command('fetch')
    .description(
      'Download data the Search-R1 reference uses from the Hugging Face Hub into the HF cache and link it under --data-dir',
    )
    .argument('<name>', `one of: ${[...Object.keys(GROUPS), ...Object.keys(CATALOG)].join(', ')}`)
    .option(
      '--data-dir <dir>',
      'where the files are linked ($SEARCH_R1_DATA)',
      process.env.SEARCH_R1_DATA ?? 'data',
    )
    .addHelpText(
      'after',
      `
${Object.entries(CATALOG)
  .map(
    ([n, e]) =>
      `  ${n.padEnd(18)} ${e.what}\n${' '.repeat(21)}${e.repo}: ${e.files.map((f) => f.path).join(', ')}`,
  )
  .join('\n')}
  eval               the seven above (nq … bamboogle)

Files go to the Hugging Face cache (HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub),
shared with Python tools; HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE are honoured; an interrupted
download resumes. Then, e.g.:
  search-r1 eval --dataset nq,hotpotqa --data-dir data …
  search-r1 index data/wiki-18/wiki-18.jsonl.gz --out indexes/wiki18-bm25`,
    )
    .action(async (name: string, o: { dataDir: string }) => {
      const files = await dataFetch(name, o.dataDir, hubConfig());
      console.log(JSON.stringify(files, null, 2));
    });
}
