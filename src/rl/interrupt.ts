// Stopping a run cleanly (issue 20, docs/faults.md): the first SIGINT/SIGTERM asks the run to
// stop; train() checks at step boundaries and abandons a step that is still in its rollouts (the
// models have not changed yet), writes a checkpoint of the last completed step and raises
// RunInterrupted with the command that resumes. A second signal exits at once (the newest
// checkpoint on disk stays the resume point).

export class StepAbandoned extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`step abandoned on ${signal}`);
    this.name = 'StepAbandoned';
  }
}

/** The run stopped on a signal or a fatal error after writing what it could; exit with exitCode. */
export class RunInterrupted extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'RunInterrupted';
  }
}

/** Exit codes of a process ended by a signal, by shell convention (128 + signal number). */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGINT' ? 130 : signal === 'SIGTERM' ? 143 : 1;
}

/** The command line that resumes this run: the current one with --resume (once). */
export function resumeCommand(argv: readonly string[] = process.argv): string {
  const args = argv.slice(2).filter((a) => a !== '--resume');
  // drop a --resume-from and its value: resuming again starts from the newest checkpoint
  const i = args.indexOf('--resume-from');
  if (i >= 0) args.splice(i, 2);
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['search-r1', ...args.map(quote), '--resume'].join(' ');
}

export class RunInterrupt {
  signal: NodeJS.Signals | null = null;
  private readonly waiters: ((s: NodeJS.Signals) => void)[] = [];
  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (this.signal !== null) {
      this.log(`${sig} again: exiting now; resume from the newest checkpoint on disk`);
      process.exit(signalExitCode(sig));
    }
    this.log(
      `${sig}: stopping — the current step is abandoned if still in its rollouts (else finished), then a checkpoint is written (${sig} again exits at once)`,
    );
    this.request(sig);
  };

  constructor(private readonly log: (line: string) => void = (l) => process.stderr.write(l + '\n')) {}

  /** Listens for SIGINT and SIGTERM until dispose(). */
  install(): this {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    return this;
  }

  dispose(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  /** Asks the run to stop (what a signal does; tests call it directly). */
  request(sig: NodeJS.Signals): void {
    if (this.signal !== null) return;
    this.signal = sig;
    for (const w of this.waiters.splice(0)) w(sig);
  }

  /** `work`, or a StepAbandoned rejection as soon as a stop is requested (work goes on unobserved). */
  abandonable<T>(work: Promise<T>): Promise<T> {
    if (this.signal !== null) return Promise.reject(new StepAbandoned(this.signal));
    return new Promise<T>((resolve, reject) => {
      const waiter = (s: NodeJS.Signals) => reject(new StepAbandoned(s));
      this.waiters.push(waiter);
      work.then(
        (v) => {
          this.waiters.splice(this.waiters.indexOf(waiter) >>> 0, 1);
          resolve(v);
        },
        (e: unknown) => {
          this.waiters.splice(this.waiters.indexOf(waiter) >>> 0, 1);
          reject(e);
        },
      );
    });
  }
}
