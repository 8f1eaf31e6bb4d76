/**
 * Go's notions of white space, as BuildKit's parser uses them. Go's
 * `unicode.IsSpace` differs from JavaScript's `\s`: it includes U+0085 (NEL)
 * and excludes U+FEFF, so the classes are spelled out here.
 */

/** Characters of Go's `unicode.IsSpace`, as a regular-expression class body. */
export const GO_SPACE_CLASS = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** BuildKit's `reWhitespace`: `[\t\v\f\r ]+`. */
export const ASCII_BLANKS = /[\t\v\f\r ]+/;

const LEADING_GO_SPACE = new RegExp(`^[${GO_SPACE_CLASS}]+`);
const TRAILING_GO_SPACE = new RegExp(`[${GO_SPACE_CLASS}]+$`);

/** Go's `unicode.IsSpace` for one UTF-16 code unit (every Go space is in the BMP). */
export function isGoSpace(code: number): boolean {
  if (code <= 0x20) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  if (code < 0x85) return false;
  return (
    code === 0x85 ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000
  );
}

/** Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function trimLeftGoSpace(text: string): string {
  const first = text.charCodeAt(0);
  return first === first && isGoSpace(first) ? text.replace(LEADING_GO_SPACE, '') : text;
}

/** Go's `strings.TrimSpace`. */
export function trimGoSpace(text: string): string {
  if (text.length === 0) return text;
  const first = text.charCodeAt(0);
  const last = text.charCodeAt(text.length - 1);
  if (!isGoSpace(first) && !isGoSpace(last)) return text;
  return text.replace(LEADING_GO_SPACE, '').replace(TRAILING_GO_SPACE, '');
}

/** Go's `regexp.Split(s, n)` for BuildKit's `reWhitespace` with n = 2. */
export function splitOnceOnBlanks(text: string): [string] | [string, string] {
  const match = ASCII_BLANKS.exec(text);
  if (match === null) return [text];
  return [text.slice(0, match.index), text.slice(match.index + match[0].length)];
}

/** Go's `regexp.Split(s, -1)` for `reWhitespace` (empty pieces kept, as Go keeps them). */
export function splitOnBlanks(text: string): string[] {
  return text.split(/[\t\v\f\r ]+/);
}

/** UTF-8 byte length of a string (lone surrogates count as the 3 bytes of U+FFFD, as Go writes them). */
export function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 2 units, 4 bytes
      i++;
    } else bytes += 2;
  }
  return bytes;
}

/**
 * The UTF-8 bytes of `text`, one character (U+0000..U+00FF) per byte. Some of
 * BuildKit's splitters walk bytes and turn each byte into a rune: working on
 * this form reproduces their results (a lone surrogate becomes U+FFFD's bytes).
 */
export function toByteString(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp < 0x80) out += ch;
    else if (cp < 0x800) out += String.fromCharCode(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\xef\xbf\xbd';
    else if (cp < 0x10000) out += String.fromCharCode(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    else out += String.fromCharCode(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  }
  return out;
}

/** Decodes a byte string (see `toByteString`) as UTF-8; a byte that starts no valid sequence becomes U+FFFD. */
export function fromByteString(bytes: string): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b = bytes.charCodeAt(i);
    if (b < 0x80) {
      out += bytes[i];
      i++;
      continue;
    }
    const length = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 0;
    let cp = length === 4 ? b & 0x07 : length === 3 ? b & 0x0f : b & 0x1f;
    let ok = length > 0 && i + length <= bytes.length;
    for (let k = 1; ok && k < length; k++) {
      const c = bytes.charCodeAt(i + k);
      if ((c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    const min = length === 4 ? 0x10000 : length === 3 ? 0x800 : 0x80;
    if (!ok || cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      out += '\ufffd';
      i++;
      continue;
    }
    out += String.fromCodePoint(cp);
    i += length;
  }
  return out;
}

/**
 * Go's `strings.ToLower`: rune by rune, with no context (JavaScript lower-cases
 * a final Σ to ς and İ to two characters; Go gives σ and i).
 */
export function goToLower(text: string): string {
  if (!/[^\x00-\x7f]/.test(text)) return text.toLowerCase();
  let out = '';
  for (const ch of text) out += ch === '\u0130' ? 'i' : ch.toLowerCase();
  return out;
}

/** Go's `%q` of a string (`strconv.Quote`), for messages that BuildKit formats with it. */
export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp === 0x22 || cp === 0x5c) out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp >= 0x80 && GO_PRINTABLE.test(ch)) out += ch;
    else if (GO_SHORT_ESCAPES[cp] !== undefined) out += GO_SHORT_ESCAPES[cp];
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\ufffd';
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}

const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;
const GO_SHORT_ESCAPES: Readonly<Record<number, string>> = { 7: '\\a', 8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r', 9: '\\t', 11: '\\v' };
