// Advantage estimators (docs/rl.md). Pure functions over jagged per-sequence arrays: index t of a
// sequence is its t-th RESPONSE token; `mask[t]` is 1 where the policy generated the token.
//
// Masking decision for GAE: the time steps of the MDP are the policy tokens only. An injected
// observation is part of the environment's transition, not a step of the agent, so GAE walks the
// policy tokens backwards and bootstraps from the value at the next POLICY token, jumping over
// injected tokens (their advantage and return are 0 and the critic is not trained on them). The
// reference computes GAE over every response token; with its defaults (γ = λ = 1) both give the
// same advantages at policy tokens. Passing an all-ones mask reproduces the reference exactly.

export type Seq = ArrayLike<number>;

function assertSameLengths(name: string, a: readonly Seq[], b: readonly Seq[]): void {
  if (a.length !== b.length) throw new Error(`${name}: ${a.length} vs ${b.length} sequences`);
  for (let i = 0; i < a.length; i++) {
    if (a[i].length !== b[i].length) {
      throw new Error(`${name}: sequence ${i} has lengths ${a[i].length} and ${b[i].length}`);
    }
  }
}

/** Index of the last policy token of a sequence, or -1 when it has none. */
export function lastPolicyIndex(mask: Seq): number {
  for (let t = mask.length - 1; t >= 0; t--) if (mask[t] !== 0) return t;
  return -1;
}

/** Token-level rewards: the outcome score at the last policy token, 0 elsewhere. */
export function placeOutcomeRewards(scores: readonly number[], masks: readonly Seq[]): Float32Array[] {
  if (scores.length !== masks.length)
    throw new Error(`placeOutcomeRewards: ${scores.length} scores, ${masks.length} masks`);
  return masks.map((m, i) => {
    const r = new Float32Array(m.length);
    const last = lastPolicyIndex(m);
    if (last >= 0) r[last] = scores[i];
    return r;
  });
}

/** Masked mean and (unbiased, as torch/veRL) variance over all sequences. */
export function maskedMeanVar(
  values: readonly Seq[],
  masks: readonly Seq[],
): { mean: number; variance: number; count: number } {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    for (let t = 0; t < values[i].length; t++)
      if (masks[i][t] !== 0) {
        sum += values[i][t];
        count++;
      }
  }
  const mean = count > 0 ? sum / count : 0;
  let ss = 0;
  for (let i = 0; i < values.length; i++) {
    for (let t = 0; t < values[i].length; t++) if (masks[i][t] !== 0) ss += (values[i][t] - mean) ** 2;
  }
  const variance = count > 1 ? ss / (count - 1) : 0;
  return { mean, variance, count };
}

/** (x − mean) / sqrt(var + 1e-8) over masked tokens (veRL's masked_whiten); 0 at masked-out tokens. */
export function maskedWhiten(values: readonly Seq[], masks: readonly Seq[]): Float32Array[] {
  assertSameLengths('maskedWhiten', values, masks);
  const { mean, variance } = maskedMeanVar(values, masks);
  const inv = 1 / Math.sqrt(variance + 1e-8);
  return values.map((v, i) => {
    const out = new Float32Array(v.length);
    for (let t = 0; t < v.length; t++) if (masks[i][t] !== 0) out[t] = (v[t] - mean) * inv;
    return out;
  });
}

export interface GaeOptions {
  gamma: number;
  lambda: number;
  /** Whiten advantages over the batch's policy tokens (veRL does; default true). */
  whiten?: boolean;
}

/**
 * Generalised advantage estimation over the policy tokens of each sequence.
 * rewards/values/masks: [B][T]. Returns advantages and returns [B][T] (0 at injected tokens).
 */
export function gae(
  rewards: readonly Seq[],
  values: readonly Seq[],
  masks: readonly Seq[],
  opts: GaeOptions,
): { advantages: Float32Array[]; returns: Float32Array[] } {
  assertSameLengths('gae rewards/values', rewards, values);
  assertSameLengths('gae rewards/masks', rewards, masks);
  const { gamma, lambda } = opts;
  const advantages: Float32Array[] = [];
  const returns: Float32Array[] = [];
  for (let i = 0; i < rewards.length; i++) {
    const r = rewards[i];
    const v = values[i];
    const m = masks[i];
    const T = r.length;
    const adv = new Float32Array(T);
    const ret = new Float32Array(T);
    let nextValue = 0; // value after the final policy token: the episode has ended
    let lastGae = 0;
    for (let t = T - 1; t >= 0; t--) {
      if (m[t] === 0) {
        if (r[t] !== 0) throw new Error(`gae: sequence ${i} has reward ${r[t]} at injected token ${t}`);
        continue;
      }
      const delta = r[t] + gamma * nextValue - v[t];
      lastGae = delta + gamma * lambda * lastGae;
      adv[t] = lastGae;
      ret[t] = lastGae + v[t];
      nextValue = v[t];
    }
    advantages.push(adv);
    returns.push(ret);
  }
  return { advantages: opts.whiten === false ? advantages : maskedWhiten(advantages, masks), returns };
}

