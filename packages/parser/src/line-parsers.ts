import nearley from 'nearley';
import type { InstructionHead, JsonArray } from './ast.js';
import { ParserErrors, dockerfileError, DockerfileError } from './errors.js';
import { fromByteString, goQuote, goToLower, splitOnBlanks, splitOnceOnBlanks, toByteString, trimGoSpace, trimLeftGoSpace } from './go-text.js';
import instructionGrammar from './grammar/instruction.js';
import jsonGrammar from './grammar/json.js';
import { cloneLexer, createLexer, stateLexer, type EscapeToken, type GrammarLexer } from './lexer.js';

const INSTRUCTION = nearley.Grammar.fromCompiled(instructionGrammar);
const JSON_ARRAY = nearley.Grammar.fromCompiled(jsonGrammar);
/** Compiled once; never reset or read themselves (LineReader clones them). */
const BACKSLASH_LEXER = createLexer('\\');
const BACKTICK_LEXER = createLexer('`');
const NON_ASCII = /[^\x00-\x7f]/;
/** Go's `unicode.IsSpace(rune(b))` for one byte. */
function isByteSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d) || b === 0x85 || b === 0xa0;
}
/** Go's encoding/json refuses nesting deeper than this. */
const MAX_JSON_DEPTH = 10000;

/** How BuildKit's line parser splits one logical line, before locations are attached. */
export interface LineParse {
  /** The keyword as written (BuildKit's `Node.Value`). */
  readonly keyword: string;
  readonly flags: string[];
  readonly args: string[];
  readonly json: boolean;
  /** ONBUILD's instruction, and where its text starts in the line. */
  readonly nested?: { readonly parse: LineParse; readonly offset: number };
}

/** An argument error with the offset in the logical line it points at. */
export class LineError extends Error {
  constructor(
    readonly error: DockerfileError,
    readonly offset: number,
  ) {
    super(error.message);
  }
}

type JsonOutcome = { readonly kind: 'strings'; readonly values: string[] } | { readonly kind: 'not-json' } | { readonly kind: 'not-strings' };

const NOT_JSON: JsonOutcome = { kind: 'not-json' };

function jsonTooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * A nearley parser that does not describe its failures: nearley builds the
 * message by walking the chart recursively (deep JSON nesting would exhaust
 * the stack) and callers only need to know that the input did not parse.
 */
function quietParser(grammar: nearley.Grammar, lexer: GrammarLexer): nearley.Parser {
  const parser = new nearley.Parser(grammar, { lexer });
  const quiet = parser as unknown as { reportError: () => string; reportLexerError: () => string };
  quiet.reportError = () => 'unexpected token';
  quiet.reportLexerError = () => 'invalid input';
  return parser;
}

/**
 * The line-level readers for one escape token: a moo lexer in its states and
 * the nearley parsers over it. One per parse (lexers are stateful).
 */
export class LineReader {
  private readonly instructionLexer: GrammarLexer;
  private readonly jsonLexer: GrammarLexer;
  private readonly wordsLexer;

  constructor(readonly escape: EscapeToken) {
    // Compiling the lexer's regular expressions dominates short files, so the
    // compiled lexers are kept; each reader lexes with its own clone.
    const lexer = cloneLexer(escape === '\\' ? BACKSLASH_LEXER : BACKTICK_LEXER);
    this.instructionLexer = stateLexer(lexer, 'instruction');
    this.jsonLexer = stateLexer(lexer, 'json', 'ws');
    this.wordsLexer = lexer;
  }

  /**
   * BuildKit's `splitCommand`: keyword, `--flags`, and the rest (untrimmed)
   * with its offset in `line`. BuildKit extracts flags byte by byte and turns
   * each byte into a rune, so a line with non-ASCII text is split as its UTF-8
   * bytes: flags keep that byte-wise form (`é` becomes `Ã©`, as in BuildKit),
   * the keyword and the rest are decoded back.
   */
  splitCommand(line: string): InstructionHead {
    if (!NON_ASCII.test(line)) return this.splitBytes(line);
    const head = this.splitBytes(toByteString(line));
    const rest = fromByteString(head.rest);
    return {
      keyword: fromByteString(head.keyword),
      flags: head.flags,
      rest,
      restOffset: head.restOffset < 0 ? -1 : Math.max(0, line.length - rest.length),
    };
  }

