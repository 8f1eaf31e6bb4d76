import type { Directive, Heredoc, ParseResult, ParseWarning, RawInstruction } from './ast.js';
import { DirectiveReader } from './directives.js';
import { DockerfileError, ParserErrors, dockerfileError, isDockerfileError, type ErrorRule } from './errors.js';
import { goToLower, trimGoSpace, trimLeftGoSpace, utf8Length } from './go-text.js';
import { heredocsFromLine } from './heredoc.js';
import { LineError, LineReader, type LineParse } from './line-parsers.js';
import type { EscapeToken } from './lexer.js';
import type { Position, SourceLocation } from './location.js';

export interface ParseOptions {
  /** The file name put into locations of results and errors. */
  readonly file?: string;
}

/** BuildKit reads lines with a bufio.Scanner whose tokens (line + newline) hold at most 64 KiB. */
const MAX_LINE_BYTES = 65535;
/** ONBUILD ONBUILD ... deeper than this is refused (BuildKit's parser has no bound; its instruction layer refuses any nesting). */
const MAX_ONBUILD_NESTING = 1000;
const EMPTY_CONTINUATION_URL = 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/';
const HEREDOC_KEYWORDS = new Set(['add', 'copy', 'run']);

/** One physical line: `[start, end)` is its text without the line ending, `next` where the following line starts. */
interface PhysicalLine {
  readonly number: number;
  readonly start: number;
  readonly end: number;
  readonly next: number;
}

/** Where a piece of a logical line came from. */
interface Segment {
  readonly logicalStart: number;
  readonly sourceOffset: number;
  readonly line: PhysicalLine;
}

/** Splits the text into physical lines as BuildKit's scanner does, stopping at a line too long for it. */
class LineScanner {
  private offset: number;
  private number = 0;
  /** The line that stopped the scan, if one was too long. */
  tooLong: PhysicalLine | undefined;
  /** The last line returned. */
  last: PhysicalLine | undefined;

  constructor(private readonly text: string) {
    this.offset = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  }

  next(): PhysicalLine | undefined {
    const { text } = this;
    if (this.offset >= text.length || this.tooLong !== undefined) return undefined;
    const newline = text.indexOf('\n', this.offset);
    const next = newline < 0 ? text.length : newline + 1;
    let end = newline < 0 ? text.length : newline;
    const start = this.offset;
    // A UTF-16 unit is 1 to 3 UTF-8 bytes: count bytes only when the units do not decide.
    if (end - start > MAX_LINE_BYTES / 3) {
      const bom = start === 1 && this.number === 0 ? 3 : 0;
      const bytes = end - start > MAX_LINE_BYTES ? end - start : utf8Length(text.slice(start, end)) + bom;
      if (bytes > MAX_LINE_BYTES) {
        this.tooLong = { number: this.number + 1, start, end, next };
        return undefined;
      }
    }
    while (end > start && text.charCodeAt(end - 1) === 0x0d) end--;
    this.number++;
    this.offset = next;
    this.last = { number: this.number, start, end, next };
    return this.last;
  }
}

function isComment(text: string): boolean {
  return trimLeftGoSpace(text).charCodeAt(0) === 0x23;
}

/** BuildKit's `trimContinuationCharacter`: the line without a trailing escape, and whether it continues. */
function trimContinuation(text: string, escape: EscapeToken): [string, boolean] {
  let i = text.length - 1;
  while (i >= 0 && (text.charCodeAt(i) === 0x20 || text.charCodeAt(i) === 0x09)) i--;
  if (i < 0 || text[i] !== escape) return [text, false];
  if (i > 0 && text[i - 1] === escape) return [text, false];
  return [text.slice(0, i), true];
}

class DockerfileReader {
  private readonly lines: LineScanner;
  private readonly file: string | undefined;
  private readonly directiveReader = new DirectiveReader('#');
  private readonly directives: Directive[] = [];
  private readonly instructions: RawInstruction[] = [];
  private readonly warnings: ParseWarning[] = [];
  private escape: EscapeToken = '\\';
  private reader = new LineReader('\\');

  constructor(
    private readonly text: string,
    options: ParseOptions,
  ) {
    this.lines = new LineScanner(text);
    this.file = options.file;
  }

