#!/usr/bin/env node
// Builds the WebAssembly SIMD kernels (AssemblyScript) into build/kernels.wasm. Runs on `npm ci`
// (prepare) and at the start of `npm test`. Skips the build when the output is newer than the source.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const src = 'src/engine/kernels/assembly/index.ts';
const out = 'build/kernels.wasm';
if (!existsSync(src)) {
  console.log('build-kernels: no kernel sources yet');
  process.exit(0);
}
if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs && !process.argv.includes('--force')) {
  process.exit(0);
}
mkdirSync('build', { recursive: true });
const require = createRequire(import.meta.url);
let asc;
try {
  asc = require.resolve('assemblyscript/bin/asc.js');
} catch {
  console.error('build-kernels: assemblyscript is not installed (devDependency); the engine will use its plain-TS kernels');
  process.exit(0);
}
const args = [asc, src, '-o', out, '-O3', '--noAssert', '--enable', 'simd', '--runtime', 'minimal'];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('build-kernels: asc failed');
  process.exit(r.status ?? 1);
}
console.log(`build-kernels: wrote ${out}`);
