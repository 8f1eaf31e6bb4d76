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
