// Batched generation over prompts of different lengths with a KV cache: n samples per prompt
// (the prompt is prefilled once and its cache copied), temperature/top-p/top-k, a seed (each
// sample has its own RNG stream derived from (seed, prompt, sample), so results do not depend on
// batching), stop strings, EOS ids and a token budget.
import type { Model } from './model.ts';
import { KvCache, Inference, type StepItem } from './infer.ts';
import { Rng } from '../core/rng.ts';
import { sampleToken } from './sampling.ts';
import type { PrefixCache } from './prefix-cache.ts';
import type { Completion, SampleRequest } from '../core/sampler.ts';
import type { Tokenizer } from '../core/tokenizer.ts';
import { findStop } from '../core/stop.ts';

export interface GenerateOptions {
  /** Max tokens prefilled in one step (bounds activation memory). */
  prefillChunkTokens?: number;
  /** Max sequences decoded per step (bounds KV-cache memory: batches beyond this run in waves). */
  maxBatch?: number;
  /** Reuse K/V rows of shared prompt prefixes across calls (multi-turn rollouts). */
  prefixCache?: PrefixCache;
  /** Progress after each decode step. */
  onStep?: (done: number, total: number) => void;
}

interface SeqState {
  prompt: number;
  sample: number;
  slot: number;
  tokens: number[];
  logprobs: number[];
  rng: Rng;
  done: Completion | null;
}

export function validateSampleRequest(req: SampleRequest, V: number): void {
  if (!Array.isArray(req.prompts))
    throw new Error('sample: field "prompts" must be an array of token arrays');
  req.prompts.forEach((p, i) => {
    if (!Array.isArray(p) || p.length === 0)
      throw new Error(`sample: prompts[${i}] must be a non-empty token array`);
    for (const t of p)
      if (!Number.isInteger(t) || t < 0 || t >= V)
        throw new Error(`sample: prompts[${i}] has token ${t} outside the vocabulary [0, ${V})`);
  });
  if (!Number.isInteger(req.maxTokens) || req.maxTokens < 0)
    throw new Error(`sample: field "maxTokens" must be an integer ≥ 0`);
  if (!(req.temperature >= 0)) throw new Error(`sample: field "temperature" must be ≥ 0`);
  if (!(req.topP > 0 && req.topP <= 1)) throw new Error(`sample: field "topP" must be in (0, 1]`);
  if (req.n !== undefined && (!Number.isInteger(req.n) || req.n < 1))
    throw new Error(`sample: field "n" must be an integer ≥ 1`);
  if (!Array.isArray(req.stop) || req.stop.some((s) => typeof s !== 'string'))
    throw new Error('sample: field "stop" must be an array of strings');
}

