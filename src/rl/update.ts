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
import { timed } from './timing.ts';

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

/**
 * One update's working set, filled phase by phase: the step's trajectories as aligned datums,
 * then old/reference log-probs and values, then advantages (and returns), then the mini-batch
 * updates' metrics.
 */
interface UpdateBatch {
  cfg: TrainConfig;
  /** Prompt and response lengths per trajectory. */
  P: number[];
  R: number[];
  datums: Datum[];
  /** 1 at policy tokens (rewards go to the last one). */
  policyMasks: Float32Array[];
  /** The loss mask: policyMasks, or every response token when state masking is off. */
  masks: Float32Array[];
  scores: readonly number[];
  groupIds: readonly GroupId[];
  /** Forward passes run in chunks of this many datums (bounded memory on the embedded engine). */
  chunk: number;
  oldLogprobs?: Float32Array[];
  refLogprobs?: Float32Array[];
  oldValues?: Float32Array[];
  advantages?: Float32Array[];
  returns?: Float32Array[];
  metrics: Record<string, number>;
  problems: string[];
  timing: UpdateResult['timing'];
  tokens: UpdateResult['tokens'];
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
  if ((cfg.actor.klLoss.use || cfg.klInReward.use) && !models.ref)
    throw new Error('rlUpdate: a KL term is on but no reference model was given');
  if (cfg.algo === 'ppo' && !models.critic) throw new Error('rlUpdate: PPO needs a critic');
  const b = updateBatch(trajectories, scores, groupIds, cfg);
  const result = (): UpdateResult => ({ metrics: b.metrics, problems: b.problems, timing: b.timing, tokens: b.tokens });

  await timed(b.timing, 'old_log_prob', () => oldLogprobPhase(models.policy, trajectories, b));
  if (models.ref && (cfg.actor.klLoss.use || cfg.klInReward.use))
    await timed(b.timing, 'ref', () => refLogprobPhase(models.ref!, b));
  if (cfg.algo === 'ppo') await timed(b.timing, 'values', () => valuePhase(models.critic!, b));
  checkForwardOutputs(b);
  if (b.problems.length > 0) return result();

  await timed(b.timing, 'adv', () => advantagePhase(b));
  if (b.problems.length > 0) return result();

  await miniBatchUpdates(models, b, step);
  return result();
}

function updateBatch(
  trajectories: readonly Trajectory[],
  scores: readonly number[],
  groupIds: readonly GroupId[],
  cfg: TrainConfig,
): UpdateBatch {
  const masks = trajectories.map((t) => lossMask(t.policyMask, cfg.actor.stateMasking));
  const datums = trajectories.map((t, i) => trajectoryDatum(t, masks[i]));
  return {
    cfg,
    P: trajectories.map((t) => t.promptTokens.length),
    R: trajectories.map((t) => t.responseTokens.length),
    datums,
    policyMasks: trajectories.map((t) => Float32Array.from(t.policyMask)),
    masks,
    scores,
    groupIds,
    chunk: Math.max(1, cfg.miniBatchPrompts * cfg.n),
    metrics: {},
    problems: [],
    timing: { old_log_prob: 0, ref: 0, values: 0, adv: 0, update_actor: 0, update_critic: 0 },
    tokens: { forward: datums.reduce((a, d) => a + d.inputTokens.length, 0), update: 0 },
  };
}

/** Per-response-token slices of a forward output field. */
async function responseForward(
  model: Trainer,
  b: UpdateBatch,
  field: 'logprobs' | 'values',
): Promise<Float32Array[]> {
  const out = await forwardAll(model, b.datums, b.chunk);
  return out.map((o, i) => {
    const a = o[field];
    if (!a) throw new Error(`rlUpdate: the model returned no ${field} (does the critic have a value head?)`);
    return Float32Array.from(responseSlice(a, b.P[i], b.R[i]));
  });
}

/** π_old: recomputed with the policy after the rollout (docs/rl.md), or the sampler's when configured. */
async function oldLogprobPhase(policy: Trainer, trajectories: readonly Trajectory[], b: UpdateBatch): Promise<void> {
  b.oldLogprobs =
    b.cfg.actor.oldLogprobs === 'rollout'
      ? trajectories.map((t) => Float32Array.from(t.samplingLogprobs))
      : await responseForward(policy, b, 'logprobs');
}

async function refLogprobPhase(ref: Trainer, b: UpdateBatch): Promise<void> {
  b.refLogprobs = await responseForward(ref, b, 'logprobs');
}

async function valuePhase(critic: Trainer, b: UpdateBatch): Promise<void> {
  b.oldValues = await responseForward(critic, b, 'values');
}

/** Non-finite numbers at loss-mask positions skip the update (reported, never applied). */
function checkForwardOutputs(b: UpdateBatch): void {
  for (const [name, arr] of [
    ['old log-probs', b.oldLogprobs],
    ['reference log-probs', b.refLogprobs],
    ['values', b.oldValues],
  ] as const) {
    if (!arr) continue;
    const bad = firstNonFinite(arr.map((a, i) => a.map((x, t) => (b.masks[i][t] !== 0 ? x : 0))));
    if (bad >= 0) b.problems.push(`non-finite ${name} (sequence ${bad})`);
  }
}

