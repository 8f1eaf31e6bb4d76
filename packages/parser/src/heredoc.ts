import type { Heredoc } from './ast.js';
import { ParserErrors, dockerfileError } from './errors.js';
import { isGoSpace } from './go-text.js';

/**
 * Heredoc words, read as BuildKit reads them: its shell lexer (escape `\`
 * whatever the escape directive says, no variables set, unset variables kept
 * as written) splits the line into words, and every word of the form
 * `[fd]<<[-]NAME` whose NAME is one shell word starts a heredoc.
 */

const HEREDOC_WORD = /^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)$/;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const DIGIT = /^\p{Nd}$/u;
const LETTER = /^\p{L}$/u;
/** Nesting of `${...}` beyond which the word is treated as unreadable (BuildKit recurses without a bound). */
const MAX_NESTING = 256;

class ShellLexError extends Error {}

interface WordState {
  readonly words: string[];
  inWord: boolean;
}

/** A port of the parts of BuildKit's `shell.Lex` that heredoc detection uses (`SkipUnsetEnv`, empty env). */
class RawShellLexer {
  private readonly chars: string[];
  private pos = 0;
  private depth = 0;
  /** BuildKit shares one word buffer between nested `${...}` reads; so does this port. */
  private buffer = '';

  constructor(
    source: string,
    private readonly rawQuotes: boolean,
    private rawEscapes: boolean,
  ) {
    this.chars = Array.from(source);
  }

  words(): string[] {
    return this.processStopOn(undefined, this.rawEscapes).words;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  private addChar(state: WordState, ch: string): void {
    const space = isGoSpace(ch.charCodeAt(0)) && ch.length === 1;
    if (space && state.inWord) {
      if (this.buffer.length !== 0) {
        state.words.push(this.buffer);
        this.buffer = '';
        state.inWord = false;
      }
    } else if (!space) {
      this.buffer += ch;
      state.inWord = true;
    }
  }

  private addRaw(state: WordState, text: string): void {
    this.buffer += text;
    state.inWord = true;
  }

  private finish(state: WordState): string[] {
    if (this.buffer.length > 0) {
      state.words.push(this.buffer);
      this.buffer = '';
      state.inWord = false;
    }
    return state.words;
  }

  private processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    if (++this.depth > MAX_NESTING) throw new ShellLexError('substitutions nested too deeply');
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      this.buffer = '';
      const state: WordState = { words: [], inWord: false };
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (stop !== undefined && ch === stop) {
          this.pos++;
          return { result, words: this.finish(state) };
        }
        if (ch === '$') {
          const text = this.processDollar();
          result += text;
          for (const c of text) this.addChar(state, c);
        } else if (ch === '<' || ch === "'" || ch === '"') {
          const text = ch === '<' ? this.processPossibleHeredoc() : ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += text;
          this.addRaw(state, text);
        } else {
          let c = this.next() as string;
          if (c === '\\') {
            if (this.rawEscapes) {
              this.addRaw(state, c);
              result += c;
            }
            const escaped = this.next();
            if (escaped === undefined) break;
            c = escaped;
            this.addRaw(state, c);
          } else {
            this.addChar(state, c);
          }
          result += c;
        }
      }
      if (stop !== undefined) throw new ShellLexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: this.finish(state) };
    } finally {
      this.rawEscapes = saved;
      this.depth--;
    }
  }

  private processSingleQuote(): string {
    let result = this.rawQuotes ? (this.next() as string) : (this.next(), '');
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new ShellLexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return this.rawQuotes ? result + ch : result;
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = this.rawQuotes ? (this.next() as string) : (this.next(), '');
    for (;;) {
      const peeked = this.peek();
      if (peeked === undefined) throw new ShellLexError('unexpected end of statement while looking for matching double-quote');
      if (peeked === '"') {
        this.next();
        return this.rawQuotes ? result + '"' : result;
      }
      if (peeked === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === '\\') {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === '\\') ch = this.next() as string;
      }
      result += ch;
    }
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      return name === '' ? '$' : `$${name}`;
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new ShellLexError("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new ShellLexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    let modifier = ch ?? '\ufffd';
    if (ch === '}') return `\${${name}}`;
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      modifier += ch ?? '\ufffd';
    }
    if (nullIsUnset || ch === '+' || ch === '-' || ch === '?' || ch === '#' || ch === '%') {
      const rawEscapes = ch === '#' || ch === '%';
      if (nullIsUnset && rawEscapes) throw new ShellLexError(`unsupported modifier (${modifier}) in substitution`);
      const word = this.stopOnOrThrow('}', rawEscapes, "syntax error: missing '}'");
      return `\${${name}${modifier}${word}}`;
    }
    if (ch === '/') {
      if (this.peek() === '/') this.next();
      const pattern = this.stopOnOrThrow('/', true, "syntax error: missing '/' in ${}");
      const replacement = this.stopOnOrThrow('}', true, "syntax error: missing '}'");
      return `\${${name}/${pattern}/${replacement}}`;
    }
    throw new ShellLexError(`unsupported modifier (${modifier}) in substitution`);
  }

  private stopOnOrThrow(stop: string, rawEscapes: boolean, atEnd: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (error) {
      if (error instanceof ShellLexError && this.peek() === undefined) throw new ShellLexError(atEnd);
      throw error;
    }
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && DIGIT.test(ch)) {
        for (let d = this.peek(); d !== undefined && DIGIT.test(d); d = this.peek()) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next() as string;
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let ch = this.peek(); ch === '\t' || ch === '\r' || ch === ' '; ch = this.peek()) space += this.next();
    return `<<${space}`;
  }
}