function seedFor(seed: number, prompt: number, sample: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (prompt + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (sample + 0x165667b1), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export async function generate(
  model: Model,
  tokenizer: Tokenizer,
  req: SampleRequest,
  opts: GenerateOptions = {},
): Promise<Completion[][]> {
  const V = model.config.vocabSize;
  validateSampleRequest(req, V);
  const n = req.n ?? 1;
  const baseSeed = req.seed ?? Math.floor(Math.random() * 2 ** 32);
  const eos = new Set(tokenizer.eosTokenIds);
  const maxPos = model.config.maxPositionEmbeddings;
  const result: Completion[][] = req.prompts.map(() => []);
  const maxBatch = Math.max(n, opts.maxBatch ?? 64);
  const promptsPerWave = Math.max(1, Math.floor(maxBatch / n));
  const inf = new Inference(model);
  const scratch = new Float64Array(V);
  opts.prefixCache?.begin(model.weightsVersion);
  try {
    for (let w0 = 0; w0 < req.prompts.length; w0 += promptsPerWave) {
      const wave = req.prompts.slice(w0, w0 + promptsPerWave).map((p, i) => ({ idx: w0 + i, prompt: p }));
      const caps: number[] = [];
      const seqs: SeqState[] = [];
      for (const { idx, prompt } of wave)
        for (let j = 0; j < n; j++) {
          caps.push(Math.min(prompt.length + req.maxTokens, Math.max(maxPos, prompt.length + 1)));
          seqs.push({
            prompt: idx,
            sample: j,
            slot: seqs.length,
            tokens: [],
            logprobs: [],
            rng: new Rng(seedFor(baseSeed, idx, j)),
            done: null,
          });
        }
      const cache = new KvCache(model, caps);
      try {
        await runWave(model, tokenizer, req, inf, cache, wave, seqs, n, eos, scratch, opts);
        const pc = opts.prefixCache;
        if (pc) {
          const KD = model.config.numKvHeads * model.config.headDim;
          for (const s of seqs) pc.keep([...req.prompts[s.prompt], ...s.tokens], cache, s.slot, KD);
        }
      } finally {
        cache.dispose();
      }
      for (const s of seqs) result[s.prompt][s.sample] = s.done!;
    }
    opts.prefixCache?.end();
  } finally {
    inf.dispose();
  }
  return result;
}

async function runWave(
  model: Model,
  tokenizer: Tokenizer,
  req: SampleRequest,
  inf: Inference,
  cache: KvCache,
  wave: { idx: number; prompt: number[] }[],
  seqs: SeqState[],
  n: number,
  eos: Set<number>,
  scratch: Float64Array,
  opts: GenerateOptions,
): Promise<void> {
  const V = model.config.vocabSize;
  const params = { temperature: req.temperature, topP: req.topP, topK: req.topK };
  // Prefill each prompt once (into its first sample's slot), in chunks of ≤ prefillChunk tokens.
  const chunk = opts.prefillChunkTokens ?? 2048;
  const next: { seq: SeqState; logitsRow: Float32Array }[] = [];
  let items: StepItem[] = [];
  let pending: number[] = [];
  let tokensInStep = 0;
  const flush = () => {
    if (items.length === 0) return;
    const logits = inf.step(cache, items);
    items.forEach((it, i) => {
      const w = pending[i];
      if (w >= 0) {
        const first = seqs[w * n];
        const row = logits.slice(i * V, (i + 1) * V);
        for (let j = 0; j < n; j++) {
          if (j > 0) cache.copySlot(first.slot, first.slot + j);
          next.push({ seq: seqs[w * n + j], logitsRow: row });
        }
      }
    });
    items = [];
    pending = [];
    tokensInStep = 0;
  };
  const KD = model.config.numKvHeads * model.config.headDim;
  for (let w = 0; w < wave.length; w++) {
    const prompt = wave[w].prompt;
    // A cached prefix (earlier call) is copied in; only the rest runs through the model.
    const start = opts.prefixCache ? opts.prefixCache.restore(prompt, cache, seqs[w * n].slot, KD) : 0;
    // Long prompts are split; only the piece with the last token yields logits we keep.
    for (let p0 = start; p0 < prompt.length; p0 += chunk) {
      const piece = prompt.slice(p0, p0 + chunk);
      if (tokensInStep + piece.length > chunk) flush();
      items.push({ slot: seqs[w * n].slot, tokens: piece });
      pending.push(p0 + chunk >= prompt.length ? w : -1);
      tokensInStep += piece.length;
      if (p0 + chunk < prompt.length) flush(); // the next piece of this prompt needs this one cached
    }
  }
  flush();
  // First token of every sample from the prefill logits.
  let active: SeqState[] = [];
  for (const { seq, logitsRow } of next) {
    if (req.maxTokens === 0) {
      seq.done = { tokens: [], logprobs: [], finish: 'length', text: '' };
      continue;
    }
    if (!accept(seq, sampleToken(logitsRow, 0, V, params, seq.rng, scratch), tokenizer, req, eos, cache))
      active.push(seq);
  }
  let steps = 0;
  while (active.length > 0) {
    const logits = inf.step(
      cache,
      active.map((s) => ({ slot: s.slot, tokens: [s.tokens[s.tokens.length - 1]] })),
    );
    const still: SeqState[] = [];
    active.forEach((s, i) => {
      if (!accept(s, sampleToken(logits, i * V, V, params, s.rng, scratch), tokenizer, req, eos, cache))
        still.push(s);
    });
    active = still;
    opts.onStep?.(++steps, req.maxTokens);
    if (steps % 16 === 0) await new Promise<void>((r) => setImmediate(r)); // let the event loop breathe
  }
}

/** Appends a sampled token; returns true when the sequence is finished (and sets seq.done). */
function accept(
  seq: SeqState,
  pick: { token: number; logprob: number },
  tokenizer: Tokenizer,
  req: SampleRequest,
  eos: Set<number>,
  cache: KvCache,
): boolean {
  seq.tokens.push(pick.token);
  seq.logprobs.push(pick.logprob);
  if (eos.has(pick.token)) {
    seq.done = {
      tokens: seq.tokens,
      logprobs: seq.logprobs,
      finish: 'eos',
      text: tokenizer.decode(seq.tokens.slice(0, -1)),
    };
    return true;
  }
  if (req.stop.length > 0) {
    // A stop string completed by this token lies in the last few tokens' text: decode only a
    // window (decoding everything each step is quadratic), and the full text once on a hit.
    const maxStop = req.stop.reduce((m, s) => Math.max(m, s.length), 0);
    const window = seq.tokens.length <= maxStop + 8 ? seq.tokens : seq.tokens.slice(-(maxStop + 8));
    if (findStop(tokenizer.decode(window), req.stop)) {
      const text = tokenizer.decode(seq.tokens);
      const hit = findStop(text, req.stop);
      if (hit) {
        seq.done = {
          tokens: seq.tokens,
          logprobs: seq.logprobs,
          finish: 'stop',
          text: text.slice(0, hit.end),
          stopString: hit.stop,
        };
        return true;
      }
    }
  }
  // The cache slot must hold the next input token too.
  if (seq.tokens.length >= req.maxTokens || cache.len[seq.slot] + 1 > cache.caps[seq.slot]) {
    seq.done = {
      tokens: seq.tokens,
      logprobs: seq.logprobs,
      finish: 'length',
      text: tokenizer.decode(seq.tokens),
    };
    return true;
  }
  return false;
}
