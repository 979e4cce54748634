// profile only the training loop: wrap kernels with timers
import { Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config.ts';
import { EmbeddedTrainer } from '../../src/policy/embedded.ts';
import { defaultKernels } from '../../src/engine/kernels/index.ts';
const K = defaultKernels() as unknown as Record<string, unknown>;
const times = new Map<string, number>();
for (const name of Object.keys(K)) {
  const f = K[name];
  if (typeof f !== 'function') continue;
  K[name] = (...a: unknown[]) => { const t = performance.now(); const r = (f as (...x: unknown[]) => unknown)(...a); times.set(name, (times.get(name) ?? 0) + performance.now() - t); return r; };
}
const cfg = presetConfig('reference');
const tok = { eosTokenIds: [0], vocabSize: 512, encode: () => [], decode: () => '', applyChatTemplate: () => null };
const tr = EmbeddedTrainer.fromModel(new Model(cfg, { seed: 1 }), tok);
const data = Array.from({ length: 4 }, (_, i) => { const t = Array.from({ length: 129 }, (_, k) => (k * 7 + i * 13) % 512); return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) }; });
const h = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 1 };
for (let i = 0; i < 2; i++) { await tr.forwardBackward(data, { type: 'cross_entropy' }); await tr.optimStep(h); }
times.clear();
const t0 = performance.now(); const N = 6;
for (let i = 0; i < N; i++) { await tr.forwardBackward(data, { type: 'cross_entropy' }); await tr.optimStep(h); }
const tot = performance.now() - t0;
let ker = 0; for (const v of times.values()) ker += v;
console.log('total ms/step', (tot / N).toFixed(1), 'kernels', (ker / N).toFixed(1), 'other JS', ((tot - ker) / N).toFixed(1));
console.log([...times].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / N).toFixed(1)}ms ${(100 * v / tot).toFixed(1)}%`).join('\n'));
