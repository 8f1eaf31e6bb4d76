import type { Directive } from './ast.js';
import type { SourceRange } from './location.js';
import { ParserErrors, dockerfileError, type DockerfileError } from './errors.js';
import { trimLeftGoSpace } from './go-text.js';

/** The parser directives BuildKit knows; any other `# key=value` comment ends the directives. */
export type DirectiveName = Directive['name'];

// Go regexp: `\s` is [\t\n\f\r ] and `.` is anything but \n (JavaScript's `.` also stops at \r).
const DIRECTIVE = /^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*([^\n]+?)[\t\n\f\r ]*$/;
const KNOWN = new Set<string>(['syntax', 'escape', 'check']);

/** What `DirectiveReader.readLine` found on one line. */
export type DirectiveLine =
  | { readonly kind: 'none' }
  | { readonly kind: 'directive'; readonly name: DirectiveName; readonly value: string }
  | { readonly kind: 'duplicate'; readonly name: DirectiveName };

/**
 * BuildKit's `DirectiveParser`: fed the lines at the top of a file one by one,
 * it recognises `<comment> key = value` directives until the first line that
 * is not one (a blank line, another comment, an instruction); after that it
 * recognises nothing. Keys are case-insensitive and reported lower-cased.
 */
export class DirectiveReader {
  private done = false;
  private readonly seen = new Set<string>();

  constructor(private readonly comment: string = '#') {}

  get finished(): boolean {
    return this.done;
  }

  readLine(line: string): DirectiveLine {
    if (this.done) return { kind: 'none' };
    if (!line.startsWith(this.comment)) return this.stop();
    const match = DIRECTIVE.exec(trimLeftGoSpace(line.slice(this.comment.length)));
    if (match === null) return this.stop();
    const name = (match[1] as string).toLowerCase();
    if (!KNOWN.has(name)) return this.stop();
    const known = name as DirectiveName;
    if (this.seen.has(known)) return { kind: 'duplicate', name: known };
    this.seen.add(known);
    return { kind: 'directive', name: known, value: match[2] as string };
  }

  private stop(): DirectiveLine {
    this.done = true;
    return { kind: 'none' };
  }
}

function lineRange(line: number, offset: number, length: number): SourceRange {
  return { start: { line, column: 1, offset }, end: { line, column: length + 1, offset: offset + length } };
}

function stripBom(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

interface ScanOptions {
  readonly comment: string;
  /** Lines already consumed before `text` (a shebang), for line numbers and offsets. */
  readonly firstLine: number;
  readonly firstOffset: number;
}

function scanDirectives(text: string, options: ScanOptions): { directives: Directive[]; error?: DockerfileError } {
  const reader = new DirectiveReader(options.comment);
  const directives: Directive[] = [];
  let offset = 0;
  let line = options.firstLine;
  while (offset < text.length && !reader.finished) {
    const newline = text.indexOf('\n', offset);
    const end = newline < 0 ? text.length : newline;
    let content = text.slice(offset, end);
    if (content.endsWith('\r')) content = content.slice(0, -1); // bufio.ScanLines drops one \r
    line++;
    const found = reader.readLine(content);
    const range = lineRange(line, options.firstOffset + offset, content.length);
    if (found.kind === 'duplicate') {
      return { directives, error: dockerfileError(ParserErrors.duplicateDirective, [found.name], { location: range, sourceLine: content }) };
    }
    if (found.kind === 'directive') directives.push({ name: found.name, value: found.value, location: range });
    offset = newline < 0 ? text.length : newline + 1;
  }
  return { directives };
}

/**
 * The parser directives at the top of a Dockerfile (`# syntax=`, `# escape=`,
 * `# check=`), without parsing the rest. A directive given twice throws
 * PARSE_DUPLICATE_DIRECTIVE. BuildKit: `DirectiveParser.ParseAll`.
 */
export function parseDirectives(text: string): Directive[] {
  const { directives, error } = scanDirectives(stripBom(text), { comment: '#', firstLine: 0, firstOffset: 0 });
  if (error !== undefined) throw error;
  return directives;
}

/** A directive found by `detectSyntax`/`findDirective`. */
export interface FoundDirective {
  /** The value up to its first space (`docker/dockerfile:1` of `docker/dockerfile:1 // comment`). */
  readonly ref: string;
  /** The whole value. */
  readonly value: string;
  readonly location: SourceRange;
}

function findIn(key: DirectiveName, text: string, anyFormat: boolean): FoundDirective | undefined {
  let body = stripBom(text);
  let firstLine = 0;
  let firstOffset = text.length - body.length;
  const newline = body.indexOf('\n');
  const first = newline < 0 ? body : body.slice(0, newline);
  if (first.startsWith('#!')) {
    firstLine = 1;
    firstOffset += newline < 0 ? body.length : newline + 1;
    body = newline < 0 ? '' : body.slice(newline + 1);
  }
  for (const comment of anyFormat ? ['#', '//'] : ['#']) {
    const { directives } = scanDirectives(body, { comment, firstLine, firstOffset });
    const hit = directives.find((d) => d.name === key);
    if (hit !== undefined) {
      const space = hit.value.indexOf(' ');
      return { ref: space < 0 ? hit.value : hit.value.slice(0, space), value: hit.value, location: hit.location };
    }
  }
  if (!anyFormat) return undefined;
  // A whole-file JSON object: {"syntax": "..."}.
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const value = (parsed as Record<string, unknown>)[key];
  if (typeof value !== 'string') return undefined;
  return { ref: value, value, location: lineRange(firstLine, firstOffset, 0) };
}

/**
 * The frontend a Dockerfile asks for: a `# syntax=` directive, else a
 * `// syntax=` one, else a whole-file JSON object `{"syntax": "..."}`; a
 * first line starting with `#!` is skipped. BuildKit: `parser.DetectSyntax`.
 */
export function detectSyntax(text: string): FoundDirective | undefined {
  return findIn('syntax', text, true);
}

/** One `#` directive by name (after an optional `#!` line). BuildKit: `parser.ParseDirective`. */
export function findDirective(key: DirectiveName, text: string): FoundDirective | undefined {
  return findIn(key, text, false);
}
