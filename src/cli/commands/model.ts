// `search-r1 model init|convert|info`: create a random-initialised Hugging Face model folder,
// export a folder to GGUF for llama.cpp, describe a folder. Each subcommand is a library function.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { presetConfig, countParameters } from '../../engine/config.ts';
import type { Arch, ModelConfig, PresetName } from '../../engine/config.ts';
import { loadHfFolder, saveHfFolder } from '../../engine/io/hf.ts';
import { writeGguf } from '../../engine/io/gguf.ts';
import type { GgufDtype } from '../../engine/io/gguf.ts';
import type { SafetensorsDtype } from '../../engine/io/safetensors.ts';
import { randomTensors } from '../../engine/io/random-init.ts';
import {
  HfTokenizer,
  SEARCH_R1_TAGS,
  loadTokenizer,
  trainBpeTokenizer,
  DEFAULT_SPECIAL_TOKENS,
} from '../../engine/tokenizer.ts';
import { builtinTokenizerCorpus } from '../../engine/tokenizer-corpus.ts';
import { initBertFolder, loadBertFolder } from '../../engine/bert/folder.ts';
import { writeBertGguf } from '../../engine/bert/gguf.ts';
import { readJson } from '../../engine/io/hf.ts';
import { join } from 'node:path';

export interface InitModelOptions {
  arch: Arch;
  preset: PresetName;
  seed: number;
  out: string;
  /** Copy the tokenizer of this folder; default: a byte-level BPE trained on built-in text. */
  tokenizerDir?: string;
  /** Overwrite an existing folder. */
  force?: boolean;
}

/**
 * Writes a random-initialised model folder. The tokenizer is `tokenizerDir`'s, or a byte-level BPE
 * trained on built-in text with the preset's vocab size (Search-R1 tags as added tokens when the
 * vocab has room for them beyond bytes + specials). vocab_size grows to fit a larger tokenizer.
 */
export function initModel(o: InitModelOptions): {
  config: ModelConfig;
  parameters: number;
  tokenizerSize: number;
} {
  if (existsSync(o.out) && !o.force) throw new Error(`${o.out} already exists (use --force to replace it)`);
  const config = presetConfig(o.preset, o.arch);
  let tokenizer: HfTokenizer;
  if (o.tokenizerDir) tokenizer = loadTokenizer(o.tokenizerDir);
  else {
    const roomForTags = config.vocabSize >= 256 + DEFAULT_SPECIAL_TOKENS.length + SEARCH_R1_TAGS.length + 64;
    tokenizer = new HfTokenizer(
      trainBpeTokenizer(builtinTokenizerCorpus(), {
        vocabSize: config.vocabSize,
        addedTokens: roomForTags ? SEARCH_R1_TAGS : [],
      }),
    );
  }
  if (tokenizer.vocabSize > config.vocabSize) config.vocabSize = tokenizer.vocabSize;
  const tensors = randomTensors(config, o.seed);
  saveHfFolder(o.out, { config, tensors, tokenizer });
  return { config, parameters: countParameters(config), tokenizerSize: tokenizer.vocabSize };
}

export interface ConvertOptions {
  /** gguf: one GGUF file; hf: another Hugging Face folder (re-typed and/or re-sharded). */
  to: 'gguf' | 'hf';
  out: string;
  /** gguf: f32 | f16; hf: f32 | f16 | bf16. Default f32. */
  dtype?: string;
  /** hf: shard above this many bytes (default 2 GB). */
  maxShardBytes?: number;
  /** Progress line on stderr. */
  progress?: boolean;
}

/**
 * Exports a Hugging Face folder (ours or e.g. Qwen2.5-0.5B-Instruct) to GGUF, or re-saves it as a
 * Hugging Face folder in another weight dtype / sharding (tokenizer and generation config kept).
 */
export function convertModel(dir: string, o: ConvertOptions): void {
  if (o.to !== 'gguf' && o.to !== 'hf') throw new Error(`--to ${String(o.to)}: expected gguf | hf`);
  const dtype = (o.dtype ?? 'f32').toLowerCase();
  const allowed = o.to === 'gguf' ? ['f32', 'f16'] : ['f32', 'f16', 'bf16'];
  if (!allowed.includes(dtype))
    throw new Error(`--dtype ${String(o.dtype)}: expected ${allowed.join(' | ')} for --to ${o.to}`);
  // Progress on stderr: a live line on a terminal, start/end lines otherwise.
  const tty = process.stderr.isTTY === true;
  let last = '';
  const say = (s: string) => {
    if (!o.progress || s === last) return;
    last = s;
    if (tty) process.stderr.write(`\r${s}`);
  };
  const done = (s: string) => o.progress && process.stderr.write(tty ? `\r${s}\n` : `${s}\n`);
  const cfgPath = join(dir, 'config.json');
  if (existsSync(cfgPath) && readJson(cfgPath).model_type === 'bert') {
    if (o.to !== 'gguf') throw new Error(`${dir}: BERT folders convert --to gguf only`);
    writeBertGguf(o.out, loadBertFolder(dir), { dtype: dtype as GgufDtype });
    done(`wrote ${o.out} (${dtype}, bert)`);
    return;
  }
  const folder = loadHfFolder(dir, {
    onProgress: (d, t) => say(`loading ${dir}: ${Math.floor((100 * d) / Math.max(t, 1))}%`),
  });
  done(`loaded ${dir}`);
  if (o.to === 'hf') {
    saveHfFolder(o.out, {
      config: folder.config,
      tensors: folder.tensors,
      tokenizerDir: folder.tokenizer ? dir : undefined,
      generationConfig: folder.generationConfig,
      dtype: dtype.toUpperCase() as SafetensorsDtype,
      maxShardBytes: o.maxShardBytes,
      extraConfig: folder.rawConfig,
    });
    done(`wrote ${o.out} (${dtype})`);
    return;
  }
  if (!folder.tokenizer) throw new Error(`${dir}: no tokenizer.json (GGUF files carry the tokenizer)`);
  writeGguf(o.out, folder.config, folder.tensors, folder.tokenizer, {
    dtype: dtype as GgufDtype,
    onProgress: (d, t) => say(`writing ${o.out}: ${d}/${t} tensors`),
  });
  done(`wrote ${o.out} (${dtype})`);
}

