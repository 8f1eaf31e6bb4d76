import type { EnvLookup } from './env.js';
import { ExpandErrors, ExpandFailure, expandFailure } from './errors.js';
import { PatternError, parseShellPattern, replaceAll, replaceFirst, trimPrefix, trimSuffix } from './pattern.js';
import type { WordSplitter } from './words.js';

const EOF = -1;
const TAB = 0x09;
const CR = 0x0d;
const SPACE = 0x20;
const DQUOTE = 0x22;
const HASH = 0x23;
const DOLLAR = 0x24;
const PERCENT = 0x25;
const SQUOTE = 0x27;
const PLUS = 0x2b;
const MINUS = 0x2d;
const SLASH = 0x2f;
const COLON = 0x3a;
const LT = 0x3c;
const QUESTION = 0x3f;
const UNDERSCORE = 0x5f;
const LBRACE = 0x7b;
const RBRACE = 0x7d;
const BOM = 0xfeff;

/**
 * The deepest nesting of `${...}` forms read (BuildKit has no limit, but a
 * JavaScript stack is finite; real Dockerfiles nest a few levels).
 */
export const MAX_NESTING = 256;

/** How one word is read; see `ExpandOptions` for the meaning of each switch. */
export interface LexerSettings {
  /** The escape character's code point: `\` (0x5c) or `` ` `` (0x60). */
  readonly escapeToken: number;
  readonly rawQuotes: boolean;
  readonly rawEscapes: boolean;
  readonly skipProcessQuotes: boolean;
  readonly skipUnsetEnv: boolean;
  /** Record which variables were looked up, found or not. */
  readonly capture: boolean;
}

const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;

/** Go's `unicode.IsDigit`. */
function isDigit(ch: number): boolean {
  if (ch < 0x80) return ch >= 0x30 && ch <= 0x39;
  return DIGIT.test(String.fromCodePoint(ch));
}

/** Go's `unicode.IsLetter`. */
function isLetter(ch: number): boolean {
  if (ch < 0x80) return (ch >= 0x61 && ch <= 0x7a) || (ch >= 0x41 && ch <= 0x5a);
  return LETTER.test(String.fromCodePoint(ch));
}

/** POSIX special parameters (`$@ $* $# $? $- $$ $! $0`): never set in a Dockerfile. */
function isSpecialParam(ch: number): boolean {
  return ch === 0x40 || ch === 0x2a || ch === HASH || ch === QUESTION || ch === MINUS || ch === DOLLAR || ch === 0x21 || ch === 0x30;
}

/**
 * Reads one word the way BuildKit's `shell.Lex` does: quotes, escapes and
 * `$` substitutions, in one left-to-right pass over the code points of the
 * word (Go's text/scanner, which also skips a byte order mark at the very
 * start). Single use: make one per word.
 */
export class ShellWordLexer {
  private pos: number;
  private rawEscapes: boolean;
  /** How many `${` forms enclose the scanner (bounded: the lexer recurses once per level). */
  private depth = 0;
  readonly matched = new Set<string>();
  readonly unmatched = new Set<string>();

  constructor(
    private readonly text: string,
    private readonly lookup: EnvLookup,
    private readonly settings: LexerSettings,
  ) {
    this.pos = text.charCodeAt(0) === BOM ? 1 : 0;
    this.rawEscapes = settings.rawEscapes;
  }

  /** Expands the whole word; with `words`, also splits it into words there. Throws ExpandFailure. */
  run(words?: WordSplitter): string {
    return this.processUntil(EOF, this.settings.rawEscapes, words);
  }

  private peek(): number {
    return this.pos < this.text.length ? (this.text.codePointAt(this.pos) as number) : EOF;
  }

  private next(): number {
    const ch = this.peek();
    if (ch !== EOF) this.pos += ch > 0xffff ? 2 : 1;
    return ch;
  }

