// One validation of the Datum seam (src/core/trainer.ts) for every Trainer: the embedded engine,
// the Tinker client and serve-trainer all reject a malformed datum with the same message, naming
// the datum and the field.
import type { Datum } from './trainer.ts';

export type DatumArrayField = 'weights' | 'advantages' | 'logprobs';

export interface CheckDatumOptions {
  /** Token ids must lie in [0, vocabSize) when given. */
  vocabSize?: number;
  /** Per-token arrays the loss needs (`batch[i].field is required by this loss` when absent). */
  require?: readonly DatumArrayField[];
}

/** Throws an Error naming `batch[i].field` when the datum is malformed; returns its length N. */
export function checkDatum(d: Datum, i: number, opts: CheckDatumOptions = {}): number {
  if (d === null || typeof d !== 'object') throw new Error(`batch[${i}] must be a datum object`);
  if (!Array.isArray(d.inputTokens)) throw new Error(`batch[${i}].inputTokens must be an array`);
  const n = d.inputTokens.length;
  if (!Array.isArray(d.targetTokens) || d.targetTokens.length !== n)
    throw new Error(
      `batch[${i}].targetTokens must have the length of inputTokens (${n}), got ${d.targetTokens?.length}`,
    );
  for (const field of ['weights', 'advantages', 'logprobs'] as const) {
    const arr = d[field];
    if (arr !== undefined && arr.length !== n)
      throw new Error(`batch[${i}].${field} has length ${arr.length}, expected ${n}`);
  }
  for (const field of opts.require ?? [])
    if (!d[field]) throw new Error(`batch[${i}].${field} is required by this loss`);
  const V = opts.vocabSize;
  if (V !== undefined)
    for (const field of ['inputTokens', 'targetTokens'] as const) {
      const toks = d[field];
      for (let t = 0; t < toks.length; t++)
        if (!Number.isInteger(toks[t]) || toks[t] < 0 || toks[t] >= V)
          throw new Error(`batch[${i}].${field}[${t}] = ${toks[t]} is outside the vocabulary [0, ${V})`);
    }
  return n;
}

/** checkDatum over a batch (which must be an array). */
export function checkBatch(batch: readonly Datum[], opts: CheckDatumOptions = {}): void {
  if (!Array.isArray(batch)) throw new Error('batch must be an array of datums');
  batch.forEach((d, i) => checkDatum(d, i, opts));
}
