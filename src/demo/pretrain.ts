// `search-r1 pretrain`: builds the world, trains a byte-level BPE tokenizer and a tiny Qwen2-style
// model from scratch by next-token prediction on the pretraining examples (pretrain-data.ts), and
// writes a Hugging Face folder (config.json, model.safetensors, tokenizer files,
// generation_config.json, README.md). Seeded end to end: the same options give the same weights.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import type { ModelConfig } from '../engine/config.ts';
import { countParameters } from '../engine/config.ts';
import { HfTokenizer, SEARCH_R1_TAGS, trainBpeTokenizer, type TokenizerFiles } from '../engine/tokenizer.ts';
import { loadHfFolder, parseHfConfig, saveHfFolder } from '../engine/io/hf.ts';
import { Model } from '../engine/model.ts';
import { EmbeddedTrainer } from '../policy/embedded.ts';
import { encodeExample, lmBatch } from './lm-batch.ts';
import { supervisedTune } from './sft.ts';
import type { AdamWParams, Datum, Trainer } from '../core/trainer.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import { Bm25Index, buildIndex } from '../retrieval/bm25/index.ts';
import { buildPretrainExamples, exampleText, type PretrainExample, type TrajectoryMode } from './pretrain-data.ts';
import { buildWorld, DEFAULT_WORLD_SEED, writeWorld, type World } from '../world/world.ts';
import { Rng } from '../core/rng.ts';

export interface PretrainOptions {
  /** Output HF folder. */
  out: string;
  /** World seed (the demo must use the same world). */
  worldSeed: number;
  /** Seed of the data mix, the init and the batch order. */
  seed: number;
  vocabSize: number;
  model: Pick<ModelConfig, 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads'>;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** Fraction of steps of linear warmup; then cosine decay to 10%. */
  warmup: number;
  maxSeqLen: number;
  trajectoriesPerQuestion: number;
  passageRepeats: number;
  baselineFormatsPerQuestion: number;
  /** Shadow worlds (other seeds) whose questions add trajectories that can only be answered by copying. */
  shadowWorlds: number;
  /** RAG examples per single-hop shadow question. */
  shadowRagPerQuestion: number;
  /** Phase 2 (reading comprehension) steps and learning rate; 0 steps = off. */
  readingSteps: number;
  readingLr: number;
  /** Save a resumable checkpoint every this many steps (0: only at the end). */
  checkpointEvery: number;
  /** Scratch directory (world files, index, checkpoints); default under the OS temp dir. */
  workDir?: string;
  /** Stop after this many steps (tests, smoke runs); the schedule still spans all epochs. */
  maxSteps?: number;
  /**
   * Continue from this HF folder (its tokenizer and weights, a fresh optimizer) instead of a fresh
   * model and tokenizer: a second pretraining stage on other data (e.g. another trajectory mix).
   */
  init?: string;
  /** Index of the first shadow world (a second stage takes fresh ones: names the first stage never read). */
  shadowFirst?: number;
  /** Trajectory modes of the pretraining examples (default pretrain-data.ts's DEFAULT_MIX). */
  mix?: Record<TrajectoryMode, number>;
  log?: (line: string) => void;
}

export const DEFAULT_PRETRAIN: Omit<PretrainOptions, 'out'> = {
  worldSeed: DEFAULT_WORLD_SEED,
  seed: 1,
  vocabSize: 1024,
  model: { hiddenSize: 128, intermediateSize: 384, numLayers: 4, numHeads: 4, numKvHeads: 4 },
  // 2 epochs over the real world plus 4 shadow worlds: with 1 epoch and 2 shadow worlds the model
  // could not copy a new name out of a passage (RAG EM 0.02) and GRPO never saw a reward.
  epochs: 2,
  batchSize: 16,
  learningRate: 3e-3,
  warmup: 0.05,
  maxSeqLen: 1024,
  trajectoriesPerQuestion: 1,
  passageRepeats: 2,
  baselineFormatsPerQuestion: 1,
  shadowWorlds: 4,
  shadowRagPerQuestion: 0.5,
  readingSteps: 0,
  readingLr: 1e-3,
  checkpointEvery: 50,
};

