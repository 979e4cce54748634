// Temp files for data tests (made inside tests, removed after).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

export function tempDir(): {
  dir: string;
  file: (name: string, content: string | Buffer, gzip?: boolean) => string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'search-r1-data-'));
  return {
    dir,
    file(name, content, gzip = false) {
      const p = join(dir, name);
      writeFileSync(p, gzip ? gzipSync(content) : content);
      return p;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** `../shared/data/<name>` relative to the repository root (CI has shared/ beside the clone). */
export function sharedData(name: string): string {
  return fileURLToPath(new URL(`../../../shared/data/${name}`, import.meta.url));
}
