#!/usr/bin/env node
// Builds the WebAssembly SIMD kernels (AssemblyScript) into build/kernels*.wasm. Runs on `npm ci`
// (prepare) and at the start of `npm test`. Skips the build when the outputs are newer than the source.
//   kernels.wasm                 SIMD, own memory (one thread)
//   kernels-relaxed.wasm         + relaxed SIMD (fused multiply-add); loaded when the runtime accepts it
//   kernels-shared*.wasm         the same two with an imported shared memory (threads feature): the
//                                main thread and every worker instantiate one module over one memory
//                                (src/engine/kernels/threads.ts)
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const src = 'src/engine/kernels/assembly/index.ts';
/** 4 GiB, the wasm32 limit: a shared memory must declare its maximum (reserved, not committed). */
const MAX_PAGES = 65536;
const shared = ['--importMemory', '--sharedMemory', '--maximumMemory', String(MAX_PAGES)];
const builds = [
  ['build/kernels.wasm', ['simd'], []],
  ['build/kernels-relaxed.wasm', ['simd', 'relaxed-simd'], []],
  ['build/kernels-shared.wasm', ['simd', 'threads'], shared],
  ['build/kernels-shared-relaxed.wasm', ['simd', 'relaxed-simd', 'threads'], shared],
];
if (!existsSync(src)) {
  console.log('build-kernels: no kernel sources yet');
  process.exit(0);
}
const fresh = (f) => existsSync(f) && statSync(f).mtimeMs >= statSync(src).mtimeMs;
if (builds.every(([f]) => fresh(f)) && !process.argv.includes('--force')) {
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
for (const [file, features, extra] of builds) {
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
    ...extra,
  ];
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`build-kernels: asc failed for ${file}`);
    process.exit(r.status ?? 1);
  }
  console.log(`build-kernels: wrote ${file}`);
}