  /**
   * Reads until `stop` (consumed) or the end of the word (BuildKit's
   * `processStopOn`). `rawEscapes` keeps escape characters in the result
   * while this call runs (patterns of `#`, `%`, `/` need them).
   */
  private processUntil(stop: number, rawEscapes: boolean, words?: WordSplitter): string {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      const escape = this.settings.escapeToken;
      const quotes = !this.settings.skipProcessQuotes;
      let result = '';
      for (;;) {
        result += this.ordinaryRun(stop, words);
        const ch = this.peek();
        if (ch === EOF) break;
        if (ch === stop) {
          this.pos++;
          return result;
        }
        if (ch === DOLLAR) {
          const value = this.processDollar();
          result += value;
          words?.addString(value);
          continue;
        }
        if (quotes && (ch === SQUOTE || ch === DQUOTE)) {
          const value = ch === SQUOTE ? this.processSingleQuote() : this.processDoubleQuote();
          result += value;
          words?.addRawString(value);
          continue;
        }
        if (ch === LT && words !== undefined) {
          // Only splitting sees `<<`: the text itself is unchanged.
          const value = this.processPossibleHeredoc();
          result += value;
          words.addRawString(value);
          continue;
        }
        this.next();
        if (ch === escape) {
          if (this.rawEscapes) {
            words?.addRawChar(ch);
            result += String.fromCodePoint(ch);
          }
          const escaped = this.next(); // an escape at the very end is dropped
          if (escaped === EOF) break;
          words?.addRawChar(escaped);
          result += String.fromCodePoint(escaped);
        } else {
          words?.addChar(ch);
          result += String.fromCodePoint(ch);
        }
      }
      if (stop !== EOF) {
        // Callers turn this into "missing '}'" or "missing '/'" (the word is used up).
        throw expandFailure(stop === SLASH ? ExpandErrors.missingSlash : ExpandErrors.missingBrace, [], this.pos, this.pos);
      }
      return result;
    } finally {
      this.rawEscapes = saved;
    }
  }

  /**
   * Consumes the run of characters up to the next one `processUntil` treats
   * specially and returns it (splitting it into `words` too). Every special
   * character is ASCII, so UTF-16 units can be compared directly.
   */
  private ordinaryRun(stop: number, words: WordSplitter | undefined): string {
    const text = this.text;
    const escape = this.settings.escapeToken;
    const quotes = !this.settings.skipProcessQuotes;
    const heredocs = words !== undefined;
    const from = this.pos;
    let i = from;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === stop || c === DOLLAR || c === escape || (quotes && (c === SQUOTE || c === DQUOTE)) || (heredocs && c === LT)) break;
    }
    if (i === from) return '';
    this.pos = i;
    words?.addPlain(text, from, i);
    return text.slice(from, i);
  }

  /**
   * The word of a `${...}` form, up to `stop`. Any failure that used up the
   * whole word becomes `atEnd` (BuildKit: an unterminated quote inside
   * `${X:-'...}` is reported as the missing `}`).
   */
  private nestedUntil(stop: number, rawEscapes: boolean, atEnd: () => ExpandFailure): string {
    try {
      return this.processUntil(stop, rawEscapes);
    } catch (error) {
      if (error instanceof ExpandFailure && this.peek() === EOF) throw atEnd();
      throw error;
    }
  }

  /** `'...'`: everything literal up to the next single quote; nothing escapes. */
  private processSingleQuote(): string {
    const open = this.pos;
    const close = this.text.indexOf("'", open + 1);
    if (close < 0) {
      this.pos = this.text.length;
      throw expandFailure(ExpandErrors.unterminatedQuote, ['single'], open, this.text.length);
    }
    const content = this.text.slice(open + 1, close);
    this.pos = close + 1;
    return this.settings.rawQuotes ? `'${content}'` : content;
  }

  /**
   * `"..."`: `$` expands; the escape character escapes only `"`, `$` and
   * itself and stays literal before anything else. With raw escapes the
   * escape is kept, and (as in BuildKit) written twice before an ordinary
   * character.
   */
  private processDoubleQuote(): string {
    const open = this.pos;
    const text = this.text;
    const escape = this.settings.escapeToken;
    this.next();
    let result = this.settings.rawQuotes ? '"' : '';
    for (;;) {
      const from = this.pos;
      let i = from;
      while (i < text.length) {
        const c = text.charCodeAt(i);
        if (c === DQUOTE || c === DOLLAR || c === escape) break;
        i++;
      }
      if (i > from) {
        result += text.slice(from, i);
        this.pos = i;
      }
      const ch = this.peek();
      if (ch === EOF) throw expandFailure(ExpandErrors.unterminatedQuote, ['double'], open, text.length);
      if (ch === DQUOTE) {
        this.next();
        return this.settings.rawQuotes ? `${result}"` : result;
      }
      if (ch === DOLLAR) {
        result += this.processDollar();
        continue;
      }
      this.next(); // the escape character
      if (this.rawEscapes) result += String.fromCodePoint(ch);
      const after = this.peek();
      if (after === EOF) continue; // reported as the unterminated quote
      result += after === DQUOTE || after === DOLLAR || after === escape ? String.fromCodePoint(this.next()) : String.fromCodePoint(ch);
    }
  }

  /** `<<` and the blanks after it stay one unsplit piece, so `<< EOF` is one word. */
  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== LT) return '<';
    this.next();
    let result = '<<';
    for (let ch = this.peek(); ch === TAB || ch === CR || ch === SPACE; ch = this.peek()) {
      result += String.fromCodePoint(this.next());
    }
    return result;
  }

  /** A name: letters, digits and `_`; or a run of digits; or one special parameter. */
  private processName(): string {
    const from = this.pos;
    const first = this.peek();
    if (isDigit(first)) {
      while (isDigit(this.peek())) this.next();
    } else if (isSpecialParam(first)) {
      this.next();
    } else {
      for (let ch = first; ch !== EOF && (isLetter(ch) || isDigit(ch) || ch === UNDERSCORE); ch = this.peek()) this.next();
    }
    return this.text.slice(from, this.pos);
  }

  private getEnv(name: string): string | undefined {
    const value = this.lookup(name);
    if (this.settings.capture) (value === undefined ? this.unmatched : this.matched).add(name);
    return value;
  }

  /** `$NAME`, `${NAME}` and every `${NAME<modifier>...}` form. The scanner is on the `$`. */
  private processDollar(): string {
    const at = this.pos;
    this.next();
    if (this.peek() !== LBRACE) {
      const name = this.processName();
      if (name === '') return '$';
      const value = this.getEnv(name);
      if (value === undefined && this.settings.skipUnsetEnv) return `$${name}`;
      return value ?? '';
    }
    if (this.depth >= MAX_NESTING) throw expandFailure(ExpandErrors.nestingTooDeep, [MAX_NESTING], at, at + 2);
    this.depth++;
    try {
      return this.processBraced(at);
    } finally {
      this.depth--;
    }
  }

  /** `${...}`: the scanner is on the `{` of the `${` at `at`. */
  private processBraced(at: number): string {
    this.next();
    const first = this.peek();
    if (first === EOF) throw expandFailure(ExpandErrors.missingBrace, [], at, this.pos);
    if (first === LBRACE || first === RBRACE || first === COLON) {
      throw expandFailure(ExpandErrors.badSubstitution, [], at, this.pos + 1);
    }
    const name = this.processName();
    const modifierAt = this.pos;
    let ch = this.next();
    // BuildKit reports `${NAME` as an unsupported modifier (U+FFFD); the missing brace says more.
    if (ch === EOF) throw expandFailure(ExpandErrors.missingBrace, [], at, this.pos);
    let modifier = String.fromCodePoint(ch);
    const missingBrace = (): ExpandFailure => expandFailure(ExpandErrors.missingBrace, [], at, this.text.length);

    if (ch === RBRACE) {
      const value = this.getEnv(name);
      if (value === undefined && this.settings.skipUnsetEnv) return `\${${name}}`;
      return value ?? '';
    }

    if (ch === SLASH) {
      const all = this.peek() === SLASH;
      if (all) this.next();
      const pattern = this.nestedUntil(SLASH, true, () => expandFailure(ExpandErrors.missingSlash, [], at, this.text.length));
      const replacement = this.nestedUntil(RBRACE, true, missingBrace);
      const value = this.getEnv(name);
      if (value === undefined && this.settings.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
      return this.withPattern(pattern, at, () => {
        const parsed = parseShellPattern(pattern);
        return all ? replaceAll(parsed, value ?? '', replacement) : replaceFirst(parsed, value ?? '', replacement);
      });
    }

    if (ch !== COLON && ch !== PLUS && ch !== MINUS && ch !== QUESTION && ch !== HASH && ch !== PERCENT) {
      throw expandFailure(ExpandErrors.unsupportedModifier, [modifier], modifierAt, this.pos);
    }
    const nullIsUnset = ch === COLON;
    if (nullIsUnset) {
      ch = this.next();
      if (ch !== EOF) modifier += String.fromCodePoint(ch);
    }
    const trims = ch === HASH || ch === PERCENT;
    if (nullIsUnset && trims) throw expandFailure(ExpandErrors.unsupportedModifier, [modifier], modifierAt, this.pos);
    const word = this.nestedUntil(RBRACE, trims, missingBrace);
    const value = this.getEnv(name);
    if (value === undefined && this.settings.skipUnsetEnv) return `\${${name}${modifier}${word}}`;
    const empty = value === undefined || (nullIsUnset && value === '');

    switch (ch) {
      case MINUS:
        return empty ? word : (value as string);
      case PLUS:
        return empty ? '' : word;
      case QUESTION:
        if (empty) {
          const message = word !== '' ? word : value === undefined ? 'is not allowed to be unset' : 'is not allowed to be empty';
          throw expandFailure(ExpandErrors.requiredVariable, [name, message], at, this.pos);
        }
        return value as string;
      case HASH:
      case PERCENT: {
        // `#`/`%` take the shortest match, `##`/`%%` the longest.
        const greedy = word.charCodeAt(0) === ch;
        const pattern = greedy ? word.slice(1) : word;
        // BuildKit checks the reversed pattern for %, so `*\` (in a backtick-escape file) is valid there.
        if (ch === HASH) return this.withPattern(pattern, at, () => trimPrefix(parseShellPattern(pattern), value ?? '', greedy));
        return this.withPattern(pattern, at, () => trimSuffix(pattern, value ?? '', greedy));
      }
      default:
        throw expandFailure(ExpandErrors.unsupportedModifier, [modifier], modifierAt, modifierAt + modifier.length);
    }
  }

  /** Runs a pattern operation; a PatternError becomes the expansion error for the `${` at `at`. */
  private withPattern(pattern: string, at: number, run: () => string): string {
    try {
      return run();
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      const entry = error.kind === 'size' ? ExpandErrors.patternTooLarge : ExpandErrors.invalidPattern;
      throw expandFailure(entry, [pattern, error.detail], at, this.pos);
    }
  }
}
