// One RL update from scored trajectories: recompute old/ref log-probs (and values), token
// rewards, advantages, then mini-batch actor (and critic) updates through the Trainer seam's
// custom loss. Non-finite numbers anywhere skip the update and are reported, never applied.
import type { AdamWParams, Datum, ForwardOutput, LossGradient, Trainer } from '../core/trainer.ts';
import type { Trajectory } from '../rollout/types.ts';
import {
  broadcastToTokens,
  gae,
  grpoAdvantages,
  placeOutcomeRewards,
  reinforcePlusPlusAdvantages,
  rlooAdvantages,
  type GroupId,
} from './advantages.ts';
import { applyKlPenalty, explainedVariance, policyLoss, valueLoss } from './losses.ts';
import { lossMask, responseSlice, toPositions, trajectoryDatum } from './batch.ts';
import { lrAt, type TrainConfig } from './config.ts';

export interface UpdateModels {
  policy: Trainer;
  /** Frozen reference policy (needed when a KL term is on). */
  ref: Trainer | null;
  /** Value model (PPO). */
  critic: Trainer | null;
}

export interface UpdateResult {
  metrics: Record<string, number>;
  /** Non-finite quantities found; empty when the update was applied in full. */
  problems: string[];
  /** Seconds per phase. */
  timing: {
    old_log_prob: number;
    ref: number;
    values: number;
    adv: number;
    update_actor: number;
    update_critic: number;
  };
  /** Tokens pushed through forward passes per phase (for tokens/s). */
  tokens: { forward: number; update: number };
}

const now = () => performance.now() / 1000;

function firstNonFinite(arrs: readonly ArrayLike<number>[]): number {
  for (let i = 0; i < arrs.length; i++)
    for (let t = 0; t < arrs[i].length; t++) if (!Number.isFinite(arrs[i][t])) return i;
  return -1;
}

function maskedMean(arrs: readonly ArrayLike<number>[], masks: readonly ArrayLike<number>[]): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < arrs.length; i++)
    for (let t = 0; t < arrs[i].length; t++)
      if (masks[i][t] !== 0) {
        s += arrs[i][t];
        n++;
      }
  return n > 0 ? s / n : 0;
}

/** Forward in chunks so memory stays bounded on the embedded engine. */
async function forwardAll(model: Trainer, datums: Datum[], chunk: number): Promise<ForwardOutput[]> {
  const out: ForwardOutput[] = [];
  for (let i = 0; i < datums.length; i += chunk)
    out.push(...(await model.forward(datums.slice(i, i + chunk))));
  return out;
}

