/**
 * Go's `strconv.Quote`: a double-quoted string literal with Go escapes,
 * printable runes (Go's `unicode.IsPrint`) written as they are. BuildKit's
 * dump notation quotes every argument with it.
 */

// Go's IsPrint: categories L, M, N, P, S, plus the ASCII space.
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x07: '\\a',
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x0b: '\\v',
};

function hex(value: number, width: number): string {
  return value.toString(16).padStart(width, '0');
}

function quoteRune(cp: number, ch: string): string {
  if (cp === 0x22) return '\\"';
  if (cp === 0x5c) return '\\\\';
  if (cp >= 0x20 && cp < 0x7f) return ch;
  if (cp >= 0xd800 && cp <= 0xdfff) return '\\ufffd'; // a lone surrogate: never in Go text, whose decoder yields U+FFFD
  if (cp >= 0x80 && PRINTABLE.test(ch)) return ch;
  const short = SHORT_ESCAPES[cp];
  if (short !== undefined) return short;
  if (cp < 0x20 || cp === 0x7f) return `\\x${hex(cp, 2)}`;
  if (cp < 0x10000) return `\\u${hex(cp, 4)}`;
  return `\\U${hex(cp, 8)}`;
}

export function goQuote(text: string): string {
  let out = '"';
  for (const ch of text) out += quoteRune(ch.codePointAt(0) as number, ch);
  return `${out}"`;
}
