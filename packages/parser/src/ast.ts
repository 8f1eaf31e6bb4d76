import type { SourceLocation, SourceRange } from './location.js';

/** A parser directive from the top of the file (`# syntax=`, `# escape=`, `# check=`). */
export interface Directive {
  readonly name: 'syntax' | 'escape' | 'check';
  readonly value: string;
  readonly location: SourceRange;
}

/** A heredoc body attached to a RUN/COPY/ADD instruction. */
export interface Heredoc {
  /** The delimiter word with quotes removed (`EOF` for `<<'EOF'`). */
  readonly name: string;
  /** The body lines, each with its newline, as written (leading tabs kept even with `<<-`). */
  readonly content: string;
  /** False when any part of the delimiter was quoted: the body is not variable-expanded. */
  readonly expand: boolean;
  /** True for `<<-`: later layers strip leading tabs. */
  readonly chomp: boolean;
  /** The file descriptor number written before `<<` (`3<<EOF`), when present. */
  readonly fileDescriptor?: number;
}

/**
 * One instruction as BuildKit's parser reads it: nothing expanded, nothing
 * validated beyond the syntax. `flags` and `args` hold exactly BuildKit's
 * strings for the same text (see FORMAT.md of the conformance vectors).
 */
export interface RawInstruction {
  /** The keyword, lower-cased (`run`, `copy`, also unknown words). */
  readonly keyword: string;
  /** `--name=value` words before the arguments, quotes removed. */
  readonly flags: readonly string[];
  /** Arguments split as BuildKit splits them for this keyword. */
  readonly args: readonly string[];
  /** True when the arguments were written as a JSON array (exec form). */
  readonly json: boolean;
  readonly heredocs: readonly Heredoc[];
  /** The nested instruction of ONBUILD. */
  readonly onbuild?: RawInstruction;
  /** The source text of the instruction, continuation lines included, heredoc bodies excluded. */
  readonly original: string;
  readonly location: SourceLocation;
}

/** A warning found while reading the file (for example an empty continuation line). */
export interface ParseWarning {
  readonly code: string;
  readonly message: string;
  readonly url?: string;
  readonly location: SourceLocation;
}

export interface ParseResult {
  readonly directives: readonly Directive[];
  readonly instructions: readonly RawInstruction[];
  readonly warnings: readonly ParseWarning[];
  /** The escape character in force (`\` or `` ` ``). */
  readonly escapeToken: '\\' | '`';
}
