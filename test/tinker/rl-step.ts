// Shared by the Tinker tests: one GRPO-style RL step over any Trainer, and the per-prompt sampling
// wrapper that makes an in-process run sample exactly as the Tinker client does.
import assert from 'node:assert/strict';
import type { AdamWParams, Datum, LossSpec, Trainer } from '../../src/core/trainer.ts';
import type { SampleRequest } from '../../src/core/sampler.ts';
import { aggregationWeights, policyLoss } from '../../src/rl/losses.ts';

export const MODES = ['custom', 'ppo', 'importance_sampling', 'custom', 'cross_entropy'] as const;
export type Mode = (typeof MODES)[number];

/**
 * The Tinker API samples one prompt per request, and our client gives prompt i of a batch the
 * seed `seed + i`. Wrapping an in-process trainer in this makes it sample the same way.
 */
export function perPromptSampling<T extends Trainer>(t: T): T {
  return new Proxy(t, {
    get(target, prop, receiver) {
      if (prop === 'sample') {
        return async (req: SampleRequest) => {
          const out = [];
          for (let i = 0; i < req.prompts.length; i++) {
            const one = await target.sample({
              ...req,
              prompts: [req.prompts[i]!],
              ...(req.seed !== undefined ? { seed: req.seed + i } : {}),
            });
            out.push(one[0]!);
          }
          return out;
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/**
 * One GRPO-style step: sample groups, score, group-normalise, recompute old log-probs, then a
 * forward_backward of the given kind pipelined with optim_step (neither awaited before both are
 * submitted).
 */
export async function rlStep(
  trainer: Trainer,
  ref: Trainer,
  step: number,
  mode: Mode,
  adam: AdamWParams,
): Promise<void> {
  const tok = trainer.tokenizer;
  const prompts = ['ab<', 'cd<', 'ej<'].map((s) => tok.encode(s));
  const n = 4;
  const groups = await trainer.sample({
    prompts,
    maxTokens: 6,
    stop: ['>'],
    temperature: 1,
    topP: 1,
    n,
    seed: 1000 + step,
  });
  const datums: Datum[] = [];
  const scores: number[] = [];
  groups.forEach((group, i) => {
    const rewards = group.map((c) => [...c.text].filter((ch) => ch === 'a' || ch === '>').length / 6);
    const mean = rewards.reduce((a, b) => a + b, 0) / n;
    const std = Math.sqrt(rewards.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
    group.forEach((c, j) => {
      const full = [...prompts[i]!, ...c.tokens];
      const N = full.length - 1;
      const P = prompts[i]!.length - 1; // positions predicting prompt tokens
      const mask = new Float32Array(N);
      const q = new Float32Array(N);
      const adv = new Float32Array(N);
      for (let t = P; t < N; t++) {
        mask[t] = 1;
        q[t] = c.logprobs[t - P]!;
        adv[t] = (rewards[j]! - mean) / (std + 1e-6);
      }
      datums.push({
        inputTokens: full.slice(0, -1),
        targetTokens: full.slice(1),
        weights: mask,
        logprobs: q,
        advantages: adv,
      });
      scores.push(rewards[j]!);
    });
  });
  const old = await trainer.forward(datums);
  const refOut = await ref.forward(datums);
  const masks = datums.map((d) => d.weights!);
  const agg = aggregationWeights(masks, 'token-mean');
  let spec: LossSpec;
  let batch = datums;
  if (mode === 'custom') {
    spec = {
      type: 'custom',
      needsEntropy: true, // exercises serve-trainer's entropy extension
      fn: (outs) => {
        const r = policyLoss(
          {
            logprobs: outs.map((o) => o.logprobs),
            oldLogprobs: old.map((o) => o.logprobs),
            advantages: datums.map((d) => d.advantages!),
            masks,
            refLogprobs: refOut.map((o) => o.logprobs),
            entropy: outs.map((o) => o.entropy!),
          },
          {
            clipEpsLow: 0.2,
            clipEpsHigh: 0.2,
            klCoef: 0.5,
            klEstimator: 'k3',
            entropyCoef: 0.05,
            aggregation: 'token-mean',
          },
        );
        return {
          loss: r.loss,
          dLogprobs: r.dLogprobs,
          dEntropy: r.dEntropy,
          metrics: { pg_loss: r.metrics.pg_loss },
        };
      },
    };
  } else if (mode === 'cross_entropy') {
    // SFT on the best sample of each group, token-mean weights.
    const best = groups.map(
      (_, i) => i * n + scores.slice(i * n, i * n + n).indexOf(Math.max(...scores.slice(i * n, i * n + n))),
    );
    batch = best.map((k) => ({ ...datums[k]!, weights: agg[k]! }));
    spec = { type: 'cross_entropy' };
  } else {
    // Built-in losses: token-mean aggregation through the weights, old log-probs recomputed.
    batch = datums.map((d, k) => ({ ...d, weights: agg[k]!, logprobs: old[k]!.logprobs }));
    spec = mode === 'ppo' ? { type: 'ppo', clipLow: 0.8, clipHigh: 1.2 } : { type: 'importance_sampling' };
  }
  const fb = trainer.forwardBackward(batch, spec);
  const opt = trainer.optimStep(adam);
  const [m] = await Promise.all([fb, opt]);
  assert.ok(
    Number.isFinite(m['loss:sum']),
    `loss:sum is finite at step ${step} (${mode}): ${JSON.stringify(m)}`,
  );
}
