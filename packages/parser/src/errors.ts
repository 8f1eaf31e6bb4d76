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
  duplicateDirective: rule('PARSE_DUPLICATE_DIRECTIVE', (name: string) => `only one ${name} parser directive can be used`,
    'Keep one of the parser directives at the top of the file and delete the other.'),
  emptyFile: rule('PARSE_EMPTY_FILE', () => 'file with no instructions',
    'A Dockerfile needs at least one instruction, usually FROM.'),
  heredocSyntax: rule('PARSE_HEREDOC_SYNTAX', (detail: string) => detail,
    'Close every quote in the heredoc delimiter, as in <<"EOF" or <<\'EOF\'.'),
  internal: rule('PARSE_INTERNAL', (detail: string) => `internal parser error: ${detail}`,
    'This is a bug in strata; please report it with the Dockerfile that triggered it.'),
  invalidEscape: rule('PARSE_INVALID_ESCAPE', (value: string) => `invalid escape token '${value}' does not match \` or \\`,
    'The escape directive takes a backslash (# escape=\\) or a backtick (# escape=`).'),
  jsonNotStrings: rule('PARSE_JSON_NOT_STRINGS', () => 'when using JSON array syntax, arrays must be comprised of strings only',
    'Quote every element of the JSON array, as in ["echo", "42"], or write the shell form without brackets.'),
  lineTooLong: rule('PARSE_LINE_TOO_LONG', (max: number) => `dockerfile line greater than max allowed size of ${max}`,
    'Split the line with the escape character at line ends, or move the data into a file in the build context.'),
  missingEquals: rule('PARSE_MISSING_EQUALS', (word: string) => `Syntax error - can't find = in ${word}. Must be of the form: name=value`,
    'Write every pair as name=value; quote values that contain spaces.'),
  missingValue: rule('PARSE_MISSING_VALUE', (keyword: string) => `${keyword} must have two arguments`,
    'Give a value: write NAME=value (or the legacy form NAME value).'),
  nestingTooDeep: rule('PARSE_NESTING_TOO_DEEP', (max: number) => `ONBUILD instructions nested more than ${max} levels deep`,
    'ONBUILD takes one ordinary instruction; ONBUILD ONBUILD is not allowed.'),
  unterminatedHeredoc: rule('PARSE_UNTERMINATED_HEREDOC', () => 'unterminated heredoc',
    'End the heredoc with a line that holds only its delimiter word (after leading tabs, for <<-).'),
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
