// Learning-rate schedules: linear warmup, then constant or cosine decay to `minLr`.
export interface ScheduleConfig {
  /** Peak learning rate. */
  lr: number;
  warmupSteps: number;
  /** Total steps (cosine decays over totalSteps − warmupSteps). */
  totalSteps: number;
  kind: 'constant' | 'cosine';
  /** Floor of the cosine decay (default 0). */
  minLr?: number;
}

/** Learning rate at a 0-based step. Warmup ramps linearly from lr/warmup to lr. */
export function learningRateAt(step: number, s: ScheduleConfig): number {
  if (step < 0) throw new Error(`schedule: step must be ≥ 0, got ${step}`);
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.lr;
  const min = s.minLr ?? 0;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const p = Math.min(1, (step - s.warmupSteps) / span);
  return min + 0.5 * (s.lr - min) * (1 + Math.cos(Math.PI * p));
}