export function modelConfigFor(opts: Pick<PretrainOptions, 'model' | 'maxSeqLen'>, vocabSize: number): ModelConfig {
  const { hiddenSize, numHeads } = opts.model;
  if (hiddenSize % numHeads !== 0) throw new Error(`pretrain: hidden size ${hiddenSize} is not a multiple of heads ${numHeads}`);
  return {
    arch: 'qwen2',
    vocabSize,
    ...opts.model,
    headDim: hiddenSize / numHeads,
    ropeTheta: 10000,
    rmsNormEps: 1e-6,
    tieWordEmbeddings: true,
    attentionBias: true,
    maxPositionEmbeddings: Math.max(2048, opts.maxSeqLen),
  };
}

/** Learning rate at a step: linear warmup, then cosine to 10% of the peak. */
export function lrAt(step: number, total: number, peak: number, warmupFrac: number): number {
  const warm = Math.max(1, Math.round(total * warmupFrac));
  if (step < warm) return (peak * (step + 1)) / warm;
  const t = Math.min(1, (step - warm) / Math.max(1, total - warm));
  return peak * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

/** Token ids of one example, encoded piece by piece as a rollout does (prompt, turns, injected blocks), then EOS. */
/** A fresh embedded trainer (engine-core's EmbeddedTrainer over a randomly initialised Model). */
export function freshEmbeddedTrainer(config: ModelConfig, tokenizer: HfTokenizer, seed: number): Trainer {
  return EmbeddedTrainer.fromModel(new Model(config, { seed }), tokenizer, {});
}

/** Every pretraining example: the real world's pretrain split, then the shadow worlds'. Deterministic. */
export async function buildAllExamples(o: PretrainOptions, work: string, log: (l: string) => void): Promise<PretrainExample[]> {
  log(`[pretrain] world seed ${o.worldSeed}: building corpus and BM25 index in ${work}`);
  const world: World = buildWorld({ seed: o.worldSeed });
  const files = await writeWorld(world, join(work, 'world'));
  await buildIndex(files.corpus, join(work, 'index'));
  const index = await Bm25Index.open(join(work, 'index'));
  const examples: PretrainExample[] = await buildPretrainExamples(world, index, {
    seed: o.seed,
    topk: 3,
    trajectoriesPerQuestion: o.trajectoriesPerQuestion,
    passageRepeats: o.passageRepeats,
    baselineFormatsPerQuestion: o.baselineFormatsPerQuestion,
    ...(o.mix ? { mix: o.mix } : {}),
  });
  await index.close?.();
  // Shadow worlds: fresh names, so their trajectories teach copying from <information>, not recall.
  // Any example that happens to name a real RL-train or test entity is dropped (no leak by chance).
  const heldOut = [...world.train, ...world.test].flatMap((q) => q.metadata.chain).filter((id) => !/^(city|country)-/.test(id));
  const heldOutNames = [...new Set(heldOut.map((id) => world.kb.byId.get(id)!.name))];
  for (let i = 0; i < o.shadowWorlds; i++) {
    const sw = buildWorld({ seed: shadowSeed(o.worldSeed, (o.shadowFirst ?? 0) + i) });
    const sdir = join(work, `shadow-${i}`);
    const sfiles = await writeWorld(sw, sdir);
    await buildIndex(sfiles.corpus, join(sdir, 'index'));
    const sindex = await Bm25Index.open(join(sdir, 'index'));
    const sex = await buildPretrainExamples(sw, sindex, {
      seed: o.seed + 101 * (i + 1),
      topk: 3,
      trajectoriesPerQuestion: 1,
      passageRepeats: 0,
      baselineFormatsPerQuestion: o.shadowRagPerQuestion,
      shadow: true,
      ...(o.mix ? { mix: o.mix } : {}),
    });
    await sindex.close?.();
    const kept = sex.filter((e) => {
      const text = exampleText(e);
      return !heldOutNames.some((n) => text.includes(n));
    });
    log(`[pretrain] shadow world ${i + 1}/${o.shadowWorlds}: ${kept.length} examples (${sex.length - kept.length} dropped for naming a held-out entity)`);
    examples.push(...kept);
  }
  // One fixed interleaving of real and shadow examples (epochs reshuffle it anyway).
  return new Rng(o.seed ^ 0x5a5a).shuffle(examples);

}

export interface PretrainResult {
  out: string;
  steps: number;
  finalLoss: number;
  parameters: number;
  tokensPerEpoch: number;
  seconds: number;
}

export async function pretrain(options: Partial<PretrainOptions> & { out: string }): Promise<PretrainResult> {
  const o: PretrainOptions = { ...DEFAULT_PRETRAIN, ...options, model: { ...DEFAULT_PRETRAIN.model, ...options.model } };
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const t0 = Date.now();
  const work = resolve(o.workDir ?? join(tmpdir(), `search-r1-pretrain-${o.worldSeed}`));
  mkdirSync(work, { recursive: true });

  const examples = await buildAllExamples(o, work, log);

  // Tokenizer: byte-level BPE on the pretraining text only; Search-R1 tags are single tokens. No chat
  // template: this is a base model, prompted with raw text (as the reference prompts base models).
  // A second stage (--init) keeps the first stage's tokenizer and architecture.
  let tokFiles: TokenizerFiles;
  if (o.init) tokFiles = HfTokenizer.load(o.init).files;
  else {
    tokFiles = trainBpeTokenizer(examples.map(exampleText), { vocabSize: o.vocabSize, addedTokens: SEARCH_R1_TAGS });
    delete tokFiles.tokenizerConfig.chat_template;
  }
  const tok = new HfTokenizer(tokFiles);
  const eos = tok.eosTokenIds[0];
  const seqs = examples.map((e) => encodeExample(tok, e, o.maxSeqLen, eos));
  const tokensPerEpoch = seqs.reduce((a, s) => a + s.length, 0);
  const config = o.init ? parseHfConfig(JSON.parse(readFileSync(join(o.init, 'config.json'), 'utf8')) as never, join(o.init, 'config.json')) : modelConfigFor(o, tok.vocabSize);
  const parameters = countParameters(config);
  log(`[pretrain] ${examples.length} examples, ${tokensPerEpoch} tokens/epoch, vocab ${tok.vocabSize}, model ${(parameters / 1e6).toFixed(2)}M parameters`);

  const trainer = o.init ? await (await import('../policy/embedded.ts')).EmbeddedTrainer.load(o.init, { seed: o.seed }) : await freshEmbeddedTrainer(config, tok, o.seed);
  const stepsPerEpoch = Math.ceil(seqs.length / o.batchSize);
  const total = stepsPerEpoch * o.epochs;
  const ckptDir = join(work, 'checkpoint');
  let step = 0;
  const statePath = join(ckptDir, 'pretrain-state.json');
  if (existsSync(statePath)) {
    const st = JSON.parse(readFileSync(statePath, 'utf8')) as { step: number; signature: string };
    if (st.signature === signature(o, tokensPerEpoch)) {
      await trainer.loadWeights(ckptDir, { optimizer: true });
      step = st.step;
      log(`[pretrain] resuming from step ${step} (${ckptDir})`);
    }
  }
  const adam = (lr: number): AdamWParams => ({ learningRate: lr, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01, gradClipNorm: 1 });
  let ema = NaN;
  let lastLoss = NaN;
  let tokensDone = 0;
  const tStart = Date.now();
  const stopAt = Math.min(total, o.maxSteps ?? total);
  const startStep = step;
  while (step < stopAt) {
    const epoch = Math.floor(step / stepsPerEpoch);
    // The order of an epoch depends only on (seed, epoch): resuming reproduces it.
    const order = new Rng(o.seed * 1000 + epoch).shuffle(seqs.map((_, i) => i));
    const k = step % stepsPerEpoch;
    const batchSeqs = order.slice(k * o.batchSize, (k + 1) * o.batchSize).map((i) => seqs[i]);
    const m = await trainer.forwardBackward(lmBatch(batchSeqs), { type: 'cross_entropy' });
    await trainer.optimStep(adam(lrAt(step, total, o.learningRate, o.warmup)));
    lastLoss = m['loss:sum'] ?? NaN; // weights are 1/T: the summed loss is the batch's mean token loss
    ema = Number.isNaN(ema) ? lastLoss : 0.9 * ema + 0.1 * lastLoss;
    tokensDone += batchSeqs.reduce((a, s) => a + s.length, 0);
    step++;
    const secs = (Date.now() - tStart) / 1000;
    if (step % 5 === 0 || step === stopAt) {
      const eta = ((stopAt - step) * secs) / Math.max(1, step - startStep);
      log(`[pretrain] step ${step}/${total} epoch ${epoch + 1}/${o.epochs} loss ${lastLoss.toFixed(3)} (ema ${ema.toFixed(3)}) ${(tokensDone / secs).toFixed(0)} tok/s, ~${eta.toFixed(0)} s left`);
    }
    if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < stopAt) {
      await trainer.saveWeights(ckptDir, { optimizer: true });
      writeFileSync(statePath, JSON.stringify({ step, signature: signature(o, tokensPerEpoch) }));
    }
  }
  await saveModel(trainer, config, tokFiles, o, ckptDir);
  if (o.readingSteps > 0 && step === stopAt) await readingPhase(o, examples, log);
  writeReadme(o, parameters, tokensPerEpoch, step, ema);
  rmSync(ckptDir, { recursive: true, force: true });
  const seconds = (Date.now() - t0) / 1000;
  log(`[pretrain] wrote ${o.out} (${step} steps, loss ${ema.toFixed(3)}, ${seconds.toFixed(0)} s)`);
  return { out: o.out, steps: step, finalLoss: ema, parameters, tokensPerEpoch, seconds };
}

