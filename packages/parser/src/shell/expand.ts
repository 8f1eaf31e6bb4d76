import { envLookup, type ExpansionEnv } from './env.js';
import { ExpandErrors, ExpandFailure, expandFailure, toDockerfileError, type WordOrigin } from './errors.js';
import { MAX_NESTING, ShellWordLexer, type LexerSettings } from './lexer.js';
import { WordSplitter } from './words.js';

/** How a word is expanded. Every switch defaults to off: plain ProcessWord behaviour. */
export interface ExpandOptions {
  /** The escape character (the `# escape=` directive): `\` (default) or `` ` ``. */
  readonly escape?: '\\' | '`';
  /** Keep quote characters in the result (BuildKit `RawQuotes`). */
  readonly rawQuotes?: boolean;
  /** Keep escape characters in the result (BuildKit `RawEscapes`). */
  readonly rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (BuildKit `SkipProcessQuotes`). */
  readonly skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written, e.g. `${X:-y}` (BuildKit `SkipUnsetEnv`). */
  readonly skipUnsetEnv?: boolean;
  /** Where the word sits in its file: error locations then point into the file. */
  readonly origin?: WordOrigin;
}

/** The result of `expandWordWithMatches`. */
export interface WordMatches {
  readonly result: string;
  /** Names the word referenced that were set (possibly to the empty string). */
  readonly matched: Set<string>;
  /** Names the word referenced that were not set. */
  readonly unmatched: Set<string>;
}

const BACKTICK = 0x60;
const BACKSLASH = 0x5c;

// Characters that make a word more than its own text: `$`, quotes, the escape, a leading BOM.
const SPECIAL_BACKSLASH = /[$'"\\\ufeff]/;
const SPECIAL_BACKTICK = /[$'"`\ufeff]/;

function settingsOf(options: ExpandOptions, capture: boolean): LexerSettings {
  return {
    escapeToken: options.escape === '`' ? BACKTICK : BACKSLASH,
    rawQuotes: options.rawQuotes === true,
    rawEscapes: options.rawEscapes === true,
    skipProcessQuotes: options.skipProcessQuotes === true,
    skipUnsetEnv: options.skipUnsetEnv === true,
    capture,
  };
}

function isPlain(word: string, options: ExpandOptions): boolean {
  return !(options.escape === '`' ? SPECIAL_BACKTICK : SPECIAL_BACKSLASH).test(word);
}

function runLexer<T>(word: string, options: ExpandOptions, body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof ExpandFailure) throw toDockerfileError(error, word, options.origin);
    // A caller already deep in its own stack may run out before MAX_NESTING: same error.
    if (error instanceof RangeError && /call stack/i.test(error.message)) {
      throw toDockerfileError(expandFailure(ExpandErrors.nestingTooDeep, [MAX_NESTING], 0, word.length), word, options.origin);
    }
    throw error;
  }
}

/**
 * Expands one word as BuildKit's `shell.Lex.ProcessWord`: `$NAME`,
 * `${NAME}` and the `${NAME...}` modifier forms are replaced, quotes are
 * removed, escapes applied; white space stays as it is. Throws a
 * DockerfileError with an EXPAND_* code.
 */
export function expandWord(word: string, env: ExpansionEnv, options: ExpandOptions = {}): string {
  if (isPlain(word, options)) return word;
  return runLexer(word, options, () => new ShellWordLexer(word, envLookup(env), settingsOf(options, false)).run());
}

/**
 * Expands and splits into words as BuildKit's `ProcessWords`: white space
 * typed in the word or produced by an unquoted `$` expansion separates
 * words; quoted and escaped white space does not.
 */
export function expandWords(word: string, env: ExpansionEnv, options: ExpandOptions = {}): string[] {
  return runLexer(word, options, () => {
    const words = new WordSplitter();
    new ShellWordLexer(word, envLookup(env), settingsOf(options, false)).run(words);
    return words.finish();
  });
}

/**
 * `expandWord` that also says which variables the word referenced, set or
 * not (BuildKit's `ProcessWordWithMatches`): for the UndefinedVar check and
 * for the build arguments a step's cache key depends on. Names in the word of
 * a modifier count even when the modifier does not use it (`${A:-$B}` with A
 * set still references B).
 */
export function expandWordWithMatches(word: string, env: ExpansionEnv, options: ExpandOptions = {}): WordMatches {
  if (isPlain(word, options)) return { result: word, matched: new Set(), unmatched: new Set() };
  return runLexer(word, options, () => {
    const lexer = new ShellWordLexer(word, envLookup(env), settingsOf(options, true));
    const result = lexer.run();
    return { result, matched: lexer.matched, unmatched: lexer.unmatched };
  });
}