  read(): ParseResult {
    for (let line = this.lines.next(); line !== undefined; line = this.lines.next()) this.readInstruction(line);
    if (this.instructions.length === 0) {
      const at = this.lines.tooLong ?? this.lastPosition();
      throw this.error(ParserErrors.emptyFile, [], at);
    }
    if (this.lines.tooLong !== undefined) throw this.error(ParserErrors.lineTooLong, [MAX_LINE_BYTES], this.lines.tooLong);
    return { directives: this.directives, instructions: this.instructions, warnings: this.warnings, escapeToken: this.escape };
  }

  private readInstruction(first: PhysicalLine): void {
    const { text } = this;
    const raw = text.slice(first.start, first.end);
    const trimmed = trimLeftGoSpace(raw);
    const lead = raw.length - trimmed.length;
    this.readDirective(trimmed, first, lead);
    if (trimmed.charCodeAt(0) === 0x23) return; // a comment (or directive)
    let [logical, continued] = trimContinuation(trimmed, this.escape);
    if (!continued && logical === '') return;
    const segments: Segment[] = [{ logicalStart: 0, sourceOffset: first.start + lead, line: first }];
    let last = first;
    let emptyLine: PhysicalLine | undefined;
    while (continued) {
      const line = this.lines.next();
      if (line === undefined) break;
      last = line;
      const content = text.slice(line.start, line.end);
      if (isComment(content)) continue;
      if (trimLeftGoSpace(content) === '') {
        emptyLine ??= line;
        continue;
      }
      const [piece, more] = trimContinuation(content, this.escape);
      segments.push({ logicalStart: logical.length, sourceOffset: line.start, line });
      logical += piece;
      continued = more;
    }
    const originalEnd = last.end;
    const locate = (offset: number): Position => this.locateLogical(segments, offset);

    if (emptyLine !== undefined) {
      this.warnings.push({
        code: 'NoEmptyContinuation',
        message: `Empty continuation line found in: ${logical}`,
        detail: 'Empty continuation lines will become errors in a future release',
        url: EMPTY_CONTINUATION_URL,
        location: this.location(this.position(emptyLine, emptyLine.start), this.position(emptyLine, emptyLine.end)),
      });
    }

    let parse: LineParse;
    try {
      parse = this.reader.parseLine(logical, MAX_ONBUILD_NESTING);
    } catch (error) {
      if (error instanceof LineError) throw this.relocate(error.error, locate(error.offset), segments);
      if (isDockerfileError(error)) throw this.relocate(error, locate(0), segments);
      throw error;
    }

    let end = last;
    const heredocs: Heredoc[] = [];
    if (this.canContainHeredoc(parse) && logical.includes('<<')) {
      let headers;
      try {
        headers = heredocsFromLine(logical);
      } catch (error) {
        if (isDockerfileError(error)) throw this.relocate(error, locate(0), segments);
        throw error;
      }
      for (const header of headers) {
        let content = '';
        let terminated = false;
        for (let line = this.lines.next(); line !== undefined; line = this.lines.next()) {
          end = line;
          let candidate = text.slice(line.start, line.end);
          if (header.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === header.name) {
            terminated = true;
            break;
          }
          content += text.slice(line.start, line.next);
        }
        if (!terminated) {
          throw this.error(ParserErrors.unterminatedHeredoc, [], first, locate(0));
        }
        heredocs.push({ ...header, content });
      }
    }

    const endPosition = this.position(end, end.end);
    // ONBUILD nests; build from the innermost instruction out, without recursion.
    const chain: { readonly parse: LineParse; readonly offset: number }[] = [];
    for (let p: LineParse | undefined = parse, offset = 0; p !== undefined; offset = p.nested?.offset ?? 0, p = p.nested?.parse) {
      chain.push({ parse: p, offset });
    }
    let built: RawInstruction | undefined;
    for (let i = chain.length - 1; i >= 0; i--) {
      const { parse: p, offset } = chain[i] as (typeof chain)[number];
      const start = locate(offset);
      const instruction: RawInstruction = {
        keyword: goToLower(p.keyword),
        flags: p.flags,
        args: p.args,
        json: p.json,
        heredocs,
        original: text.slice(start.offset, originalEnd),
        logicalLine: offset === 0 ? logical : trimGoSpace(logical.slice(offset)),
        location: this.location(start, endPosition),
      };
      built = built === undefined ? instruction : { ...instruction, onbuild: built };
    }
    this.instructions.push(built as RawInstruction);
  }