/**
 * Phase 2, reading comprehension: a short supervised pass on the RAG-format examples whose answer
 * is in the given documents, loss on the answer tokens only. Next-token pretraining spreads its
 * gradient over ~300 tokens of documents per answer; this concentrates it on the copy itself — the
 * skill a searching policy needs — without touching the Search-R1 format's policy (the base model
 * still guesses first). Starts from the phase-1 folder with a fresh optimizer and rewrites it, so
 * running it on a saved phase-1 model gives the same result as one `pretrain` run.
 */
export async function readingPhase(o: PretrainOptions, examples: PretrainExample[], log: (l: string) => void): Promise<void> {
  // RAG examples whose answer is in the documents, and correct search-and-copy trajectories: both
  // trained on their final answer only, so copying is learned in both formats while the first
  // move of a trajectory (guess or search) is left as phase 1 made it.
  const reading = examples.filter(
    (e) => (e.kind === 'rag' && e.prompt.includes(e.segments[0].text.trim())) || (e.kind === 'search_copy' && e.correct === true),
  );
  log(`[pretrain] reading phase: ${o.readingSteps} steps on ${reading.length} RAG examples and search-and-copy trajectories (loss on the final answer only)`);
  const trainer = await EmbeddedTrainer.load(o.out, { seed: o.seed });
  await supervisedTune(trainer, reading, { steps: o.readingSteps, batchSize: 16, learningRate: o.readingLr, seed: o.seed, lastSegmentOnly: true, log: (l) => log(l.replace('[sft]', '[pretrain] reading')) });
  const tmp = `${o.out}.reading-${process.pid}`;
  await trainer.saveWeights(tmp);
  const loaded = loadHfFolder(tmp, {});
  const tokFiles = { tokenizerJson: JSON.parse(readFileSync(join(o.out, 'tokenizer.json'), 'utf8')), tokenizerConfig: JSON.parse(readFileSync(join(o.out, 'tokenizer_config.json'), 'utf8')) };
  saveHfFolder(o.out, { config: loaded.config, tensors: loaded.tensors, tokenizer: tokFiles, dtype: 'F32' });
  rmSync(tmp, { recursive: true, force: true });
}

