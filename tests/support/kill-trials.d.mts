/** Types for kill-trials.mjs (imported by tests/security-kill.test.ts and bench/kill-build.mjs). */
export interface KillTrialCounts {
  trials: number;
  killedMidway: number;
  finishedFirst: number;
  stepsCompletedBeforeKill: number;
  verifyClean: number;
  nextOk: number;
  stepsLost: number;
  leftovers: number;
}

export interface KillTrialOptions {
  /** bin/strata of the checkout under test. */
  bin: string;
  /** An OCI archive of busybox (scripts/test-images), loaded as the builds' base. */
  testImageArchive: string;
  trials: number;
  seed?: number;
  /** Relative weights of the commands killed. */
  kinds?: Partial<Record<'build' | 'pull' | 'push', number>>;
  /** Where the trials' stores live (default /dev/shm). */
  tmp?: string;
  onTrial?: (trial: Record<string, unknown>) => void;
}

export declare function runKillTrials(options: KillTrialOptions): Promise<{
  counts: Partial<Record<'build' | 'pull' | 'push', KillTrialCounts>>;
  failures: Record<string, unknown>[];
  calibrationMs: Record<string, number | undefined>;
}>;
