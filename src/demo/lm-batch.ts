// Language-model batches of the demo's supervised phases (pretraining, reading, SFT): examples
// encoded piece by piece, and mean-token cross-entropy datums over the trained positions.
import type { Tokenizer } from '../core/tokenizer.ts';
import type { Datum } from '../core/trainer.ts';
import type { PretrainExample } from './pretrain-data.ts';

export function encodeExample(tok: Pick<Tokenizer, 'encode'>, e: PretrainExample, maxLen: number, eos: number): number[] {
  const ids: number[] = e.prompt ? tok.encode(e.prompt) : [];
  for (const s of e.segments) ids.push(...tok.encode(s.text));
  ids.push(eos);
  return ids.slice(0, maxLen);
}

/**
 * Mean-token cross-entropy batch: weights 1/T so the summed loss is the mean over the batch's
 * trained tokens. `from[i]` (optional): the first position of sequence i whose token is trained
 * (SFT trains only the completion, not the prompt).
 */
export function lmBatch(seqs: number[][], from?: number[]): Datum[] {
  const start = (i: number) => Math.max(1, from?.[i] ?? 1);
  const T = seqs.reduce((a, s, i) => a + Math.max(0, s.length - start(i)), 0);
  return seqs.map((s, i) => {
    const w = new Float32Array(s.length - 1);
    // Position j predicts token j+1: train positions j ≥ start−1.
    for (let j = start(i) - 1; j < w.length; j++) w[j] = 1 / Math.max(1, T);
    return { inputTokens: s.slice(0, -1), targetTokens: s.slice(1), weights: w };
  });
}