export type GroupId = string | number;

function groupIndices(groupIds: readonly GroupId[]): Map<GroupId, number[]> {
  const groups = new Map<GroupId, number[]>();
  groupIds.forEach((g, i) => {
    const list = groups.get(g);
    if (list) list.push(i);
    else groups.set(g, [i]);
  });
  return groups;
}

export interface GrpoOptions {
  /** Divide by the group's std (GRPO); false = Dr. GRPO style mean-centring only. */
  normByStd: boolean;
  /** Added to the std (reference 1e-6). */
  eps: number;
}

/**
 * GRPO outcome advantages: (r − mean_group) / (std_group + ε), std unbiased as torch.std. A group
 * of one response gets mean 0 and std 1 (as the reference), i.e. its raw score.
 */
export function grpoAdvantages(
  scores: readonly number[],
  groupIds: readonly GroupId[],
  opts: GrpoOptions,
): number[] {
  if (scores.length !== groupIds.length)
    throw new Error(`grpo: ${scores.length} scores, ${groupIds.length} group ids`);
  const out = new Array<number>(scores.length).fill(0);
  for (const idx of groupIndices(groupIds).values()) {
    let mean = 0;
    let std = 1;
    if (idx.length > 1) {
      mean = idx.reduce((s, i) => s + scores[i], 0) / idx.length;
      std = Math.sqrt(idx.reduce((s, i) => s + (scores[i] - mean) ** 2, 0) / (idx.length - 1));
    }
    for (const i of idx) out[i] = opts.normByStd ? (scores[i] - mean) / (std + opts.eps) : scores[i] - mean;
  }
  return out;
}

/** RLOO: r_i − mean of the other responses of the group (= n/(n−1)·(r_i − mean)); a lone response keeps r. */
export function rlooAdvantages(scores: readonly number[], groupIds: readonly GroupId[]): number[] {
  if (scores.length !== groupIds.length)
    throw new Error(`rloo: ${scores.length} scores, ${groupIds.length} group ids`);
  const out = scores.slice();
  for (const idx of groupIndices(groupIds).values()) {
    const n = idx.length;
    if (n < 2) continue;
    const sum = idx.reduce((s, i) => s + scores[i], 0);
    for (const i of idx) out[i] = scores[i] - (sum - scores[i]) / (n - 1);
  }
  return out;
}

/** Broadcasts one advantage per sequence to its policy tokens (0 at injected tokens). */
export function broadcastToTokens(perSequence: readonly number[], masks: readonly Seq[]): Float32Array[] {
  if (perSequence.length !== masks.length)
    throw new Error(`broadcast: ${perSequence.length} values, ${masks.length} masks`);
  return masks.map((m, i) => {
    const out = new Float32Array(m.length);
    for (let t = 0; t < m.length; t++) if (m[t] !== 0) out[t] = perSequence[i];
    return out;
  });
}

/**
 * REINFORCE++: discounted return-to-go of the token rewards (over policy tokens, injected tokens
 * are skipped as in GAE), whitened over the batch. Returns advantages = returns whitened.
 */
export function reinforcePlusPlusAdvantages(
  tokenRewards: readonly Seq[],
  masks: readonly Seq[],
  gamma: number,
): { advantages: Float32Array[]; returns: Float32Array[] } {
  assertSameLengths('reinforce++', tokenRewards, masks);
  const returns = tokenRewards.map((r, i) => {
    const m = masks[i];
    const ret = new Float32Array(r.length);
    let running = 0;
    for (let t = r.length - 1; t >= 0; t--) {
      if (m[t] === 0) {
        if (r[t] !== 0)
          throw new Error(`reinforce++: sequence ${i} has reward ${r[t]} at injected token ${t}`);
        continue;
      }
      running = r[t] + gamma * running;
      ret[t] = running;
    }
    return ret;
  });
  return { advantages: maskedWhiten(returns, masks), returns };
}

/** DAPO dynamic sampling: the group ids whose scores are not all equal (groups with signal). */
export function groupsWithSignal(scores: readonly number[], groupIds: readonly GroupId[]): Set<GroupId> {
  const keep = new Set<GroupId>();
  for (const [g, idx] of groupIndices(groupIds)) {
    const first = scores[idx[0]];
    if (idx.some((i) => scores[i] !== first)) keep.add(g);
  }
  return keep;
}
