/**
 * Shell patterns of `${VAR#p}`, `${VAR%p}` and `${VAR/p/r}`, matched as
 * BuildKit matches them. BuildKit turns a pattern into a Go regular
 * expression (`*` is `.*` or `.*?`, `?` is `.`, everything else literal; no
 * bracket expressions) and takes Go's leftmost-first match. Here the pattern
 * is matched directly: a table of "the rest of the pattern can match from
 * here" answers every choice a backtracking engine would make, so the match
 * is the one Go finds, in O(pattern × value) time, with no regular
 * expression compiled per call and no catastrophic backtracking.
 *
 * Go's `.` matches any character but `\n`, and counts characters as code
 * points; so does this matcher.
 */

const STAR = -1;
const ANY = -2;
const NEWLINE = 0x0a;
const BACKSLASH = 0x5c;

/** A parsed pattern: code points, with STAR and ANY for the wildcards (runs of `*` folded into one). */
export interface ShellPattern {
  readonly tokens: readonly number[];
  /** The text to match when the pattern has no wildcard (and no lone surrogate): plain string search suffices. */
  readonly literal: string | undefined;
}

const SURROGATE = /[\ud800-\udfff]/;

function literalOf(tokens: readonly number[]): string | undefined {
  if (tokens.some((t) => t < 0)) return undefined;
  const text = joinCodePoints(tokens, 0, tokens.length);
  return SURROGATE.test(text) ? undefined : text;
}

/**
 * A pattern that cannot be used: `syntax` for a backslash before anything
 * but `*`, `?`, `\`, `}` or `/`; `size` when pattern × value exceeds
 * MAX_MATCH_CELLS.
 */
export class PatternError {
  constructor(
    readonly detail: string,
    readonly kind: 'syntax' | 'size' = 'syntax',
  ) {}
}

/** Characters Go's `regexp.QuoteMeta`-like escaping in BuildKit puts a backslash before. */
const REGEX_SPECIALS = new Set(Array.from('[]{}.+()|^$', (c) => c.codePointAt(0) ?? 0));

function codePoints(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i) ?? 0;
    out.push(cp);
    i += cp > 0xffff ? 2 : 1;
  }
  return out;
}

/**
 * Reads a pattern as BuildKit's `convertShellPatternToRegex` does: `*` and
 * `?` are wildcards; `\}` and `\/` are a literal `}` or `/`; `\*`, `\?` and
 * `\\` the character itself; any other escape is an error. A byte order mark
 * at the very start is skipped, as Go's text/scanner skips it.
 */
function scanPattern(pattern: string): number[] {
  const chars = codePoints(pattern);
  const tokens: number[] = [];
  let i = chars[0] === 0xfeff ? 1 : 0;
  while (i < chars.length) {
    const ch = chars[i++] as number;
    if (ch === 0x2a /* * */) tokens.push(STAR);
    else if (ch === 0x3f /* ? */) tokens.push(ANY);
    else if (ch !== BACKSLASH) tokens.push(ch);
    else {
      const next = chars[i];
      if (next === 0x7d /* } */ || next === 0x2f /* / */) continue; // the escape is not part of the pattern
      i++;
      if (next !== 0x2a && next !== 0x3f && next !== BACKSLASH) {
        throw new PatternError(`invalid escape '\\${next === undefined ? '' : String.fromCodePoint(next)}'`);
      }
      tokens.push(next);
    }
  }
  return tokens;
}

/** Parses a pattern (see `scanPattern`); throws PatternError. */
export function parseShellPattern(pattern: string): ShellPattern {
  // `**` matches what `*` matches, greedy or lazy: runs of stars fold into one.
  const tokens = scanPattern(pattern).filter((t, i, all) => t !== STAR || all[i - 1] !== STAR);
  return { tokens, literal: literalOf(tokens) };
}

/**
 * The Go regular expression BuildKit compiles for `pattern`
 * (`convertShellPatternToRegex(pattern, greedy, anchored).String()`).
 * Diagnostic only: matching never goes through it.
 */
export function shellPatternToRegexSource(pattern: string, options: { greedy: boolean; anchored: boolean }): string {
  let out = options.anchored ? '^' : '';
  for (const token of scanPattern(pattern)) {
    if (token === STAR) out += options.greedy ? '.*' : '.*?';
    else if (token === ANY) out += '.';
    else {
      // A literal *, ? or \ can only have come escaped; the rest of Go's metacharacters are escaped too.
      const escaped = token === 0x2a || token === 0x3f || token === BACKSLASH || REGEX_SPECIALS.has(token);
      out += (escaped ? '\\' : '') + String.fromCodePoint(token);
    }
  }
  return out;
}

