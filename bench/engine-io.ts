// Checkpoint loading benchmark: a Qwen2.5-0.5B-shaped random bf16 checkpoint (494M parameters,
// ~0.99 GB), loaded to fp32 by our reader vs two peers, each in its own child process so peak RSS
// is its own:
//   raw    read the file's bytes in 64 MB chunks and discard them: the I/O lower bound
//   naive  fs.readFileSync the whole file, then widen each tensor (the obvious implementation)
//   ours   loadHfFolder (header validation, positioned fd reads, chunked bf16 widening)
//   engine new Model(config) + loadHfFolder({into: parameter views}): the load path of `generate`
// The file is written first, so all of them read from the page cache (warm), one after another.
//
//   node --import tsx bench/engine-io.ts [--keep DIR]
//   node --import tsx bench/engine-io.ts --bpe     (BPE training/encoding on the 2Wiki passages)
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { countParameters, parameterShapes } from '../src/engine/config.ts';
import { loadHfFolder, saveHfFolder } from '../src/engine/io/hf.ts';
import { Model } from '../src/engine/model.ts';
import { bf16ToF32 } from '../src/engine/io/half.ts';
import type { TensorMap } from '../src/engine/io/safetensors.ts';
import { HfTokenizer, SEARCH_R1_TAGS, trainBpeTokenizer } from '../src/engine/tokenizer.ts';
import { QWEN25_05B } from './qwen05b.ts';

/** Qwen2.5-0.5B's shape (config.json of Qwen/Qwen2.5-0.5B-Instruct). */

