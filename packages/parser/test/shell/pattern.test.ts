import { PatternError, expandWord, parseShellPattern, reversePattern, reverseString, shellPatternToRegexSource } from '@strata/parser';

describe('shellPatternToRegexSource', () => {
  it.each([
    ['a*b?c', true, false, 'a.*b.c'],
    ['a*b', false, true, '^a.*?b'],
    ['**', true, true, '^.*.*'],
    ['\\}\\/x', true, false, '\\}/x'],
    ['a+b.c', true, false, 'a\\+b\\.c'],
    ['한*', true, true, '^한.*'],
  ])('%j (greedy %s, anchored %s) is %j', (pattern, greedy, anchored, expected) => {
    expect(shellPatternToRegexSource(pattern, { greedy, anchored })).toBe(expected);
  });

  it.each(['\\', 'a\\b', '\\[', '\\.'])('rejects the escape in %j', (pattern) => {
    expect(() => shellPatternToRegexSource(pattern, { greedy: true, anchored: true })).toThrow(PatternError);
    expect(() => parseShellPattern(pattern)).toThrow(PatternError);
  });
});

describe('reversePattern / reverseString', () => {
  it('keeps escapes in front of what they escape', () => {
    expect(reversePattern('ab\\*c\\\\')).toBe('\\\\c\\*ba');
    expect(reversePattern('😀\\?x')).toBe('x\\?😀');
    expect(reversePattern('')).toBe('');
  });

  it('reverses by code point', () => {
    expect(reverseString('a😀b')).toBe('b😀a');
    expect(reverseString('x'.repeat(10000) + 'y')).toBe('y' + 'x'.repeat(10000));
  });
});

/**
 * The matcher must pick the match Go's leftmost-first regexp picks. JavaScript
 * RegExp has the same leftmost-first preference for these patterns (with
 * `[^\n]` for Go's `.` and the `u` flag for code points), so on small random
 * inputs the two are compared directly.
 */
describe('matching agrees with a leftmost-first regular expression', () => {
  let seed = 20240611;
  function random(): number {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  }
  function pick<T>(items: readonly T[]): T {
    return items[Math.floor(random() * items.length)] as T;
  }
  function make(atoms: readonly string[], max: number): string {
    let out = '';
    for (let n = Math.floor(random() * (max + 1)); n > 0; n--) out += pick(atoms);
    return out;
  }
  function toRegExp(pattern: string, greedy: boolean, anchored: boolean, flags: string): RegExp {
    const source = shellPatternToRegexSource(pattern, { greedy, anchored }).replace(/\\.|\./g, (m) => (m === '.' ? '[^\\n]' : m));
    return new RegExp(source, `u${flags}`);
  }

  /**
   * Go's ReplaceAllString loop over a global RegExp: unlike String.replace it
   * does not replace an empty match right after a match, and it steps one code
   * point past an empty match.
   */
  function goReplaceAll(re: RegExp, value: string, replacement: string): string {
    let out = '';
    let lastEnd = 0;
    let searchPos = 0;
    while (searchPos <= value.length) {
      re.lastIndex = searchPos;
      const match = re.exec(value);
      if (match === null) break;
      const start = match.index;
      const end = start + match[0].length;
      out += value.slice(lastEnd, start);
      if (end > lastEnd || start === 0) out += replacement;
      lastEnd = end;
      const width = searchPos < value.length ? String.fromCodePoint(value.codePointAt(searchPos) ?? 0).length : 1;
      searchPos = searchPos + width > end ? searchPos + width : end;
    }
    return out + value.slice(lastEnd);
  }

  const patternAtoms = ['a', 'b', '*', '?', '\\*', '\\?', '\\\\', '.', '😀'];
  const valueAtoms = ['a', 'b', '*', '?', '\\', '.', '\n', '😀'];

  it('for #, ##, %, %%, / and // on 3000 random cases', () => {
    for (let i = 0; i < 3000; i++) {
      const pattern = make(patternAtoms, 5);
      const value = make(valueAtoms, 8);
      const env = new Map([
        ['V', value],
        ['P', pattern],
      ]);
      const label = JSON.stringify({ pattern, value });

      for (const greedy of [false, true]) {
        const prefix = toRegExp(pattern, greedy, true, '').exec(value);
        const expectedPrefix = prefix === null ? value : value.slice(prefix[0].length);
        expect([label, expandWord(greedy ? '${V##$P}' : '${V#$P}', env)]).toEqual([label, expectedPrefix]);

        // % is # on the reversed value with the reversed pattern.
        const reversed = toRegExp(reversePattern(pattern), greedy, true, '').exec(reverseString(value));
        const expectedSuffix = reversed === null ? value : reverseString(reverseString(value).slice(reversed[0].length));
        expect([label, expandWord(greedy ? '${V%%$P}' : '${V%$P}', env)]).toEqual([label, expectedSuffix]);
      }

      const first = toRegExp(pattern, true, false, '').exec(value);
      const expectedFirst = first === null ? value : value.slice(0, first.index) + '-' + value.slice(first.index + first[0].length);
      expect([label, expandWord('${V/$P/-}', env)]).toEqual([label, expectedFirst]);

      const expectedAll = goReplaceAll(toRegExp(pattern, true, false, 'g'), value, '-');
      expect([label, expandWord('${V//$P/-}', env)]).toEqual([label, expectedAll]);
    }
  });
});
