import { Model } from '/work/main/src/engine/model.ts';
import { presetConfig } from '/work/main/src/engine/config.ts';
import { EmbeddedTrainer } from '/work/main/src/policy/embedded.ts';
const cfg = presetConfig('reference');
const tok = { eosTokenIds: [0], vocabSize: 512, encode: () => [], decode: () => '', applyChatTemplate: () => null };
const tr = EmbeddedTrainer.fromModel(new Model(cfg, { seed: 1 }), tok);
const data = Array.from({ length: 4 }, (_, i) => { const t = Array.from({ length: 129 }, (_, k) => (k * 7 + i * 13) % 512); return { inputTokens: t.slice(0, -1), targetTokens: t.slice(1) }; });
const h = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClipNorm: 1 };
for (let i = 0; i < 2; i++) { await tr.forwardBackward(data, { type: 'cross_entropy' }); await tr.optimStep(h); }
const t0 = performance.now(); const c0 = process.cpuUsage(); const N = 8;
for (let i = 0; i < N; i++) { await tr.forwardBackward(data, { type: 'cross_entropy' }); await tr.optimStep(h); }
const dt = (performance.now() - t0) / 1000;
const cu = process.cpuUsage(c0); console.log("train tok/s wall", (N * 512 / dt).toFixed(0), "per cpu-s", (N * 512 / ((cu.user + cu.system) / 1e6)).toFixed(0));