export async function rlUpdate(
  models: UpdateModels,
  trajectories: readonly Trajectory[],
  scores: readonly number[],
  groupIds: readonly GroupId[],
  cfg: TrainConfig,
  step: number,
): Promise<UpdateResult> {
  const B = trajectories.length;
  if (scores.length !== B || groupIds.length !== B)
    throw new Error(`rlUpdate: ${B} trajectories, ${scores.length} scores, ${groupIds.length} group ids`);
  const problems: string[] = [];
  const timing = { old_log_prob: 0, ref: 0, values: 0, adv: 0, update_actor: 0, update_critic: 0 };
  const P = trajectories.map((t) => t.promptTokens.length);
  const R = trajectories.map((t) => t.responseTokens.length);
  const policyMasks = trajectories.map((t) => Float32Array.from(t.policyMask));
  const masks = trajectories.map((t) => lossMask(t.policyMask, cfg.actor.stateMasking));
  const datums = trajectories.map((t, i) => trajectoryDatum(t, masks[i]));
  const forwardTokens = datums.reduce((a, d) => a + d.inputTokens.length, 0);
  const chunk = Math.max(1, cfg.miniBatchPrompts * cfg.n);
  const usesRef = cfg.actor.klLoss.use || cfg.klInReward.use;
  if (usesRef && !models.ref) throw new Error('rlUpdate: a KL term is on but no reference model was given');
  const isPpo = cfg.algo === 'ppo';
  if (isPpo && !models.critic) throw new Error('rlUpdate: PPO needs a critic');

  // ---- old log-probs, reference log-probs, values (no gradient) ----
  let t0 = now();
  const oldLogprobs =
    cfg.actor.oldLogprobs === 'rollout'
      ? trajectories.map((t) => Float32Array.from(t.samplingLogprobs))
      : (await forwardAll(models.policy, datums, chunk)).map((o, i) =>
          Float32Array.from(responseSlice(o.logprobs, P[i], R[i])),
        );
  timing.old_log_prob = now() - t0;
  let refLogprobs: Float32Array[] | undefined;
  if (usesRef) {
    t0 = now();
    const refOut = await forwardAll(models.ref!, datums, chunk);
    refLogprobs = refOut.map((o, i) => Float32Array.from(responseSlice(o.logprobs, P[i], R[i])));
    timing.ref = now() - t0;
  }
  let oldValues: Float32Array[] | undefined;
  if (isPpo) {
    t0 = now();
    const vOut = await forwardAll(models.critic!, datums, chunk);
    oldValues = vOut.map((o, i) => {
      if (!o.values) throw new Error('rlUpdate: the critic returned no values (does it have a value head?)');
      return Float32Array.from(responseSlice(o.values, P[i], R[i]));
    });
    timing.values = now() - t0;
  }
  for (const [name, arr] of [
    ['old log-probs', oldLogprobs],
    ['reference log-probs', refLogprobs],
    ['values', oldValues],
  ] as const) {
    if (!arr) continue;
    const bad = firstNonFinite(arr.map((a, i) => a.map((x, t) => (masks[i][t] !== 0 ? x : 0))));
    if (bad >= 0) problems.push(`non-finite ${name} (sequence ${bad})`);
  }
  const metrics: Record<string, number> = {};
  if (problems.length > 0)
    return { metrics, problems, timing, tokens: { forward: forwardTokens, update: 0 } };

  // ---- rewards and advantages ----
  t0 = now();
  let tokenRewards = placeOutcomeRewards(scores as number[], policyMasks);
  if (cfg.klInReward.use) {
    const kl = applyKlPenalty(
      tokenRewards,
      oldLogprobs,
      refLogprobs!,
      policyMasks,
      cfg.klInReward.coef,
      cfg.klInReward.estimator,
    );
    tokenRewards = kl.rewards;
    metrics['critic/kl'] = kl.meanKl;
    metrics['critic/kl_coeff'] = cfg.klInReward.coef;
  }
  const seqRewards = tokenRewards.map((r) => r.reduce((a, b) => a + b, 0));
  let advantages: Float32Array[];
  let returns: Float32Array[] | undefined;
  switch (cfg.algo) {
    case 'ppo': {
      const g = gae(tokenRewards, oldValues!, masks, {
        gamma: cfg.gae.gamma,
        lambda: cfg.gae.lambda,
        whiten: true,
      });
      advantages = g.advantages;
      returns = g.returns;
      break;
    }
    case 'grpo':
      advantages = broadcastToTokens(grpoAdvantages(seqRewards, groupIds, cfg.grpo), masks);
      break;
    case 'rloo':
      advantages = broadcastToTokens(rlooAdvantages(seqRewards, groupIds), masks);
      break;
    case 'reinforce_plus_plus': {
      const r = reinforcePlusPlusAdvantages(tokenRewards, masks, cfg.gae.gamma);
      advantages = r.advantages;
      returns = r.returns;
      break;
    }
  }
  timing.adv = now() - t0;
  if (firstNonFinite(advantages) >= 0) problems.push('non-finite advantages');
  metrics['critic/score/mean'] = mean(scores as number[]);
  metrics['critic/score/max'] = Math.max(...scores);
  metrics['critic/score/min'] = Math.min(...scores);
  metrics['critic/rewards/mean'] = mean(seqRewards);
  metrics['critic/advantages/mean'] = maskedMean(advantages, masks);
  metrics['critic/advantages/max'] = maxMasked(advantages, masks);
  metrics['critic/advantages/min'] = -maxMasked(
    advantages.map((a) => a.map((x) => -x)),
    masks,
  );
  if (returns) metrics['critic/returns/mean'] = maskedMean(returns, masks);
  if (oldValues && returns) {
    metrics['critic/values/mean'] = maskedMean(oldValues, masks);
    metrics['critic/vf_explained_var'] = explainedVariance(oldValues, returns, masks);
  }
  if (problems.length > 0)
    return { metrics, problems, timing, tokens: { forward: forwardTokens, update: 0 } };

  // ---- mini-batch updates ----
  const mbSize = cfg.miniBatchPrompts * cfg.n;
  const actorLr = lrAt(step, cfg.actor.lr, cfg.actor.warmupRatio, cfg.steps);
  const criticLr = lrAt(step, cfg.critic.lr, cfg.critic.warmupRatio, cfg.steps);
  metrics['actor/lr'] = actorLr;
  const acc = new Map<string, number[]>();
  const push = (k: string, v: number) => (acc.get(k) ?? acc.set(k, []).get(k)!).push(v);
  let updateTokens = 0;
  // Entropy is needed for the gradient only with an entropy bonus, but it is worth logging whenever the
  // backend can return it (the embedded engine computes it in the same pass; hosted Tinker cannot).
  const wantEntropy = cfg.actor.entropyCoef > 0 || models.policy.providesEntropy === true;
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    for (let start = 0; start < B; start += mbSize) {
      const idx = Array.from({ length: Math.min(mbSize, B - start) }, (_, k) => start + k);
      const mb = idx.map((i) => datums[i]);
      updateTokens += mb.reduce((a, d) => a + d.inputTokens.length, 0);
      // Actor
      t0 = now();
      let actorBad: string | null = null;
      const actorFn = (outputs: ForwardOutput[], batch: Datum[]): LossGradient => {
        // A zero gradient with loss 0: nothing accumulates, and the optimiser step is skipped below.
        const zeros = () => ({
          loss: 0,
          dLogprobs: batch.map((d) => new Float32Array(d.inputTokens.length)),
        });
        const logp = outputs.map((o, k) => responseSlice(o.logprobs, P[idx[k]], R[idx[k]]));
        const ent = wantEntropy
          ? outputs.map((o, k) => responseSlice(o.entropy ?? new Float32Array(0), P[idx[k]], R[idx[k]]))
          : undefined;
        const mbMasks = idx.map((i) => masks[i]);
        const masked = (arrs: ArrayLike<number>[]) =>
          arrs.map((a, k) => Array.from(a, (x, t) => (mbMasks[k][t] !== 0 ? x : 0)));
        if (firstNonFinite(masked(logp)) >= 0) {
          actorBad = 'non-finite log-probs in the actor forward';
          return zeros();
        }
        if (ent && (ent.some((e, k) => e.length !== R[idx[k]]) || firstNonFinite(masked(ent)) >= 0)) {
          actorBad = 'missing or non-finite entropy in the actor forward';
          return zeros();
        }
        const res = policyLoss(
          {
            logprobs: logp,
            oldLogprobs: idx.map((i) => oldLogprobs[i]),
            advantages: idx.map((i) => advantages[i]),
            masks: mbMasks,
            refLogprobs: refLogprobs && idx.map((i) => refLogprobs![i]),
            entropy: ent,
          },
          {
            clipLow: cfg.actor.clipLow,
            clipHigh: cfg.actor.clipHigh,
            dualClipC: cfg.actor.dualClipC,
            klCoef: cfg.actor.klLoss.use ? cfg.actor.klLoss.coef : 0,
            klEstimator: cfg.actor.klLoss.estimator,
            entropyCoef: cfg.actor.entropyCoef,
            aggregation: cfg.actor.aggregation,
          },
        );
        if (!Number.isFinite(res.loss)) {
          actorBad = 'non-finite actor loss';
          return zeros();
        }
        for (const [k, v] of Object.entries(res.metrics))
          if (ent || k !== 'entropy_loss') push(`actor/${k}`, v);
        return {
          loss: res.loss,
          dLogprobs: batch.map((d, k) => toPositions(res.dLogprobs[k], P[idx[k]], d.inputTokens.length)),
          dEntropy:
            ent && cfg.actor.entropyCoef > 0
              ? batch.map((d, k) => toPositions(res.dEntropy[k], P[idx[k]], d.inputTokens.length))
              : undefined,
        };
      };
      await models.policy.forwardBackward(mb, {
        type: 'custom',
        needsEntropy: wantEntropy,
        fn: actorFn,
      });
      if (actorBad) {
        // The returned gradient was all zeros, so the buffers hold nothing: skip the optimiser step.
        problems.push(actorBad);
      } else {
        const gn = await safeOptimStep(models.policy, {
          learningRate: actorLr,
          beta1: cfg.actor.beta1,
          beta2: cfg.actor.beta2,
          eps: cfg.actor.eps,
          weightDecay: cfg.actor.weightDecay,
          gradClipNorm: cfg.actor.gradClip,
        });
        if (typeof gn === 'string') problems.push(`actor: ${gn}`);
        else if (gn !== undefined) push('actor/grad_norm', gn);
      }
      timing.update_actor += now() - t0;
      // Critic
      if (isPpo) {
        t0 = now();
        let criticBad: string | null = null;
        const criticFn = (outputs: ForwardOutput[], batch: Datum[]): LossGradient => {
          const zeros = batch.map((d) => new Float32Array(d.inputTokens.length));
          const vals = outputs.map((o, k) =>
            responseSlice(o.values ?? new Float32Array(0), P[idx[k]], R[idx[k]]),
          );
          if (vals.some((v, k) => v.length !== R[idx[k]]) || firstNonFinite(vals) >= 0) {
            criticBad = 'missing or non-finite values in the critic forward';
            return { loss: 0, dLogprobs: zeros, dValues: zeros };
          }
          const res = valueLoss(
            vals,
            idx.map((i) => oldValues![i]),
            idx.map((i) => returns![i]),
            idx.map((i) => masks[i]),
            { clip: cfg.critic.valueClip, aggregation: cfg.actor.aggregation },
          );
          if (!Number.isFinite(res.loss)) {
            criticBad = 'non-finite value loss';
            return { loss: 0, dLogprobs: zeros, dValues: zeros };
          }
          push('critic/vf_loss', res.metrics.vf_loss);
          push('critic/vf_clipfrac', res.metrics.vf_clipfrac);
          return {
            loss: res.loss,
            dLogprobs: zeros,
            dValues: batch.map((d, k) => toPositions(res.dValues[k], P[idx[k]], d.inputTokens.length)),
          };
        };
        await models.critic!.forwardBackward(mb, { type: 'custom', fn: criticFn });
        if (criticBad) problems.push(criticBad);
        else {
          const gn = await safeOptimStep(models.critic!, {
            learningRate: criticLr,
            beta1: cfg.actor.beta1,
            beta2: cfg.actor.beta2,
            eps: cfg.actor.eps,
            weightDecay: cfg.critic.weightDecay,
            gradClipNorm: cfg.critic.gradClip,
          });
          if (typeof gn === 'string') problems.push(`critic: ${gn}`);
          else if (gn !== undefined) push('critic/grad_norm', gn);
        }
        timing.update_critic += now() - t0;
      }
    }
  }
  for (const [k, v] of acc) metrics[k] = mean(v);
  if (isPpo) metrics['critic/lr'] = criticLr;
  return { metrics, problems, timing, tokens: { forward: forwardTokens, update: updateTokens } };
}

/**
 * optimStep that reports a non-finite gradient instead of applying it: a backend either returns
 * the non-finite norm (having discarded the gradient) or refuses by throwing (the embedded AdamW).
 */
async function safeOptimStep(model: Trainer, h: AdamWParams): Promise<number | string | undefined> {
  let gn: number | undefined;
  try {
    gn = (await model.optimStep(h)).grad_norm;
  } catch (e) {
    const msg = (e as Error).message;
    if (/non-finite|NaN|Infinity/i.test(msg)) return `optimiser step refused: ${msg}`;
    throw e;
  }
  if (gn !== undefined && !Number.isFinite(gn)) return `non-finite gradient norm (${gn})`;
  return gn;
}

function mean(xs: readonly number[]): number {
  return xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

function maxMasked(arrs: readonly ArrayLike<number>[], masks: readonly ArrayLike<number>[]): number {
  let m = -Infinity;
  for (let i = 0; i < arrs.length; i++)
    for (let t = 0; t < arrs[i].length; t++) if (masks[i][t] !== 0 && arrs[i][t] > m) m = arrs[i][t];
  return Number.isFinite(m) ? m : 0;
}