  private canContainHeredoc(parse: LineParse): boolean {
    const target = goToLower(parse.keyword) === 'onbuild' && parse.nested !== undefined ? parse.nested.parse : parse;
    return HEREDOC_KEYWORDS.has(goToLower(target.keyword)) && !target.json;
  }

  private readDirective(trimmed: string, line: PhysicalLine, lead: number): void {
    if (this.directiveReader.finished) return;
    const found = this.directiveReader.readLine(trimmed);
    if (found.kind === 'none') return;
    const start = this.position(line, line.start + lead);
    const location = this.location(start, this.position(line, line.end));
    if (found.kind === 'duplicate') throw this.error(ParserErrors.duplicateDirective, [found.name], line, start);
    if (found.name === 'escape') {
      if (found.value !== '\\' && found.value !== '`') throw this.error(ParserErrors.invalidEscape, [found.value], line, start);
      if (found.value !== this.escape) {
        this.escape = found.value;
        this.reader = new LineReader(found.value);
      }
    }
    this.directives.push({ name: found.name, value: found.value, location });
  }

  private position(line: PhysicalLine, offset: number): Position {
    return { line: line.number, column: offset - line.start + 1, offset };
  }

  private location(start: Position, end: Position): SourceLocation {
    return this.file === undefined ? { start, end } : { file: this.file, start, end };
  }

  /**
   * The source position of an offset in the logical line. Offset 0 is where
   * the instruction starts (its first line, even when that line contributed
   * nothing, like a lone escape token); any other offset is in the segment
   * holding that character (the last one starting at or before it).
   */
  private locateLogical(segments: readonly Segment[], logicalOffset: number): Position {
    let segment = segments[0] as Segment;
    if (logicalOffset === 0) return this.position(segment.line, segment.sourceOffset);
    for (const s of segments) {
      if (s.logicalStart > logicalOffset) break;
      segment = s;
    }
    const offset = Math.min(segment.sourceOffset + (logicalOffset - segment.logicalStart), segment.line.end);
    return this.position(segment.line, offset);
  }

  private lastPosition(): PhysicalLine {
    const start = this.text.charCodeAt(0) === 0xfeff ? 1 : 0;
    return this.lines.last ?? { number: 1, start, end: start, next: start };
  }

  private sourceLine(line: PhysicalLine): string {
    let end = line.end;
    while (end > line.start && this.text.charCodeAt(end - 1) === 0x0d) end--;
    return this.text.slice(line.start, end);
  }

  private error<A extends unknown[]>(entry: ErrorRule<A>, args: A, line: PhysicalLine, at?: Position): DockerfileError {
    const start = at ?? this.position(line, line.start);
    const endLine = line.number === start.line ? line : undefined;
    const end = endLine === undefined ? start : this.position(line, line.end);
    return dockerfileError(entry, args, { location: this.location(start, end), sourceLine: this.sourceLine(line) });
  }

  private relocate(error: DockerfileError, at: Position, segments: readonly Segment[]): DockerfileError {
    const segment = segments.find((s) => s.line.number === at.line) ?? (segments[0] as Segment);
    const line = segment.line;
    return new DockerfileError(error.code, error.message, error.hint, {
      location: this.location(at, this.position(line, line.end)),
      sourceLine: this.sourceLine(line),
      cause: error.cause,
    });
  }
}

/**
 * Reads a Dockerfile exactly as BuildKit's parser does: parser directives,
 * comments, line continuations, `--flags`, per-keyword argument splitting,
 * JSON (exec) form and heredocs. Nothing is expanded or validated beyond the
 * syntax; `parseStages` does that on the result. Throws a DockerfileError
 * (codes PARSE_*) for input BuildKit rejects.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParseResult {
  return new DockerfileReader(text, options).read();
}
