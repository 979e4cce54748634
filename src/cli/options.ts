// Commander argument parsers shared by the commands: a bad number fails at parse time with the
// flag named, instead of turning into NaN somewhere deep in a run.

/** An integer ≥ `min` (default 0). */
export function integerOption(flag: string, min = 0): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      const what =
        min === 0 ? 'a non-negative integer' : min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
      throw new Error(`--${flag} must be ${what}, got "${v}"`);
    }
    return n;
  };
}

/** A finite number; `positive` also rejects zero and negatives. */
export function numberOption(flag: string, opts: { positive?: boolean } = {}): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || (opts.positive && n <= 0))
      throw new Error(`--${flag} must be ${opts.positive ? 'a positive number' : 'a number'}, got "${v}"`);
    return n;
  };
}