  private splitBytes(line: string): InstructionHead {
    const parser = quietParser(INSTRUCTION, this.instructionLexer);
    parser.feed(line);
    const results = parser.results as InstructionHead[];
    if (results.length !== 1) {
      throw dockerfileError(ParserErrors.internal, [`the instruction grammar produced ${results.length} parses`]);
    }
    return results[0] as InstructionHead;
  }

  /**
   * BuildKit's `parseJSON`: `text` (leading space ignored) as a JSON array.
   * Strings only gives their values; valid JSON with another element type is
   * `not-strings`; anything else is `not-json`.
   */
  parseJson(text: string): JsonOutcome {
    const rest = trimLeftGoSpace(text);
    if (rest.charCodeAt(0) !== 0x5b || jsonTooDeep(rest)) return NOT_JSON;
    const parser = quietParser(JSON_ARRAY, this.jsonLexer);
    try {
      parser.feed(rest);
    } catch (error) {
      if (error instanceof RangeError || error instanceof TypeError) throw error;
      return NOT_JSON; // a token the lexer or the grammar refused: not JSON
    }
    const results = parser.results as JsonArray[];
    if (results.length === 0) return NOT_JSON;
    if (results.length > 1) throw dockerfileError(ParserErrors.internal, [`the JSON grammar produced ${results.length} parses`]);
    const strings = (results[0] as JsonArray).strings;
    return strings === null ? { kind: 'not-strings' } : { kind: 'strings', values: strings };
  }

  /** BuildKit's `parseWords`: split on unquoted space; quotes and escapes stay in the words. */
  splitWords(text: string): string[] {
    const lexer = this.wordsLexer;
    lexer.reset(text, { line: 1, col: 1, state: 'words' });
    const words: string[] = [];
    for (let token = lexer.next(); token !== undefined; token = lexer.next()) {
      if (token.type === 'word') words.push(token.text);
    }
    return words;
  }

  /** Splits one logical line the way BuildKit's `newNodeFromLine` does. */
  parseLine(line: string, maxNesting: number): LineParse {
    // ONBUILD nests: read the chain iteratively, then build it from the inside out.
    const chain: { head: InstructionHead; offset: number }[] = [];
    let text = line;
    let base = 0;
    for (;;) {
      const lead = text.length - trimLeftGoSpace(text).length;
      const head = this.splitCommand(trimGoSpace(text));
      chain.push({ head, offset: base + lead });
      if (goToLower(head.keyword) !== 'onbuild') break;
      const rest = trimGoSpace(head.rest);
      if (rest === '') break;
      if (chain.length > maxNesting) throw new LineError(dockerfileError(ParserErrors.nestingTooDeep, [maxNesting]), base + lead);
      base = base + lead + head.restOffset + (head.rest.length - trimLeftGoSpace(head.rest).length);
      text = rest;
    }
    let inner: LineParse | undefined;
    let innerOffset = 0;
    for (let i = chain.length - 1; i >= 0; i--) {
      const { head, offset } = chain[i] as { head: InstructionHead; offset: number };
      const parse: LineParse =
        inner === undefined
          ? { keyword: head.keyword, flags: head.flags, ...this.parseArgs(head, offset) }
          : { keyword: head.keyword, flags: head.flags, args: [], json: false, nested: { parse: inner, offset: innerOffset } };
      inner = parse;
      innerOffset = offset;
    }
    return inner as LineParse;
  }