/** A match: code point offsets into the value, `end` exclusive. */
interface Span {
  readonly start: number;
  readonly end: number;
}

/**
 * The most table cells (pattern tokens × value length) one match may use:
 * enough for any real Dockerfile, and a bound on time and memory (BuildKit's
 * Go regexp takes the same O(pattern × value) time, unbounded).
 */
export const MAX_MATCH_CELLS = 2 ** 25;

/**
 * Answers where a pattern matches in one value. Row i of the table says
 * whether tokens i.. can match some text starting at code point j (the
 * pattern is not anchored at the end, so an exhausted pattern always
 * matches). Only row 0 and, per star, the position the star stops at are
 * kept.
 */
class Matcher {
  /** Row 0: where a match can start. */
  private readonly starts: Uint8Array;
  /** For each star token: where the star that begins at j ends (see lastViableInLine, firstViable). */
  private readonly choice: (Int32Array | undefined)[];

  constructor(
    private readonly tokens: readonly number[],
    private readonly text: readonly number[],
    greedy: boolean,
  ) {
    const n = text.length;
    const m = tokens.length;
    if (m * (n + 1) > MAX_MATCH_CELLS) {
      throw new PatternError(`a pattern of ${m} tokens is too large to match against ${n} characters`, 'size');
    }
    this.choice = new Array<Int32Array | undefined>(m);
    let next = new Uint8Array(n + 1).fill(1);
    for (let i = m - 1; i >= 0; i--) {
      const row = new Uint8Array(n + 1);
      const token = tokens[i] as number;
      if (token === STAR) {
        row[n] = next[n] as number;
        for (let j = n - 1; j >= 0; j--) row[j] = next[j] || (text[j] !== NEWLINE && row[j + 1]) ? 1 : 0;
        this.choice[i] = greedy ? lastViableInLine(next, text) : firstViable(next);
      } else {
        for (let j = 0; j < n; j++) {
          const ch = text[j] as number;
          row[j] = next[j + 1] && (token === ANY ? ch !== NEWLINE : ch === token) ? 1 : 0;
        }
      }
      next = row;
    }
    this.starts = next;
  }

  /** Whether the pattern matches starting at `start`. */
  matchesAt(start: number): boolean {
    return this.starts[start] === 1;
  }

  /** The end of the match that starts at `start`, which must be viable. */
  endOf(start: number): number {
    let j = start;
    for (let i = 0; i < this.tokens.length; i++) {
      const choice = this.choice[i];
      j = choice === undefined ? j + 1 : (choice[j] as number);
    }
    return j;
  }

  /** The leftmost match starting at or after `from`. */
  find(from: number): Span | undefined {
    for (let s = from; s <= this.text.length; s++) if (this.starts[s]) return { start: s, end: this.endOf(s) };
    return undefined;
  }
}

/**
 * For a greedy star: from position j the star may run to the end of the line
 * (Go's `.` stops at `\n`); it takes the farthest position p in [j, lineEnd]
 * where the rest is viable. Computed right to left per line.
 */
function lastViableInLine(rest: Uint8Array, text: readonly number[]): Int32Array {
  const n = text.length;
  const out = new Int32Array(n + 1).fill(-1);
  let best = rest[n] ? n : -1;
  out[n] = best;
  for (let j = n - 1; j >= 0; j--) {
    if (text[j] === NEWLINE) best = -1; // a star starting before the newline cannot reach past it
    if (best < 0 && rest[j]) best = j;
    out[j] = best;
  }
  return out;
}

/** For a lazy star: the nearest position p ≥ j where the rest is viable (it is never past the line end when the star itself is viable). */
function firstViable(rest: Uint8Array): Int32Array {
  const n = rest.length - 1;
  const out = new Int32Array(n + 1).fill(-1);
  let best = -1;
  for (let j = n; j >= 0; j--) {
    if (rest[j]) best = j;
    out[j] = best;
  }
  return out;
}

/** The string of code points `text[start..end)`, built in chunks (no argument-count limit). */
function joinCodePoints(text: readonly number[], start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i += 4096) out += String.fromCodePoint(...text.slice(i, Math.min(end, i + 4096)));
  return out;
}

/**
 * `value` without the part the anchored pattern matches at its start:
 * the shortest match (`#`) or the longest (`##`).
 */
