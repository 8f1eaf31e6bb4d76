import type { RawInstruction } from '../ast.js';
import type { Position, SourceLocation } from '../location.js';

/** Skips blanks, escaped line ends of continuation lines and comment lines between them. */
function skipSeparators(text: string, from: number): number {
  let i = from;
  for (;;) {
    const c = text[i];
    if (c === undefined) return i;
    if (/\s/.test(c)) {
      if (c === '\n') {
        const comment = /^[ \t]*#[^\n]*(?:\n|$)/.exec(text.slice(i + 1));
        if (comment !== null) {
          i += 1 + comment[0].length;
          continue;
        }
      }
      i++;
      continue;
    }
    const lineEnd = (c === '\\' || c === '`') ? /^[ \t]*\r?\n/.exec(text.slice(i + 1)) : null;
    if (lineEnd === null) return i;
    i += 1 + lineEnd[0].length;
  }
}

/** Offsets (in `original`) of the flag words after the keyword: quote-aware, escapes skip a character. */
function flagWordRanges(original: string): [number, number][] {
  const ranges: [number, number][] = [];
  let i = /^\s*\S+/.exec(original)?.[0].length ?? original.length;
  for (;;) {
    i = skipSeparators(original, i);
    if (!original.startsWith('--', i)) return ranges;
    const start = i;
    let quote: string | undefined;
    while (i < original.length) {
      const c = original[i] ?? '';
      if (quote !== undefined) {
        if (c === quote) quote = undefined;
      } else if (c === '"' || c === "'") {
        quote = c;
      } else if ((c === '\\' || c === '`') && /[\r\n]/.test(original[i + 1] ?? '')) {
        break; // a continuation: the word ends here
      } else if (/\s/.test(c)) {
        break;
      }
      i++;
    }
    if (original.slice(start, i) === '--') return ranges;
    ranges.push([start, i]);
  }
}

function positionAt(raw: RawInstruction, index: number): Position {
  const before = raw.original.slice(0, index);
  const newlines = before.split('\n');
  const line = raw.location.start.line + newlines.length - 1;
  const column = newlines.length === 1 ? raw.location.start.column + index : (newlines[newlines.length - 1] ?? '').length + 1;
  return { line, column, offset: raw.location.start.offset + index };
}

/**
 * The location of the `n`-th flag word (0-based) of an instruction, for a
 * caret under the flag rather than the whole instruction; undefined when the
 * source text does not show it plainly.
 */
export function flagLocation(raw: RawInstruction, n: number): SourceLocation | undefined {
  const range = flagWordRanges(raw.original)[n];
  if (range === undefined) return undefined;
  return {
    ...(raw.location.file === undefined ? {} : { file: raw.location.file }),
    start: positionAt(raw, range[0]),
    end: positionAt(raw, range[1]),
  };
}

/** The index in `raw.flags` of the `k`-th flag named `name` (`--name` or `--name=...`). */
export function flagIndex(raw: RawInstruction, name: string, k: number): number {
  let seen = 0;
  for (let i = 0; i < raw.flags.length; i++) {
    const word = raw.flags[i] ?? '';
    if (word === `--${name}` || word.startsWith(`--${name}=`)) {
      if (seen === k) return i;
      seen++;
    }
  }
  return -1;
}
