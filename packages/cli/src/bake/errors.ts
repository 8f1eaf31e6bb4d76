/**
 * Errors of `strata bake` before any build starts: a file that does not
 * parse or evaluate, an unknown target, a bad `--set`, a dependency cycle.
 * Codes are stable (BAKE_*); the command prints `code: message` and exits 1
 * (2 for usage errors).
 */
export type BakeErrorCode =
  | 'BAKE_FILE'
  | 'BAKE_PARSE'
  | 'BAKE_EVAL'
  | 'BAKE_TARGET_UNKNOWN'
  | 'BAKE_OVERRIDE'
  | 'BAKE_CYCLE'
  | 'BAKE_UNSUPPORTED'
  | 'BAKE_INVALID';

export class BakeError extends Error {
  override readonly name = 'BakeError';
  readonly code: BakeErrorCode;

  constructor(code: BakeErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

export function isBakeError(error: unknown): error is BakeError {
  return (error as { name?: unknown } | null)?.name === 'BakeError' && typeof (error as { code?: unknown }).code === 'string';
}