export function trimPrefix(pattern: ShellPattern, value: string, greedy: boolean): string {
  if (pattern.literal !== undefined) return value.startsWith(pattern.literal) ? value.slice(pattern.literal.length) : value;
  const text = codePoints(value);
  const matcher = new Matcher(pattern.tokens, text, greedy);
  if (!matcher.matchesAt(0)) return value;
  return joinCodePoints(text, matcher.endOf(0), text.length);
}

/** Reverses a string by code points (BuildKit's `reverseString`). */
export function reverseString(text: string): string {
  const chars = codePoints(text).reverse();
  return joinCodePoints(chars, 0, chars.length);
}

/**
 * Reverses a pattern by code points but keeps each `\x` escape in front of
 * the character it escapes (BuildKit's `reversePattern`): `a\*c` → `c\*a`.
 */
export function reversePattern(pattern: string): string {
  const chars = codePoints(pattern);
  const out = new Array<number>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i] as number;
    const at = last - i;
    if (ch === BACKSLASH && i !== last) {
      out[at - 1] = ch;
      out[at] = chars[i + 1] as number;
      i += 2;
    } else {
      out[at] = ch;
      i++;
    }
  }
  return joinCodePoints(out, 0, out.length);
}

/**
 * `value` without the part the pattern matches at its end (`%` shortest,
 * `%%` longest). As BuildKit: reverse pattern and value, trim the prefix,
 * reverse back. `pattern` is the pattern text, as written.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  const reversed = parseShellPattern(reversePattern(pattern));
  if (reversed.literal !== undefined) {
    const suffix = reverseString(reversed.literal);
    return value.endsWith(suffix) ? value.slice(0, value.length - suffix.length) : value;
  }
  return reverseString(trimPrefix(reversed, reverseString(value), greedy));
}

/** `${VAR/p/r}`: the first (leftmost) match replaced; the replacement is literal. */
export function replaceFirst(pattern: ShellPattern, value: string, replacement: string): string {
  if (pattern.literal !== undefined) {
    const at = value.indexOf(pattern.literal);
    return at < 0 ? value : value.slice(0, at) + replacement + value.slice(at + pattern.literal.length);
  }
  const text = codePoints(value);
  const span = new Matcher(pattern.tokens, text, true).find(0);
  if (span === undefined) return value;
  return joinCodePoints(text, 0, span.start) + replacement + joinCodePoints(text, span.end, text.length);
}

/**
 * `${VAR//p/r}`: every match replaced, as Go's `Regexp.ReplaceAllString`
 * (an empty match right after a match is not replaced; `$0`, `${0}` in the
 * replacement stand for the match and `$$` for `$`, see `expandTemplate`).
 */
export function replaceAll(pattern: ShellPattern, value: string, replacement: string): string {
  // A non-empty literal: matches never overlap or touch emptily, so this is Go's loop.
  if (pattern.literal !== undefined && pattern.literal !== '') {
    return value.split(pattern.literal).join(expandTemplate(replacement, pattern.literal));
  }
  const text = codePoints(value);
  const matcher = new Matcher(pattern.tokens, text, true);
  let out = '';
  let lastEnd = 0;
  let searchPos = 0;
  while (searchPos <= text.length) {
    const span = matcher.find(searchPos);
    if (span === undefined) break;
    out += joinCodePoints(text, lastEnd, span.start);
    if (span.end > lastEnd || span.start === 0) out += expandTemplate(replacement, joinCodePoints(text, span.start, span.end));
    lastEnd = span.end;
    searchPos = searchPos + 1 > span.end ? searchPos + 1 : span.end;
  }
  return out + joinCodePoints(text, lastEnd, text.length);
}

const LETTER_OR_DIGIT = /^[\p{L}\p{Nd}_]$/u;

/**
 * Go's `Regexp.Expand` for a pattern whose only group is the whole match:
 * `$$` is `$`; `$name` / `${name}` (letters, digits, `_`) is the match for
 * `0` and empty for any other name; a malformed `$` stays as it is.
 */
function expandTemplate(template: string, match: string): string {
  if (!template.includes('$')) return template;
  let out = '';
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf('$', i);
    if (dollar < 0) break;
    out += template.slice(i, dollar);
    i = dollar + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    const brace = template[i] === '{';
    let j = brace ? i + 1 : i;
    const nameStart = j;
    while (j < template.length) {
      const cp = template.codePointAt(j) ?? 0;
      const ch = String.fromCodePoint(cp);
      if (!LETTER_OR_DIGIT.test(ch)) break;
      j += ch.length;
    }
    const name = template.slice(nameStart, j);
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$'; // malformed: the dollar is literal, scanning goes on after it
      continue;
    }
    if (brace) j++;
    if (name === '0') out += match;
    i = j;
  }
  return out + template.slice(i);
}