/** Token rewards (outcome at the last policy token, KL penalty when in the reward) → advantages. */
function advantagePhase(b: UpdateBatch): void {
  const { cfg, masks, groupIds, scores, metrics } = b;
  let tokenRewards = placeOutcomeRewards(scores as number[], b.policyMasks);
  if (cfg.klInReward.use) {
    const kl = applyKlPenalty(
      tokenRewards,
      b.oldLogprobs!,
      b.refLogprobs!,
      b.policyMasks,
      cfg.klInReward.coef,
      cfg.klInReward.estimator,
    );
    tokenRewards = kl.rewards;
    metrics['critic/kl'] = kl.meanKl;
    metrics['critic/kl_coeff'] = cfg.klInReward.coef;
  }
  const seqRewards = tokenRewards.map((r) => r.reduce((a, c) => a + c, 0));
  switch (cfg.algo) {
    case 'ppo': {
      const g = gae(tokenRewards, b.oldValues!, masks, { gamma: cfg.gae.gamma, lambda: cfg.gae.lambda, whiten: true });
      b.advantages = g.advantages;
      b.returns = g.returns;
      break;
    }
    case 'grpo':
      b.advantages = broadcastToTokens(grpoAdvantages(seqRewards, groupIds, cfg.grpo), masks);
      break;
    case 'rloo':
      b.advantages = broadcastToTokens(rlooAdvantages(seqRewards, groupIds), masks);
      break;
    case 'reinforce_plus_plus': {
      const r = reinforcePlusPlusAdvantages(tokenRewards, masks, cfg.gae.gamma);
      b.advantages = r.advantages;
      b.returns = r.returns;
      break;
    }
  }
  const advantages = b.advantages!;
  if (firstNonFinite(advantages) >= 0) b.problems.push('non-finite advantages');
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
  if (b.returns) metrics['critic/returns/mean'] = maskedMean(b.returns, masks);
  if (b.oldValues && b.returns) {
    metrics['critic/values/mean'] = maskedMean(b.oldValues, masks);
    metrics['critic/vf_explained_var'] = explainedVariance(b.oldValues, b.returns, masks);
  }
}

/** Metric samples of the mini-batches, averaged at the end. */
type MetricSamples = Map<string, number[]>;
const pushSample = (acc: MetricSamples, k: string, v: number) => (acc.get(k) ?? acc.set(k, []).get(k)!).push(v);

/** Epochs × mini-batches of actor (and critic) updates through the Trainer seam's custom loss. */
async function miniBatchUpdates(models: UpdateModels, b: UpdateBatch, step: number): Promise<void> {
  const { cfg } = b;
  const B = b.datums.length;
  const mbSize = cfg.miniBatchPrompts * cfg.n;
  const actorLr = lrAt(step, cfg.actor.lr, cfg.actor.warmupRatio, cfg.steps);
  const criticLr = lrAt(step, cfg.critic.lr, cfg.critic.warmupRatio, cfg.steps);
  b.metrics['actor/lr'] = actorLr;
  const acc: MetricSamples = new Map();
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    for (let start = 0; start < B; start += mbSize) {
      const idx = Array.from({ length: Math.min(mbSize, B - start) }, (_, k) => start + k);
      b.tokens.update += idx.reduce((a, i) => a + b.datums[i].inputTokens.length, 0);
      await timed(b.timing, 'update_actor', () => actorUpdate(models.policy, b, idx, actorLr, acc));
      if (cfg.algo === 'ppo')
        await timed(b.timing, 'update_critic', () => criticUpdate(models.critic!, b, idx, criticLr, acc));
    }
  }
  for (const [k, v] of acc) b.metrics[k] = mean(v);
  if (cfg.algo === 'ppo') b.metrics['critic/lr'] = criticLr;
}