/** A one-screen description of a model folder. */
export function describeModel(dir: string): string {
  const f = loadHfFolder(dir);
  const c = f.config;
  return [
    `${dir}: ${c.arch}, ${countParameters(c).toLocaleString('en-US')} parameters`,
    `  layers ${c.numLayers}, hidden ${c.hiddenSize}, intermediate ${c.intermediateSize}, heads ${c.numHeads} (kv ${c.numKvHeads}, dim ${c.headDim})`,
    `  vocab ${c.vocabSize}, rope θ ${c.ropeTheta}, rms eps ${c.rmsNormEps}, tied head ${c.tieWordEmbeddings}, qkv bias ${c.attentionBias}, max positions ${c.maxPositionEmbeddings}${c.valueHead ? ', value head' : ''}`,
    f.tokenizer
      ? `  tokenizer: ${f.tokenizer.vocabSize} tokens, EOS ids [${f.tokenizer.eosTokenIds.join(', ')}], chat template ${f.tokenizer.chatTemplate ? 'yes' : 'no'}`
      : '  tokenizer: none',
  ].join('\n');
}

function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${v}"`);
    return n;
  };
}

export function register(program: Command): void {
  const model = program
    .command('model')
    .description('Create, convert and inspect model checkpoints (Hugging Face folders, GGUF)');
  model
    .command('init')
    .description('Write a random-initialised Hugging Face model folder (config, safetensors, tokenizer)')
    .requiredOption('--out <dir>', 'output folder')
    .option('--arch <arch>', 'qwen2 | llama | bert (a tiny E5-style encoder)', 'qwen2')
    .option('--head <head>', 'bert only: encoder | classifier (a cross-encoder reranker)', 'encoder')
    .option('--preset <name>', 'tiny | reference', 'tiny')
    .option('--seed <n>', 'random seed', int('--seed'), 0)
    .option(
      '--tokenizer <dir>',
      'copy the tokenizer of this folder (default: a byte-level BPE trained on built-in text)',
    )
    .option('--force', 'replace an existing folder')
    .action(
      (o: {
        out: string;
        arch: string;
        preset: string;
        seed: number;
        tokenizer?: string;
        force?: boolean;
        head: string;
      }) => {
        if (o.arch === 'bert') {
          if (o.head !== 'encoder' && o.head !== 'classifier')
            throw new Error(`--head ${o.head}: expected encoder | classifier`);
          const c = initBertFolder({ out: o.out, seed: o.seed, head: o.head, force: o.force });
          console.log(
            `wrote ${o.out}: bert ${o.head}, ${c.numLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}`,
          );
          return;
        }
        if (o.arch !== 'qwen2' && o.arch !== 'llama')
          throw new Error(`--arch ${o.arch}: expected qwen2 | llama | bert`);
        if (o.preset !== 'tiny' && o.preset !== 'reference')
          throw new Error(`--preset ${o.preset}: expected tiny | reference`);
        const r = initModel({
          arch: o.arch,
          preset: o.preset,
          seed: o.seed,
          out: o.out,
          tokenizerDir: o.tokenizer,
          force: o.force,
        });
        console.log(
          `wrote ${o.out}: ${o.arch} ${o.preset}, ${r.parameters.toLocaleString('en-US')} parameters, vocab ${r.config.vocabSize} (tokenizer ${r.tokenizerSize})`,
        );
      },
    );
  model
    .command('convert')
    .description(
      'Convert a Hugging Face model folder to GGUF (llama.cpp / node-llama-cpp), or re-save it in another dtype',
    )
    .argument('<dir>', 'Hugging Face model folder')
    .requiredOption('--out <path>', 'output .gguf file (--to gguf) or folder (--to hf)')
    .option('--to <format>', 'gguf | hf', 'gguf')
    .option('--dtype <dtype>', 'gguf: f32 | f16 (1-D tensors stay f32); hf: f32 | f16 | bf16', 'f32')
    .option('--max-shard-mb <n>', 'hf: shard safetensors above this size', int('--max-shard-mb'))
    .action((dir: string, o: { out: string; to: string; dtype: string; maxShardMb?: number }) => {
      convertModel(dir, {
        to: o.to as 'gguf' | 'hf',
        out: o.out,
        dtype: o.dtype,
        maxShardBytes: o.maxShardMb !== undefined ? o.maxShardMb * 1e6 : undefined,
        progress: true,
      });
    });
  model
    .command('info')
    .description('Describe a Hugging Face model folder (architecture, sizes, tokenizer)')
    .argument('<dir>', 'Hugging Face model folder')
    .action((dir: string) => console.log(describeModel(dir)));
}