function lexWords(text: string, rawQuotes: boolean, rawEscapes: boolean): string[] {
  return new RawShellLexer(text, rawQuotes, rawEscapes).words();
}

function countQuotes(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 || c === 0x27) n++;
  }
  return n;
}

/** A heredoc without its body yet: what one `<<` word says. */
export type HeredocHeader = Omit<Heredoc, 'content'>;

/**
 * Reads one word as a heredoc start (`<<EOF`, `<<-'EOF'`, `3<<EOF`, `<< EOF`):
 * its name with quotes removed, whether the body is expanded (no part of the
 * name quoted), chomp (`<<-`) and file descriptor. Returns undefined when the
 * word is not a heredoc; throws PARSE_HEREDOC_SYNTAX for an unterminated quote
 * in the name. BuildKit: `parser.ParseHeredoc`.
 */
export function parseHeredocWord(word: string): HeredocHeader | undefined {
  const match = HEREDOC_WORD.exec(word);
  if (match === null) return undefined;
  const [, fd = '', dash = '', rest = ''] = match;
  if (rest === '') return undefined;
  let words: string[];
  let rawWords: string[];
  try {
    words = lexWords(rest, false, false);
    if (words.length !== 1) return undefined;
    rawWords = lexWords(rest, true, false);
  } catch (error) {
    if (!(error instanceof ShellLexError)) throw error;
    throw dockerfileError(ParserErrors.heredocSyntax, [`failed to process ${JSON.stringify(rest)}: ${error.message}`]);
  }
  const [name = ''] = words;
  const [rawName = ''] = rawWords;
  if (rawWords.length !== 1) {
    throw dockerfileError(ParserErrors.heredocSyntax, [`internal lexing of heredoc produced inconsistent results: ${rest}`]);
  }
  const header: HeredocHeader = {
    name,
    expand: countQuotes(name) === countQuotes(rawName),
    chomp: dash === '-',
  };
  return fd === '' ? header : { ...header, fileDescriptor: Number(fd) };
}

/**
 * The heredocs a logical line starts, in order (BuildKit: `heredocsFromLine`).
 * A line the shell lexer cannot read (an unbalanced quote, say) starts none.
 */
export function heredocsFromLine(line: string): HeredocHeader[] {
  let words: string[];
  try {
    words = lexWords(line, true, true);
  } catch (error) {
    if (error instanceof ShellLexError) return [];
    throw error;
  }
  const headers: HeredocHeader[] = [];
  for (const word of words) {
    const header = parseHeredocWord(word);
    if (header !== undefined) headers.push(header);
  }
  return headers;
}

/** Removes the leading tabs of every line of a `<<-` heredoc body (BuildKit: `ChompHeredocContent`). */
export function chompHeredocContent(content: string): string {
  return content.replace(/(^|\n)\t+/g, '$1');
}
