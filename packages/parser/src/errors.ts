import type { SourceLocation } from './location.js';

/**
 * The catalog of parser and expansion errors. Codes are stable: callers branch
 * on `code`, never on message text. Every user-facing error of this package is
 * built from an entry here, so messages and hints are not assembled ad hoc.
 * Entries are added by the modules that raise them (lexer, instructions,
 * shell expansion); keep them sorted by code.
 */
export interface ErrorRule<A extends unknown[]> {
  readonly code: string;
  readonly message: (...args: A) => string;
  readonly hint?: string;
}

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint?: string): ErrorRule<A> {
  return hint === undefined ? { code, message } : { code, message, hint };
}

export const ParserErrors = {
  internal: rule('PARSE_INTERNAL', (detail: string) => `internal parser error: ${detail}`,
    'This is a bug in strata; please report it with the Dockerfile that triggered it.'),
} as const;

export interface DockerfileErrorOptions {
  readonly location?: SourceLocation;
  /** The source line the error points at, for rendering a caret. */
  readonly sourceLine?: string;
  readonly cause?: unknown;
}

/** The only exception type this package throws for bad input. */
export class DockerfileError extends Error {
  override readonly name = 'DockerfileError';
  readonly code: string;
  readonly hint: string | undefined;
  readonly location: SourceLocation | undefined;
  readonly sourceLine: string | undefined;

  constructor(code: string, message: string, hint?: string, options: DockerfileErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.location = options.location;
    this.sourceLine = options.sourceLine;
  }
}

/** Builds a DockerfileError from a catalog entry. */
export function dockerfileError<A extends unknown[]>(
  entry: ErrorRule<A>,
  args: A,
  options: DockerfileErrorOptions = {},
): DockerfileError {
  return new DockerfileError(entry.code, entry.message(...args), entry.hint, options);
}

/** True for a DockerfileError, also one from another installed copy of this package. */
export function isDockerfileError(value: unknown): value is DockerfileError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === 'DockerfileError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