/** Seed of the i-th shadow world: derived from the world seed, never equal to it. */
export function shadowSeed(worldSeed: number, i: number): number {
  return (Math.imul(worldSeed ^ 0x3c6ef372, 0x9e3779b1) + 7919 * (i + 1)) >>> 0;
}

/** Identifies a run for resuming: a checkpoint from other options is ignored. */
function signature(o: PretrainOptions, tokensPerEpoch: number): string {
  const { log: _l, workDir: _w, maxSteps: _m, out: _o, ...rest } = o;
  return JSON.stringify({ ...rest, tokensPerEpoch });
}

async function saveModel(trainer: Trainer, config: ModelConfig, tokFiles: TokenizerFiles, o: PretrainOptions, scratch: string): Promise<void> {
  // The trainer writes its weights as an HF folder; re-save through saveHfFolder with our tokenizer
  // files so the folder is complete and canonical whatever the trainer adds.
  const tmp = `${scratch}-final`;
  await trainer.saveWeights(tmp);
  const loaded = loadHfFolder(tmp, {});
  saveHfFolder(o.out, { config, tensors: loaded.tensors, tokenizer: tokFiles, dtype: 'F32' });
  rmSync(tmp, { recursive: true, force: true });
}

export function writeReadme(o: PretrainOptions, parameters: number, tokensPerEpoch: number, steps: number, loss: number): void {
  const cmd =
    `node bin/search-r1.mjs pretrain --out ${o.out} --world-seed ${o.worldSeed} --seed ${o.seed} --vocab-size ${o.vocabSize} ` +
    `--hidden ${o.model.hiddenSize} --intermediate ${o.model.intermediateSize} --layers ${o.model.numLayers} --heads ${o.model.numHeads} ` +
    `--kv-heads ${o.model.numKvHeads} --epochs ${o.epochs} --batch-size ${o.batchSize} --lr ${o.learningRate} ` +
    `--shadow-worlds ${o.shadowWorlds} --reading-steps ${o.readingSteps}` +
    (o.mix ? ` --mix ${formatMix(o.mix)}` : '') +
    (o.init ? ` --init ${o.init}` : '') +
    (o.shadowFirst ? ` --shadow-first ${o.shadowFirst}` : '') +
    (o.maxSteps !== undefined ? ` --max-steps ${o.maxSteps}` : '');
  const text = `# world-base: the tiny base model of the bundled world

A ${(parameters / 1e6).toFixed(2)}M-parameter Qwen2-architecture model (hidden ${o.model.hiddenSize}, ${o.model.numLayers} layers,
${o.model.numHeads} heads, vocab ${o.vocabSize}, tied embeddings) pretrained from scratch by next-token prediction on the
bundled world (seed ${o.worldSeed}): passages about *pretrain-split* entities, cities and countries, and example
Search-R1 trajectories of mixed quality about pretrain-split questions (mostly guesses, some right and some wrong
searches, some wrong spans), plus Direct/RAG-format answers. It has never read a passage about an RL-train or test
entity, so its answers to test questions can only come from search. It knows the format, not the policy.

No chat template: prompt it with raw text (the Search-R1 instruction ending in \`Question: ...?\\n\`).

Phase 1: ${steps} steps of next-token prediction (${o.epochs} epoch(s) of ${tokensPerEpoch} tokens, batch ${o.batchSize},
AdamW lr ${o.learningRate}, warmup ${o.warmup}, cosine to 10%), final training loss ≈ ${loss.toFixed(3)}. The data also holds
${o.shadowWorlds} *shadow worlds* (other seeds; examples naming a real RL-train/test entity dropped): their names are new to
the model, so their trajectories and RAG examples can only be completed by copying from the context.
${o.init ? `This is a second stage: it continued from the model in \`${o.init}\` (its tokenizer and weights, a fresh optimizer) on
new data${o.mix ? ` with the trajectory mix ${formatMix(o.mix)}` : ''}${o.shadowFirst ? `, shadow worlds from index ${o.shadowFirst} on (names the first stage never read)` : ''}.
` : ''}${o.readingSteps > 0 ? `Phase 2 (reading comprehension): ${o.readingSteps} steps, lr ${o.readingLr}, on the RAG-format examples whose answer is in the
given documents, loss on the answer tokens only (a fresh optimizer, starting from the phase-1 weights).` : 'No phase 2 (reading comprehension is off: 450 steps of it made RAG copy a little but erased the Search-R1 format).'}

Reproduce (seeded; same options give the same weights on the same engine build):

    ${cmd}
`;
  writeFileSync(join(o.out, 'README.md'), text);
}

/** `guess=0.6,search_copy=0.4` ⇄ a trajectory mix (the `--mix` flag). */
export function formatMix(mix: Record<TrajectoryMode, number>): string {
  return Object.entries(mix).map(([k, v]) => `${k}=${v}`).join(',');
}

export function parseMix(text: string): Record<TrajectoryMode, number> {
  const modes: TrajectoryMode[] = ['guess', 'search_copy', 'wrong_query', 'wrong_span'];
  const mix: Record<TrajectoryMode, number> = { guess: 0, search_copy: 0, wrong_query: 0, wrong_span: 0 };
  for (const part of text.split(',')) {
    const [k, v] = part.split('=');
    if (!modes.includes(k as TrajectoryMode)) throw new Error(`--mix: unknown trajectory mode "${k}" (one of ${modes.join(', ')})`);
    const x = Number(v);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--mix: "${part}" needs a non-negative number`);
    mix[k as TrajectoryMode] = x;
  }
  if (Object.values(mix).every((x) => x === 0)) throw new Error('--mix: all modes are 0');
  return mix;
}
