// `search-r1 dashboard [RUNS_DIR…]`: the live dashboard over run folders, and `search-r1 report RUN`:
// the same view as one static HTML file (docs/dashboard.md).
import type { Command } from 'commander';
import { relative } from 'node:path';
import { integerOption } from '../options.ts';
import { startDashboard } from '../../dashboard/server.ts';
import { writeStaticReport } from '../../dashboard/snapshot.ts';

export const DEFAULT_DASHBOARD_PORT = 6006;

/** The command a user runs to watch a run (printed by `train` and `eval`). */
export function dashboardCommand(runDir: string): string {
  const rel = relative(process.cwd(), runDir) || '.';
  const arg = rel.startsWith('..') ? runDir : rel;
  return `search-r1 dashboard ${/^[\w./-]+$/.test(arg) ? arg : JSON.stringify(arg)}`;
}

export function register(program: Command): void {
  program
    .command('dashboard')
    .description(
      'Watch runs as they write: curves, validation and eval tables, trajectories, config and checkpoints (local web app)',
    )
    .argument('[runs...]', 'run folders or folders of runs (training, eval and demo runs)', ['runs'])
    .option('--port <n>', 'port (0: any free one)', integerOption('port'), DEFAULT_DASHBOARD_PORT)
    .option('--host <addr>', 'address to listen on (default loopback only)', '127.0.0.1')
    .action(async (runs: string[], o: { port: number; host: string }) => {
      const d = await startDashboard({ roots: runs, port: o.port, host: o.host });
      process.stderr.write(`dashboard: ${d.url} (over ${runs.join(', ')}; Ctrl-C to stop)\n`);
      await new Promise<void>((done) => {
        const stop = () => void d.close().then(done);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
  program
    .command('report')
    .description('Write the dashboard view of a run (training, eval or demo) as one static HTML file')
    .argument('<run>', 'run folder')
    .option('--out <file>', 'output file (default RUN/dashboard.html)')
    .action((run: string, o: { out?: string }) => {
      const path = writeStaticReport(run, o.out);
      process.stderr.write(`report: ${path}\n`);
    });
}
