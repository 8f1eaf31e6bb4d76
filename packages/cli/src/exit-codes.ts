/** Process exit codes; stable, documented in the cli README. */
export const ExitCode = {
  ok: 0,
  /** The command ran and found a problem (a failed build, a lint error). */
  failure: 1,
  /** The command line itself was wrong. */
  usage: 2,
  /** Stopped by SIGINT (128 + 2) or SIGTERM (128 + 15), as a shell reports a process those signals ended. */
  interrupted: 130,
  terminated: 143,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