  private parseArgs(head: InstructionHead, lineOffset: number): { args: string[]; json: boolean } {
    const rest = trimGoSpace(head.rest);
    const restOffset = lineOffset + head.restOffset + (head.rest.length - trimLeftGoSpace(head.rest).length);
    switch (goToLower(head.keyword)) {
      case 'add':
      case 'copy':
      case 'volume':
        return this.maybeJsonToList(rest, restOffset);
      case 'arg':
        return { args: this.splitWords(rest), json: false };
      case 'cmd':
      case 'entrypoint':
      case 'run':
      case 'shell':
        return this.maybeJson(rest, restOffset);
      case 'env':
        return { args: this.nameValues(rest, 'ENV', restOffset), json: false };
      case 'label':
        return { args: this.nameValues(rest, 'LABEL', restOffset), json: false };
      case 'expose':
      case 'from':
        return { args: rest === '' ? [] : splitOnBlanks(rest), json: false };
      case 'healthcheck':
        return this.healthConfig(rest, restOffset);
      case 'onbuild':
        return { args: [], json: false }; // a bare ONBUILD: a nested instruction is read by parseLine
      case 'maintainer':
      case 'stopsignal':
      case 'user':
      case 'workdir':
        return { args: rest === '' ? [] : [rest], json: false };
      default:
        return { args: [''], json: false };
    }
  }

  private notStrings(offset: number): LineError {
    return new LineError(dockerfileError(ParserErrors.jsonNotStrings, []), offset);
  }

  private maybeJson(rest: string, offset: number): { args: string[]; json: boolean } {
    if (rest === '') return { args: [], json: false };
    const json = this.parseJson(rest);
    if (json.kind === 'strings') return { args: json.values, json: true };
    if (json.kind === 'not-strings') throw this.notStrings(offset);
    return { args: [rest], json: false };
  }

  private maybeJsonToList(rest: string, offset: number): { args: string[]; json: boolean } {
    const json = this.parseJson(rest);
    if (json.kind === 'strings') return { args: json.values, json: true };
    if (json.kind === 'not-strings') throw this.notStrings(offset);
    return { args: rest === '' ? [] : splitOnBlanks(rest), json: false };
  }

  /** BuildKit's `parseHealthConfig`: the type word, then the command as in RUN. It also walks bytes. */
  private healthConfig(rest: string, offset: number): { args: string[]; json: boolean } {
    const bytes = NON_ASCII.test(rest) ? toByteString(rest) : rest;
    let sep = 0;
    while (sep < bytes.length && !isByteSpace(bytes.charCodeAt(sep))) sep++;
    if (sep === 0) return { args: [], json: false };
    let next = sep;
    while (next < bytes.length && isByteSpace(bytes.charCodeAt(next))) next++;
    const type = bytes === rest ? rest.slice(0, sep) : fromByteString(bytes.slice(0, sep));
    const tail = bytes === rest ? rest.slice(next) : fromByteString(bytes.slice(next));
    const command = this.maybeJson(tail, offset + rest.length - tail.length);
    return { args: [type, ...command.args], json: command.json };
  }

  private nameValues(rest: string, keyword: string, offset: number): string[] {
    const words = this.splitWords(rest);
    const [first] = words;
    if (first === undefined) return [];
    if (!first.includes('=')) {
      const parts = splitOnceOnBlanks(rest);
      if (parts.length < 2) throw new LineError(dockerfileError(ParserErrors.missingValue, [keyword]), offset);
      return [parts[0], parts[1] as string, ''];
    }
    const args: string[] = [];
    let at = 0;
    for (const word of words) {
      at = rest.indexOf(word, at);
      const eq = word.indexOf('=');
      if (eq < 0) throw new LineError(dockerfileError(ParserErrors.missingEquals, [goQuote(word)]), offset + Math.max(at, 0));
      args.push(word.slice(0, eq), word.slice(eq + 1), '=');
      at += word.length;
    }
    return args;
  }
}

/** BuildKit's `parseWords` for a given escape token (quotes and escapes kept in the words). */
export function splitWords(text: string, options: { escape?: EscapeToken } = {}): string[] {
  return new LineReader(options.escape ?? '\\').splitWords(text);
}

/**
 * The exec (JSON) form of an instruction's arguments: the strings of a JSON
 * array, or undefined when `text` is not a JSON array (BuildKit then reads the
 * shell form). Throws PARSE_JSON_NOT_STRINGS for a valid array with an element
 * that is not a string.
 */
export function parseJsonArgs(text: string): string[] | undefined {
  const outcome = new LineReader('\\').parseJson(text);
  if (outcome.kind === 'not-strings') throw dockerfileError(ParserErrors.jsonNotStrings, []);
  return outcome.kind === 'strings' ? outcome.values : undefined;
}
