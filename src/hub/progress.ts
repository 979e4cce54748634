// Download progress on stderr: a bar per file on a terminal (cli-progress), else one line when a
// download starts and one when it ends (logs stay readable).
import cliProgress from 'cli-progress';

export interface Progress {
  start(label: string, total: number | null, already: number): void;
  advance(bytes: number): void;
  note(message: string): void;
  stop(): void;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

export function makeProgress(
  enabled: boolean,
  log: (m: string) => void = (m) => process.stderr.write(`${m}\n`),
): Progress {
  let bar: cliProgress.SingleBar | null = null;
  let label = '';
  let done = 0;
  let total: number | null = null;
  const t0 = { v: 0 };
  return {
    start(l, t, already) {
      label = l;
      total = t;
      done = already;
      t0.v = Date.now();
      if (enabled && t !== null) {
        bar = new cliProgress.SingleBar(
          { format: `${l} [{bar}] {percentage}% {value}/{total} bytes, {eta}s left`, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(t, already);
      } else {
        log(
          `hub: downloading ${l}${t !== null ? ` (${mb(t)})` : ''}${already > 0 ? `, resuming at ${mb(already)}` : ''}`,
        );
      }
    },
    advance(bytes) {
      done += bytes;
      bar?.update(done);
    },
    note(message) {
      if (bar) bar.stop();
      bar = null;
      log(`hub: ${label}: ${message}`);
    },
    stop() {
      if (bar) bar.stop();
      else {
        const s = (Date.now() - t0.v) / 1000;
        log(`hub: ${label}: ${mb(done)}${total !== null ? ` of ${mb(total)}` : ''} in ${s.toFixed(1)} s`);
      }
      bar = null;
    },
  };
}

/** No output at all (library callers, tests). */
export const silentProgress: Progress = { start() {}, advance() {}, note() {}, stop() {} };
