import moo from 'moo';
import { GO_SPACE_CLASS } from './go-text.js';

/** The escape token: `\` by default, `` ` `` after `# escape=``. It also continues lines. */
export type EscapeToken = '\\' | '`';

/** Token types of the logical-line states (the nearley grammars match on these). */
export type LineTokenType = 'keyword' | 'blank' | 'flag' | 'flagEnd' | 'rest';

function reEscape(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/**
 * Removes quotes and escapes from a `--flag` word the way BuildKit's
 * `extractBuilderFlags` does: quotes are dropped, the escape token is dropped
 * and the next character kept, an escape token at the very end is dropped.
 */
export function unquoteFlag(text: string, escape: EscapeToken): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    let ch = text[i] as string;
    if (quote === '') {
      if (ch === "'" || ch === '"') {
        quote = ch;
        continue;
      }
    } else if (ch === quote) {
      quote = '';
      continue;
    }
    if (ch === escape) {
      if (i + 1 === text.length) break;
      i++;
      ch = text[i] as string;
    }
    out += ch;
  }
  return out;
}

/**
 * The moo lexer of strata's Dockerfile reader. The escape token is a parser
 * directive, so the lexer is built for one: `createLexer('\\')` or
 * `createLexer('`')`. It lexes one logical line (continuations already
 * joined, no newline inside) in one of these states:
 *
 * - `instruction` (start): `keyword`, then `blank` moves to `flags`.
 * - `flags`: `--flag` words (value: quotes and escapes removed), `flagEnd`
 *   (a bare `--`, after which everything is arguments), `blank`, and `rest`:
 *   the remainder from the first word that is not a flag.
 * - `args`: `blank` and `rest` (after `--`).
 * - `words`: BuildKit's `parseWords` (ARG, ENV, LABEL): `word` (quotes and
 *   escapes kept), `space` (Go's unicode spaces), `danglingEscape` (an escape
 *   token at the very end, which BuildKit drops).
 * - `json`: the tokens of a JSON text (`lbracket`, `rbracket`, `lbrace`,
 *   `rbrace`, `comma`, `colon`, `string`, `number`, `literal`, `ws`).
 */
export function createLexer(escape: EscapeToken): moo.Lexer {
  const e = reEscape(escape);
  const blank = /[\t\v\f\r ]+/;
  const end = '(?![^])';
  // A flag word whose unquoted value is exactly "--": it ends the flags.
  // BuildKit splits flags byte by byte with unicode.IsSpace(rune(b)): besides
  // ASCII blanks, the bytes 0x85 and 0xA0 are space. Lines with non-ASCII text
  // are lexed from this state on as byte strings (see LineReader.splitCommand).
  const flagBlank = /[\t\v\f\r \x85\xa0]+/;
  const flagEnd = new RegExp(`--(?:''|"")*(?:(?=[\\t\\v\\f\\r \\x85\\xa0])|['"]?${e}?${end})`);
  const flag = new RegExp(`--(?:[^\\t\\v\\f\\r \\x85\\xa0'"${e}]|${e}[^]?|'(?:[^'${e}]|${e}[^]?)*'?|"(?:[^"${e}]|${e}[^]?)*"?)*`);
  const word = new RegExp(`(?:[^${GO_SPACE_CLASS}'"${e}]|${e}[^]|'[^']*'?|"(?:[^"${e}]|${e}[^])*"?)+`);
  const rest = /[^\n]+/;
  return moo.states({
    instruction: {
      blank: { match: blank, next: 'flags' },
      keyword: /[^\t\n\v\f\r ]+/,
    },
    flags: {
      blank: flagBlank,
      flagEnd: { match: flagEnd, next: 'args' },
      flag: { match: flag, value: (text: string) => unquoteFlag(text, escape) },
      rest,
    },
    args: {
      blank,
      rest,
    },
    words: {
      space: { match: new RegExp(`[${GO_SPACE_CLASS}]+`), lineBreaks: true },
      word: { match: word, lineBreaks: true },
      danglingEscape: new RegExp(`${e}${end}`),
    },
    json: {
      ws: { match: /[ \t\r\n]+/, lineBreaks: true },
      lbracket: '[',
      rbracket: ']',
      lbrace: '{',
      rbrace: '}',
      comma: ',',
      colon: ':',
      string: /"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"/,
      number: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
      literal: ['true', 'false', 'null'],
    },
  });
}

/** The part of moo's lexer interface that nearley drives. */
export interface GrammarLexer {
  reset(chunk: string, state?: moo.LexerState): void;
  next(): moo.Token | undefined;
  save(): moo.LexerState;
  formatError(token: moo.Token, message?: string): string;
  has(tokenType: string): boolean;
}

/**
 * Drives `lexer` from `state` for a nearley parser, leaving out tokens whose
 * type is in `skip` (JSON white space). Pass it as `new Parser(grammar, { lexer })`.
 */
export function stateLexer(lexer: moo.Lexer, state: string, skip?: string): GrammarLexer {
  return {
    reset(chunk: string) {
      lexer.reset(chunk, { line: 1, col: 1, state });
    },
    next() {
      let token = lexer.next();
      while (token !== undefined && token.type === skip) token = lexer.next();
      return token;
    },
    save: () => lexer.save(),
    formatError: (token, message) => lexer.formatError(token, message),
    has: () => true,
  };
}

/**
 * What the compiled grammars name as their `@lexer`: nearleyc only needs it to
 * know that terminals are token types. Parsers are always given a real
 * `stateLexer` for the escape token in force.
 */
export const grammarLexer: GrammarLexer = {
  reset() {},
  next: () => undefined,
  save: () => ({ line: 1, col: 1, state: 'instruction' }),
  formatError: (_token, message) => message ?? 'syntax error',
  has: () => true,
};

/** A fresh lexer sharing `lexer`'s compiled rules (moo's `clone`, missing from its type definitions). */
export function cloneLexer(lexer: moo.Lexer): moo.Lexer {
  return (lexer as moo.Lexer & { clone(): moo.Lexer }).clone();
}