function child(mode: string, dir: string): void {
  const t0 = performance.now();
  let n = 0;
  const file = join(dir, 'model.safetensors');
  if (mode === 'ours') {
    const f = loadHfFolder(dir, { noTokenizer: true });
    for (const t of f.tensors.values()) n += t.data.length;
  } else if (mode === 'engine') {
    // End to end into the engine: Model (zero-filled, no random init; timed separately), then the
    // weights read straight into its parameter memory.
    const m = new Model(QWEN25_05B, { init: false }); // zero-filled: weights are loaded next
    const tInit = performance.now() - t0;
    const views = new Map(m.namedParameters().map((p) => [p.name, p.data]));
    const f = loadHfFolder(dir, { noTokenizer: true, into: (name) => views.get(name) ?? null });
    for (const t of f.tensors.values()) n += t.data.length;
    process.stderr.write(`engine: Model constructor ${(tInit / 1000).toFixed(2)} s of the total\n`);
  } else if (mode === 'raw') {
    const fd = openSync(file, 'r');
    const buf = new Uint8Array(64 << 20);
    let pos = 0;
    for (let r; (r = readSync(fd, buf, 0, buf.length, pos)) > 0;) pos += r;
    closeSync(fd);
    n = pos / 2;
  } else if (mode === 'naive') {
    const b = readFileSync(file);
    const hlen = Number(b.readBigUInt64LE(0));
    const header = JSON.parse(b.subarray(8, 8 + hlen).toString('utf8')) as Record<
      string,
      { shape: number[]; data_offsets: [number, number] }
    >;
    const out = new Map<string, Float32Array>();
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const [s, t] = e.data_offsets;
      const src = new Uint16Array(b.buffer.slice(b.byteOffset + 8 + hlen + s, b.byteOffset + 8 + hlen + t));
      const dst = new Float32Array(src.length);
      bf16ToF32(src, dst);
      out.set(name, dst);
      n += dst.length;
    }
  } else throw new Error(`unknown mode ${mode}`);
  const ms = performance.now() - t0;
  process.stdout.write(
    JSON.stringify({ mode, ms, values: n, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + '\n',
  );
}

function runChild(mode: string, dir: string): { ms: number; maxRssMB: number; values: number } {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', mode, dir], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (r.status !== 0) throw new Error(`child ${mode} failed: ${r.stderr}`);
  for (const l of r.stderr.split('\n')) if (l.startsWith('engine:')) console.log(l);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** trainBpeTokenizer on real text (2.7 MB of Wikipedia passages), and encode throughput. */
function bpe(): void {
  const docs = JSON.parse(readFileSync('/work/shared/data/2wikimultihopqa_corpus.json', 'utf8')) as {
    title: string;
    text: string;
  }[];
  const texts = docs.map((d) => `${d.title}\n${d.text}`);
  const chars = texts.reduce((a, t) => a + t.length, 0);
  console.log(`2Wiki passages: ${texts.length} docs, ${(chars / 1e6).toFixed(2)} M chars`);
  for (const vocabSize of [512, 2048, 8192]) {
    const t0 = performance.now();
    const tok = new HfTokenizer(trainBpeTokenizer(texts, { vocabSize, addedTokens: SEARCH_R1_TAGS }));
    const t1 = performance.now();
    let n = 0;
    let c = 0;
    for (const t of texts.slice(0, 1000)) {
      n += tok.encode(t).length;
      c += t.length;
    }
    const t2 = performance.now();
    console.log(
      `vocab ${vocabSize}: train ${((t1 - t0) / 1000).toFixed(2)} s; encode ${(c / 1e3 / ((t2 - t1) / 1000)).toFixed(0)} k chars/s (@huggingface/tokenizers), ${(c / n).toFixed(2)} chars/token`,
    );
  }
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2]);
  if (args[0] === '--bpe') return bpe();
  const k = args.indexOf('--keep');
  const keep = k >= 0 ? args[k + 1] : null;
  const root = keep ?? mkdtempSync(join(tmpdir(), 'bench-engine-io-'));
  const dir = join(root, 'qwen2.5-0.5b-shaped');
  try {
    const params = countParameters(QWEN25_05B);
    // Random values from one shared pool (views): generation is not what we measure.
    const shapes = parameterShapes(QWEN25_05B);
    const maxN = Math.max(...shapes.map((p) => p.shape.reduce((a, b) => a * b, 1)));
    const pool = new Float32Array(maxN);
    let x = 12345;
    for (let i = 0; i < maxN; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      pool[i] = (x / 2 ** 32 - 0.5) * 0.1;
    }
    const tensors: TensorMap = new Map(
      shapes.map((p) => [
        p.name,
        {
          shape: p.shape,
          data: pool.subarray(
            0,
            p.shape.reduce((a, b) => a * b, 1),
          ),
        },
      ]),
    );
    mkdirSync(root, { recursive: true });
    const tw = performance.now();
    saveHfFolder(dir, { config: QWEN25_05B, tensors, dtype: 'BF16' });
    const writeMs = performance.now() - tw;
    const bytes = statSync(join(dir, 'model.safetensors')).size;
    console.log(
      `checkpoint: ${(params / 1e6).toFixed(1)}M parameters, bf16, ${(bytes / 1e9).toFixed(3)} GB; written (fp32 -> bf16) in ${(writeMs / 1000).toFixed(2)} s`,
    );
    const res = ['raw', 'naive', 'ours', 'engine'].map((m) => runChild(m, dir));
    const ours = res[2];
    console.log('mode    time_s   GB/s(file)  peak_RSS_MB  time_vs_ours  RSS_vs_ours');
    for (const r of res) {
      console.log(
        `${(r as { mode?: string }).mode?.padEnd(6) ?? ''}  ${(r.ms / 1000).toFixed(2).padStart(6)}   ${(bytes / 1e9 / (r.ms / 1000)).toFixed(2).padStart(9)}  ${r.maxRssMB.toFixed(0).padStart(11)}  ${(r.ms / ours.ms).toFixed(2).padStart(12)}  ${(r.maxRssMB / ours.maxRssMB).toFixed(2).padStart(11)}`,
      );
    }
    console.log(`fp32 weights alone: ${((params * 4) / 2 ** 20).toFixed(0)} MB`);
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true });
  }
}

main();
