// zstd for Tinker's compressed forward_backward bodies (Content-Encoding: zstd, docs/tinker-protobuf.md).
// Node 20 has no zstd in zlib; @bokuweb/zstd-wasm ships the reference C library as WebAssembly inside
// its npm package (no install-time download), for both directions.
import { init, compress, decompress } from '@bokuweb/zstd-wasm';

let ready: Promise<void> | null = null;

/** Loads the wasm module once. */
export function zstdReady(): Promise<void> {
  ready ??= init();
  return ready;
}

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export function isZstdFrame(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && MAGIC.every((b, i) => bytes[i] === b);
}

export async function zstdCompress(bytes: Uint8Array, level = 3): Promise<Uint8Array> {
  await zstdReady();
  return compress(bytes, level);
}

/**
 * Decompresses one zstd frame of at most `maxBytes` output. Throws a message fit for a 400 when the
 * body is not zstd, is corrupt, or would expand past the limit.
 */
export async function zstdDecompress(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  await zstdReady();
  if (!isZstdFrame(bytes)) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`not a zstd frame (starts ${head || '(empty)'}, zstd starts 28 b5 2f fd)`);
  }
  // The frame header usually states the content size; when it does not, grow the output buffer.
  let capacity = Math.min(maxBytes, Math.max(1 << 16, bytes.length * 8));
  for (;;) {
    try {
      const out = decompress(bytes, { defaultHeapSize: capacity });
      if (out.length > maxBytes) throw new Error(`expands past the ${maxBytes}-byte body limit`);
      return out;
    } catch (err) {
      const msg = (err as Error).message;
      // zstd's dstSize_tooSmall is error code 70 (returned negated).
      if (/code -70\b/.test(msg) && capacity < maxBytes) {
        capacity = Math.min(maxBytes, capacity * 4);
        continue;
      }
      throw new Error(`corrupt zstd frame (${msg.replace('Failed to compress', 'zstd failed')})`);
    }
  }
}
