import type { Token } from 'moo';
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
  /** The keyword, lower-cased as Go does (`run`, `copy`, also unknown words; `''` for an empty logical line). */
  readonly keyword: string;
  /**
   * `--name=value` words before the arguments, quotes and escapes removed. As
   * in BuildKit, which reads flags byte by byte, a non-ASCII character is one
   * character per UTF-8 byte (`é` is `Ã©`).
   */
  readonly flags: readonly string[];
  /** Arguments split as BuildKit splits them for this keyword. */
  readonly args: readonly string[];
  /** True when the arguments were written as a JSON array (exec form). */
  readonly json: boolean;
  /** RUN/COPY/ADD heredocs in order; under ONBUILD both the ONBUILD and its nested instruction carry them. */
  readonly heredocs: readonly Heredoc[];
  /** The nested instruction of ONBUILD. */
  readonly onbuild?: RawInstruction;
  /**
   * The source text of the instruction as written, from its keyword to the
   * end of its last continuation line: escapes, newlines and comment lines
   * between continuation lines included, heredoc bodies excluded.
   */
  readonly original: string;
  /**
   * BuildKit's `Node.Original`: the logical line, continuation lines joined
   * (escape and newline removed, comment lines dropped), from the keyword on.
   */
  readonly logicalLine: string;
  /**
   * From the first character of the keyword to the end of the last line of
   * the instruction (its last heredoc terminator when it has heredocs);
   * `end` is exclusive.
   */
  readonly location: SourceLocation;
}

/** A warning found while reading the file (for example an empty continuation line). */
export interface ParseWarning {
  /** The check's name, as BuildKit's lint rules name it (`NoEmptyContinuation`). */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
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

// ---------------------------------------------------------------------------
// Builders called by the nearley grammars' postprocessors (src/grammar/*.ne).
// The grammars hand over moo tokens; these turn them into plain values, so the
// generated code never builds untyped objects itself.

/** The flags of a line, newest first (a cons list: appending is O(1) in the Earley parser). */
export interface FlagList {
  readonly prev: FlagList | null;
  readonly token: Token;
}

/** What follows the keyword: flags, whether a bare `--` ended them, and the remaining text. */
export interface HeadTail {
  readonly flags: FlagList | null;
  readonly end: boolean;
  readonly rest: Token | null;
}

/** A logical line split into keyword, flags (quotes removed) and the rest (untrimmed). */
export interface InstructionHead {
  readonly keyword: string;
  readonly flags: string[];
  /** The text after the flags; its offset in the line is `restOffset`. */
  readonly rest: string;
  readonly restOffset: number;
}

export function headTail(flags: FlagList | null, end: boolean, rest: Token | null): HeadTail {
  return { flags, end, rest };
}

export function flagList(prev: FlagList | null, token: Token): FlagList {
  return { prev, token };
}

export function instructionHead(keyword: Token | null, tail: HeadTail): InstructionHead {
  const flags: string[] = [];
  for (let node = tail.flags; node !== null; node = node.prev) flags.push(node.token.value);
  flags.reverse();
  return {
    keyword: keyword === null ? '' : keyword.text,
    flags,
    rest: tail.rest === null ? '' : tail.rest.text,
    restOffset: tail.rest === null ? -1 : tail.rest.offset,
  };
}

/** A JSON value as the exec form sees it: a string, or anything else. */
export type JsonValue = { readonly kind: 'string'; readonly value: string } | { readonly kind: 'other' };

export interface JsonList {
  readonly prev: JsonList | null;
  readonly value: JsonValue;
}

/** A JSON array: its elements when all are strings, else `null` (BuildKit rejects such arrays). */
export interface JsonArray {
  readonly strings: string[] | null;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Decodes a JSON string token; lone surrogate escapes become U+FFFD, as Go's decoder writes them. */
export function jsonString(token: Token): JsonValue {
  const value = JSON.parse(token.text) as string;
  return { kind: 'string', value: token.text.includes('\\u') ? value.replace(LONE_SURROGATE, '\ufffd') : value };
}

export function jsonOther(): JsonValue {
  return { kind: 'other' };
}

export function jsonList(prev: JsonList | null, value: JsonValue): JsonList {
  return { prev, value };
}

export function jsonArray(list: JsonList | null): JsonArray {
  const strings: string[] = [];
  for (let node = list; node !== null; node = node.prev) {
    if (node.value.kind !== 'string') return { strings: null };
    strings.push(node.value.value);
  }
  strings.reverse();
  return { strings };
}
