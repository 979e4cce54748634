// `npm run bench`: every benchmark, one after another, each in its own process (so peak-RSS and
// timing figures of one do not leak into the next). Each prints its own side-by-side table with
// the named peer and the ratio; this file only sequences them. `npm run bench -- retrieval engine`
// runs a subset.
import { spawnSync } from 'node:child_process';

const BENCHES: { name: string; file: string; peer: string }[] = [
  { name: 'protocol-data', file: 'bench/protocol-data.ts', peer: 'naive JSON.parse reader, Python em_check' },
  { name: 'retrieval', file: 'bench/retrieval.ts', peer: 'LanceDB FTS, SQLite FTS5' },
  { name: 'engine', file: 'bench/engine.ts', peer: 'onnxruntime MatMul, llama.cpp' },
  { name: 'dense', file: 'bench/dense.ts', peer: 'node-llama-cpp embeddings, FAISS IndexFlatIP' },
  { name: 'engine-io', file: 'bench/engine-io.ts', peer: 'naive whole-file safetensors read' },
  { name: 'rl-step', file: 'bench/rl-step.ts', peer: 'generation without stop sequences (the reference)' },
  { name: 'eval', file: 'bench/eval.ts', peer: 'in-process engine vs serve-model over HTTP' },
  { name: 'tinker', file: 'bench/tinker.ts', peer: 'in-process engine vs the Tinker API on loopback' },
];

const wanted = process.argv.slice(2);
const chosen = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
if (chosen.length === 0) {
  console.error(
    `unknown benchmark(s) ${wanted.join(', ')}; choose from ${BENCHES.map((b) => b.name).join(', ')}`,
  );
  process.exit(1);
}
const failed: string[] = [];
for (const b of chosen) {
  console.log(`\n===== ${b.name} (${b.file}; peer: ${b.peer}) =====`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', b.file], { stdio: 'inherit' });
  console.log(`===== ${b.name}: exit ${r.status} in ${((Date.now() - t0) / 1000).toFixed(1)} s =====`);
  if (r.status !== 0) failed.push(b.name);
}
if (failed.length) {
  console.error(`failed: ${failed.join(', ')}`);
  process.exit(1);
}