/** One actor mini-batch: clipped policy loss (+ KL loss, entropy bonus), then AdamW. */
async function actorUpdate(policy: Trainer, b: UpdateBatch, idx: number[], lr: number, acc: MetricSamples): Promise<void> {
  const { cfg, P, R } = b;
  // Entropy is needed for the gradient only with an entropy bonus, but it is worth logging whenever the
  // backend can return it (the embedded engine computes it in the same pass; hosted Tinker cannot).
  const wantEntropy = cfg.actor.entropyCoef > 0 || policy.providesEntropy === true;
  let bad: string | null = null;
  const fn = (outputs: ForwardOutput[], batch: Datum[]): LossGradient => {
    // A zero gradient with loss 0: nothing accumulates, and the optimiser step is skipped below.
    const zeros = () => ({ loss: 0, dLogprobs: batch.map((d) => new Float32Array(d.inputTokens.length)) });
    const logp = outputs.map((o, k) => responseSlice(o.logprobs, P[idx[k]], R[idx[k]]));
    const ent = wantEntropy
      ? outputs.map((o, k) => responseSlice(o.entropy ?? new Float32Array(0), P[idx[k]], R[idx[k]]))
      : undefined;
    const mbMasks = idx.map((i) => b.masks[i]);
    const masked = (arrs: ArrayLike<number>[]) => arrs.map((a, k) => Array.from(a, (x, t) => (mbMasks[k][t] !== 0 ? x : 0)));
    if (firstNonFinite(masked(logp)) >= 0) {
      bad = 'non-finite log-probs in the actor forward';
      return zeros();
    }
    if (ent && (ent.some((e, k) => e.length !== R[idx[k]]) || firstNonFinite(masked(ent)) >= 0)) {
      bad = 'missing or non-finite entropy in the actor forward';
      return zeros();
    }
    const res = policyLoss(
      {
        logprobs: logp,
        oldLogprobs: idx.map((i) => b.oldLogprobs![i]),
        advantages: idx.map((i) => b.advantages![i]),
        masks: mbMasks,
        refLogprobs: b.refLogprobs && idx.map((i) => b.refLogprobs![i]),
        entropy: ent,
      },
      {
        clipEpsLow: cfg.actor.clipEpsLow,
        clipEpsHigh: cfg.actor.clipEpsHigh,
        dualClipC: cfg.actor.dualClipC,
        klCoef: cfg.actor.klLoss.use ? cfg.actor.klLoss.coef : 0,
        klEstimator: cfg.actor.klLoss.estimator,
        entropyCoef: cfg.actor.entropyCoef,
        aggregation: cfg.actor.aggregation,
      },
    );
    if (!Number.isFinite(res.loss)) {
      bad = 'non-finite actor loss';
      return zeros();
    }
    for (const [k, v] of Object.entries(res.metrics)) if (ent || k !== 'entropy_loss') pushSample(acc, `actor/${k}`, v);
    return {
      loss: res.loss,
      dLogprobs: batch.map((d, k) => toPositions(res.dLogprobs[k], P[idx[k]], d.inputTokens.length)),
      dEntropy:
        ent && cfg.actor.entropyCoef > 0
          ? batch.map((d, k) => toPositions(res.dEntropy[k], P[idx[k]], d.inputTokens.length))
          : undefined,
    };
  };
  await policy.forwardBackward(
    idx.map((i) => b.datums[i]),
    { type: 'custom', needsEntropy: wantEntropy, fn },
  );
  // A bad mini-batch returned an all-zero gradient, so the buffers hold nothing: skip the optimiser step.
  if (bad) return void b.problems.push(bad);
  const gn = await safeOptimStep(policy, {
    learningRate: lr,
    beta1: cfg.actor.beta1,
    beta2: cfg.actor.beta2,
    eps: cfg.actor.eps,
    weightDecay: cfg.actor.weightDecay,
    gradClipNorm: cfg.actor.gradClip,
  });
  if (typeof gn === 'string') b.problems.push(`actor: ${gn}`);
  else if (gn !== undefined) pushSample(acc, 'actor/grad_norm', gn);
}

/** One critic mini-batch (PPO): clipped value loss, then the critic's own AdamW. */
async function criticUpdate(critic: Trainer, b: UpdateBatch, idx: number[], lr: number, acc: MetricSamples): Promise<void> {
  const { cfg, P, R } = b;
  let bad: string | null = null;
  const fn = (outputs: ForwardOutput[], batch: Datum[]): LossGradient => {
    const zeros = batch.map((d) => new Float32Array(d.inputTokens.length));
    const vals = outputs.map((o, k) => responseSlice(o.values ?? new Float32Array(0), P[idx[k]], R[idx[k]]));
    if (vals.some((v, k) => v.length !== R[idx[k]]) || firstNonFinite(vals) >= 0) {
      bad = 'missing or non-finite values in the critic forward';
      return { loss: 0, dLogprobs: zeros, dValues: zeros };
    }
    const res = valueLoss(
      vals,
      idx.map((i) => b.oldValues![i]),
      idx.map((i) => b.returns![i]),
      idx.map((i) => b.masks[i]),
      { clip: cfg.critic.valueClip, aggregation: cfg.actor.aggregation },
    );
    if (!Number.isFinite(res.loss)) {
      bad = 'non-finite value loss';
      return { loss: 0, dLogprobs: zeros, dValues: zeros };
    }
    pushSample(acc, 'critic/vf_loss', res.metrics.vf_loss);
    pushSample(acc, 'critic/vf_clipfrac', res.metrics.vf_clipfrac);
    return {
      loss: res.loss,
      dLogprobs: zeros,
      dValues: batch.map((d, k) => toPositions(res.dValues[k], P[idx[k]], d.inputTokens.length)),
    };
  };
  await critic.forwardBackward(
    idx.map((i) => b.datums[i]),
    { type: 'custom', fn },
  );
  if (bad) return void b.problems.push(bad);
  const gn = await safeOptimStep(critic, {
    learningRate: lr,
    beta1: cfg.critic.beta1,
    beta2: cfg.critic.beta2,
    eps: cfg.critic.eps,
    weightDecay: cfg.critic.weightDecay,
    gradClipNorm: cfg.critic.gradClip,
  });
  if (typeof gn === 'string') b.problems.push(`critic: ${gn}`);
  else if (gn !== undefined) pushSample(acc, 'critic/grad_norm', gn);
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
