import { parseDockerfile } from '@strata/parser';
import { formatDump } from '../tools/conformance/src/dump.js';
import { goQuote } from '../tools/conformance/src/go-quote.js';

describe('goQuote (Go strconv.Quote)', () => {
  it.each([
    ['plain', '"plain"'],
    ['a "b" \\c', '"a \\"b\\" \\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\0\x1b\x7f', '"\\x00\\x1b\\x7f"'],
    ['♥☃é', '"♥☃é"'],
    ['\u00a0\ufeff\u200b', '"\\u00a0\\ufeff\\u200b"'],
    ['\u{1F600}\u{E0001}', '"\u{1F600}\\U000e0001"'],
  ])('%j', (input, expected) => {
    expect(goQuote(input)).toBe(expected);
  });
});

describe('formatDump (BuildKit Node.Dump)', () => {
  it('prints flags, arguments and nested ONBUILD as BuildKit does', () => {
    const result = parseDockerfile('FROM a AS b\nONBUILD --x RUN --mount=type=cache,target=/y y\nCMD []\nFOO bar\nENV k v w\n');
    expect(formatDump(result)).toBe(
      '(from "a" "AS" "b")\n(onbuild ["--x"] (run ["--mount=type=cache,target=/y"] "y"))\n(cmd)\n(foo "")\n(env "k" "v w" "")\n',
    );
  });
});
