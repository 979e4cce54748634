#!/usr/bin/env node
// Builds the WebAssembly SIMD kernels (AssemblyScript) into build/kernels.wasm. Runs on `npm ci`
// (prepare) and at the start of `npm test`. Skips the build when the output is newer than the source.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const src = 'src/engine/kernels/assembly/index.ts';
const out = 'build/kernels.wasm';
// The relaxed-SIMD twin (fused multiply-add); loaded when the runtime accepts it.
const outRelaxed = 'build/kernels-relaxed.wasm';
if (!existsSync(src)) {
  console.log('build-kernels: no kernel sources yet');
  process.exit(0);
}
const fresh = (f) => existsSync(f) && statSync(f).mtimeMs >= statSync(src).mtimeMs;
if (fresh(out) && fresh(outRelaxed) && !process.argv.includes('--force')) {
  process.exit(0);
}
mkdirSync('build', { recursive: true });
const require = createRequire(import.meta.url);
let asc;
try {
  asc = require.resolve('assemblyscript/bin/asc.js');
} catch {
  console.error(
    'build-kernels: assemblyscript is not installed (devDependency); the engine will use its plain-TS kernels',
  );
  process.exit(0);
}
for (const [file, features] of [
  [out, ['simd']],
  [outRelaxed, ['simd', 'relaxed-simd']],
]) {
  const args = [
    asc,
    src,
    '-o',
    file,
    '-O3',
    '--noAssert',
    '--runtime',
    'minimal',
    ...features.flatMap((f) => ['--enable', f]),
  ];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-kernels: asc failed for ${file}`);
    process.exit(r.status ?? 1);
  }
  console.log(`build-kernels: wrote ${file}`);
}
