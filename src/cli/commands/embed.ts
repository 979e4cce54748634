// `search-r1 embed --encoder DIR [--prefix none|query|passage] TEXT…`: one JSON array of floats
// per text on stdout (the encoder's pooling and normalisation; docs/dense-retrieval.md).
import type { Command } from 'commander';
import { BertEncoder } from '../../engine/bert/encoder.ts';
import type { PrefixKind } from '../../engine/bert/encoder.ts';

export function embedTexts(
  encoderDir: string,
  texts: readonly string[],
  prefix: PrefixKind = 'none',
): number[][] {
  if (prefix !== 'none' && prefix !== 'query' && prefix !== 'passage')
    throw new Error(`--prefix ${String(prefix)}: expected none | query | passage`);
  const enc = BertEncoder.load(encoderDir);
  try {
    return enc.embed(texts, prefix).map((v) => Array.from(v));
  } finally {
    enc.dispose();
  }
}

export function register(program: Command): void {
  program
    .command('embed')
    .description('Embed texts with a BERT-family encoder (E5, BGE, MiniLM): one JSON array per text')
    .requiredOption('--encoder <dir>', 'Hugging Face encoder folder')
    .option('--prefix <kind>', "none | query | passage (E5: 'query: ' / 'passage: ')", 'none')
    .argument('<texts...>', 'texts to embed')
    .action((texts: string[], o: { encoder: string; prefix: string }) => {
      for (const v of embedTexts(o.encoder, texts, o.prefix as PrefixKind))
        process.stdout.write(JSON.stringify(v) + '\n');
    });
}
