// The retrieved-token mask through the embedded engine: every per-token input of the RL loss at
// injected positions (old log-probs, reference log-probs, advantages) is perturbed; the parameter
// gradients must stay bit-identical. With state_masking = false they must change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import type { Datum, ForwardOutput } from '../../src/core/trainer.ts';
import { policyLoss } from '../../src/rl/losses.ts';
import { lossMask, responseSlice, toPositions, trajectoryDatum } from '../../src/rl/batch.ts';
import { kbTask, tinyConfig } from './kb-learning.ts';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

async function paramGrads(stateMasking: boolean, perturb: boolean): Promise<Float32Array[]> {
  const task = kbTask();
  const tok = task.tok;
  const t = EmbeddedTrainer.create(tinyConfig(tok.vocabSize), tok, { seed: 4 });
  const prompt = tok.encode('Question: code of k3?\n');
  const parts: [string, boolean][] = [
    ['<search> k3 </search>', true],
    ['\n\n<information>Doc 1(Title: record) code c1 c1\n</information>\n\n', false],
    ['<answer> c1 </answer>', true],
  ];
  const response: number[] = [];
  const policyMask: number[] = [];
  for (const [text, policy] of parts) {
    for (const id of tok.encode(text)) {
      response.push(id);
      policyMask.push(policy ? 1 : 0);
    }
  }
  const pm = Uint8Array.from(policyMask);
  const mask = lossMask(pm, stateMasking);
  const datum = trajectoryDatum({ promptTokens: prompt, responseTokens: response }, mask);
  const R = response.length;
  const r = rng(7);
  const old = Float32Array.from({ length: R }, () => -1 - r());
  const ref = Float32Array.from({ length: R }, () => -1 - r());
  const adv = Float32Array.from({ length: R }, () => r() - 0.5);
  if (perturb) {
    for (let j = 0; j < R; j++) {
      if (pm[j] === 0) {
        old[j] += 3 * (r() - 0.5);
        ref[j] -= 2 * r();
        adv[j] += 5 * (r() - 0.5);
      }
    }
  }
  await t.forwardBackward([datum], {
    type: 'custom',
    needsEntropy: true,
    fn: (outs: ForwardOutput[], batch: Datum[]) => {
      const lp = responseSlice(outs[0].logprobs, prompt.length, R);
      const ent = responseSlice(outs[0].entropy!, prompt.length, R);
      const res = policyLoss(
        {
          logprobs: [lp],
          entropy: [ent],
          oldLogprobs: [old],
          refLogprobs: [ref],
          advantages: [adv],
          masks: [mask],
        },
        {
          clipEpsLow: 0.2,
          clipEpsHigh: 0.28,
          dualClipC: 3,
          klCoef: 0.01,
          klEstimator: 'low_var_kl',
          entropyCoef: 0.01,
          aggregation: 'token-mean',
        },
      );
      const N = batch[0].inputTokens.length;
      return {
        loss: res.loss,
        dLogprobs: [toPositions(res.dLogprobs[0], prompt.length, N)],
        dEntropy: [toPositions(res.dEntropy[0], prompt.length, N)],
      };
    },
  });
  return t.model.params.map((p) => Float32Array.from(p.g!.data as Float32Array));
}

test('engine: perturbing the loss inputs at injected positions leaves every parameter gradient bit-identical', async () => {
  const a = await paramGrads(true, false);
  const b = await paramGrads(true, true);
  assert.equal(a.length, b.length);
  let nonZero = 0;
  a.forEach((g, i) => {
    assert.ok(Buffer.from(g.buffer).equals(Buffer.from(b[i].buffer)), `parameter ${i} gradient differs`);
    nonZero += g.some((x) => x !== 0) ? 1 : 0;
  });
  assert.ok(nonZero > a.length / 2, 'the gradient is not trivially zero');
  const c = await paramGrads(false, false);
  const d = await paramGrads(false, true);
  assert.ok(
    c.some((g, i) => !Buffer.from(g.buffer).equals(Buffer.from(d[i].buffer))),
    'without state masking the injected positions matter',
  );
});
