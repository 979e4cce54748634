// Per-step metrics with the reference's names (docs/rl.md), the metrics.jsonl writer and the live
// progress line.
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Trajectory } from '../rollout/types.ts';

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** Rollout-side metrics of a batch of trajectories. */
export function rolloutMetrics(trajs: readonly Trajectory[]): Record<string, number> {
  const lens = trajs.map((t) => t.responseTokens.length);
  const policyTokens = trajs.reduce((a, t) => a + t.policyMask.reduce((s, m) => s + m, 0), 0);
  const allTokens = lens.reduce((a, b) => a + b, 0);
  return {
    'response_length/mean': mean(lens),
    'response_length/max': lens.length ? Math.max(...lens) : 0,
    'response_length/min': lens.length ? Math.min(...lens) : 0,
    'response_length/clip_ratio': mean(trajs.map((t) => (t.finish === 'length' ? 1 : 0))),
    'prompt_length/mean': mean(trajs.map((t) => t.promptTokens.length)),
    'env/number_of_actions/mean': mean(trajs.map((t) => t.numTurns)),
    'env/number_of_actions/max': trajs.length ? Math.max(...trajs.map((t) => t.numTurns)) : 0,
    'env/finish_ratio': mean(trajs.map((t) => (t.finish === 'answer' ? 1 : 0))),
    'env/number_of_valid_action': mean(trajs.map((t) => t.numValidActions)),
    'env/ratio_of_valid_action': mean(
      trajs.map((t) => (t.numTurns > 0 ? t.numValidActions / t.numTurns : 0)),
    ),
    'env/number_of_valid_search': mean(trajs.map((t) => t.numSearches)),
    'state_tokens/total': policyTokens,
    'state_tokens/coverage': allTokens > 0 ? policyTokens / allTokens : 0,
  };
}

/** Appends one JSON line per step. */
export class MetricsLog {
  constructor(readonly path: string) {}
  append(record: Record<string, number>): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
  /**
   * Keeps only lines with step ≤ `step` (a resumed run rewrites what came after its checkpoint).
   * A torn last line (a run killed mid-write, a full disk) is dropped and reported through `log`;
   * an unreadable line before the last one is an error naming the file and line (nothing is
   * dropped silently).
   */
  truncateAfter(step: number, log: (line: string) => void = () => {}): void {
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path, 'utf8');
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const kept: string[] = [];
    lines.forEach((l, i) => {
      if (l.trim().length === 0) return;
      let rec: { step?: unknown };
      try {
        rec = JSON.parse(l) as { step?: unknown };
      } catch (e) {
        if (i === lines.length - 1) {
          log(
            `${this.path}:${i + 1}: dropped a torn last line (${l.length} characters, ` +
              `${text.endsWith('\n') ? 'unparsable' : 'no newline'}) left by an interrupted run`,
          );
          return;
        }
        throw new Error(
          `${this.path}:${i + 1}: not a JSON metrics record (${(e as Error).message}); fix or remove the line`,
        );
      }
      if (typeof rec.step !== 'number')
        throw new Error(`${this.path}:${i + 1}: metrics record without a numeric "step"`);
      if (rec.step <= step) kept.push(l);
    });
    // temp + rename: a kill during the rewrite leaves the old file, never a half-written one
    writeFileSync(`${this.path}.tmp`, kept.map((l) => l + '\n').join(''));
    renameSync(`${this.path}.tmp`, this.path);
  }
}

export function readMetrics(path: string): Record<string, number>[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number>);
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?';
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  return h > 0
    ? `${h}h${String(m % 60).padStart(2, '0')}m`
    : `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

/** One progress line: step, reward, EM, response length, searches, tokens/s, ETA. */
export function progressLine(m: Record<string, number>, totalSteps: number, secondsPerStep: number): string {
  const f = (k: string, d = 3) => (m[k] === undefined ? '-' : m[k].toFixed(d));
  const eta = secondsPerStep * (totalSteps - m.step);
  const val = Object.keys(m).find((k) => k.startsWith('val/test_score/'));
  return (
    `step ${m.step}/${totalSteps} | reward ${f('critic/score/mean')} | EM ${f('train/em')} | len ${f('response_length/mean', 1)}` +
    ` | searches ${f('env/number_of_valid_search', 2)} | ${f('perf/tokens_per_s', 0)} tok/s | ETA ${fmtDuration(eta)}` +
    (val ? ` | val ${m[val].toFixed(3)}` : '') +
    (m['train/skipped'] ? ' | SKIPPED' : '')
  );
}
