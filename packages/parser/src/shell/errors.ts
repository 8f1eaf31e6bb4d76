import { DockerfileError, type ErrorRule } from '../errors.js';
import type { Position, SourceLocation } from '../location.js';

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint: string): ErrorRule<A> {
  return { code, message, hint };
}

/**
 * The catalog of shell-word expansion errors (EXPAND_*). Messages are
 * BuildKit's; the thrown error's message adds `failed to process "word": `
 * in front, as BuildKit does.
 */
export const ExpandErrors = {
  badSubstitution: rule('EXPAND_BAD_SUBSTITUTION', () => 'syntax error: bad substitution',
    'Put a variable name between the braces, as in ${NAME} or ${NAME:-default}; write \\$ for a literal dollar sign.'),
  invalidPattern: rule('EXPAND_INVALID_PATTERN', (pattern: string, detail: string) => `invalid pattern (${pattern}) in substitution: ${detail}`,
    'In a #, %, or / pattern a backslash may only escape *, ?, \\, } or /.'),
  missingBrace: rule('EXPAND_MISSING_BRACE', () => "syntax error: missing '}'",
    'Close the substitution with }, or write \\$ for a literal dollar sign.'),
  missingSlash: rule('EXPAND_MISSING_SLASH', () => "syntax error: missing '/' in ${}",
    'Write a replacement as ${NAME/pattern/replacement} or ${NAME//pattern/replacement}.'),
  nestingTooDeep: rule('EXPAND_NESTING_TOO_DEEP', (max: number) => `substitutions nested more than ${max} levels deep`,
    'Split the value over several ARG or ENV instructions.'),
  patternTooLarge: rule('EXPAND_PATTERN_TOO_LARGE', (pattern: string, detail: string) => `pattern (${pattern}) in substitution: ${detail}`,
    'Use a shorter pattern, or fewer wildcards, on a value this long.'),
  requiredVariable: rule('EXPAND_REQUIRED_VARIABLE', (name: string, message: string) => `${name}: ${message}`,
    'Set the variable with ARG or ENV (or pass --build-arg) before this instruction.'),
  unsupportedModifier: rule('EXPAND_UNSUPPORTED_MODIFIER', (modifier: string) => `unsupported modifier (${modifier}) in substitution`,
    'Supported forms: ${N:-w} ${N-w} ${N:+w} ${N+w} ${N:?m} ${N?m} ${N#p} ${N##p} ${N%p} ${N%%p} ${N/p/r} ${N//p/r}.'),
  unterminatedQuote: rule('EXPAND_UNTERMINATED_QUOTE', (kind: 'single' | 'double') => `unexpected end of statement while looking for matching ${kind}-quote`,
    'Close the quote, or escape the quote character to use it literally.'),
} as const;

/**
 * An expansion failure inside the lexer: the catalog entry's code, message
 * and hint, and the UTF-16 range in the word it applies to. Turned into a
 * DockerfileError once, at the API boundary (`toDockerfileError`).
 */
export class ExpandFailure {
  constructor(
    readonly code: string,
    readonly detail: string,
    readonly hint: string | undefined,
    readonly start: number,
    readonly end: number,
  ) {}
}

export function expandFailure<A extends unknown[]>(entry: ErrorRule<A>, args: A, start: number, end: number): ExpandFailure {
  return new ExpandFailure(entry.code, entry.message(...args), entry.hint, start, end);
}

/** Where a word sits in its file, so that errors point into the file rather than into the word. */
export interface WordOrigin {
  readonly file?: string;
  /** The position of the word's first character. */
  readonly start: Position;
}

/** The position `offset` UTF-16 units into `word`, counted from `origin`. */
function positionIn(word: string, offset: number, origin: Position): Position {
  let line = origin.line;
  let lineStart = -1; // offset of the last newline before `offset` within the word
  for (let i = word.indexOf('\n'); i >= 0 && i < offset; i = word.indexOf('\n', i + 1)) {
    line++;
    lineStart = i;
  }
  const column = lineStart < 0 ? origin.column + offset : offset - lineStart;
  return { line, column, offset: origin.offset + offset };
}

const wordStart: Position = { line: 1, column: 1, offset: 0 };

/** Go's `%q` for the word in the message, near enough: JSON string quoting. */
function quoteWord(word: string): string {
  return JSON.stringify(word);
}

export function toDockerfileError(failure: ExpandFailure, word: string, origin?: WordOrigin): DockerfileError {
  const base = origin?.start ?? wordStart;
  const start = Math.min(failure.start, word.length);
  const end = Math.max(start, Math.min(failure.end, word.length));
  const location: SourceLocation = {
    ...(origin?.file === undefined ? {} : { file: origin.file }),
    start: positionIn(word, start, base),
    end: positionIn(word, end, base),
  };
  return new DockerfileError(failure.code, `failed to process ${quoteWord(word)}: ${failure.detail}`, failure.hint, { location });
}
