import { ExpandErrors, expandWord, isDockerfileError, type DockerfileError } from '@strata/parser';
import { readTable } from './table.js';

const env = new Map([
  ['A', 'a b'],
  ['E', ''],
]);

function failure(run: () => unknown): DockerfileError {
  try {
    run();
  } catch (error) {
    if (isDockerfileError(error)) return error;
    throw error;
  }
  throw new Error('expected a DockerfileError');
}

describe('expansion errors', () => {
  it.each(readTable('errors.txt').map((row) => [row.id, row] as const))('%s', (_, row) => {
    const [code, range] = (row.expected as string).split(' ') as [string, string];
    const [start, end] = range.split('-').map(Number) as [number, number];
    const error = failure(() => expandWord(row.input, env));
    expect({ code: error.code, start: error.location?.start.offset, end: error.location?.end.offset }).toEqual({ code, start, end });
    expect(error.location?.start).toEqual({ line: 1, column: start + 1, offset: start });
  });

  it("says BuildKit's message after the word, and a hint from the catalog", () => {
    const error = failure(() => expandWord('x${U:?}', env));
    expect(error.message).toBe('failed to process "x${U:?}": U: is not allowed to be unset');
    expect(error.hint).toBe(ExpandErrors.requiredVariable.hint);
    expect(failure(() => expandWord('${E:?}', env)).message).toContain('E: is not allowed to be empty');
    expect(failure(() => expandWord('${E:?set E first}', env)).message).toContain('E: set E first');
    expect(failure(() => expandWord('${A:=x}', env)).message).toContain('unsupported modifier (:=) in substitution');
    expect(failure(() => expandWord("'x", env)).message).toContain('looking for matching single-quote');
  });

  it('expands the message of ${NAME?message}', () => {
    expect(failure(() => expandWord('${U?need $A here}', env)).message).toContain('U: need a b here');
  });

  it('points into the file when given the origin of the word', () => {
    const origin = { file: 'Dockerfile', start: { line: 3, column: 7, offset: 40 } };
    const error = failure(() => expandWord('ab${}', env, { origin }));
    expect(error.location).toEqual({
      file: 'Dockerfile',
      start: { line: 3, column: 9, offset: 42 },
      end: { line: 3, column: 12, offset: 45 },
    });
  });

  it('counts lines inside a word that spans lines', () => {
    const origin = { start: { line: 3, column: 7, offset: 40 } };
    const error = failure(() => expandWord('a\nbc${', env, { origin }));
    expect(error.location?.start).toEqual({ line: 4, column: 3, offset: 44 });
  });

  it('bounds nesting instead of overflowing the stack', () => {
    const nested = (depth: number): string => '${U:-'.repeat(depth) + 'x' + '}'.repeat(depth);
    expect(expandWord(nested(256), env)).toBe('x');
    const error = failure(() => expandWord(nested(100000), env));
    expect(error.code).toBe('EXPAND_NESTING_TOO_DEEP');
    expect(error.location?.start.offset).toBe(256 * '${U:-'.length);
  });

  it('refuses a wildcard pattern too large for the value rather than exhaust memory', () => {
    const big = new Map([['L', 'a'.repeat(1_000_000)]]);
    expect(failure(() => expandWord(`\${L//${'?'.repeat(40)}/x}`, big)).code).toBe('EXPAND_PATTERN_TOO_LARGE');
    // A literal pattern needs no table, whatever its length.
    expect(expandWord(`\${L#${'a'.repeat(40)}}`, big)).toHaveLength(1_000_000 - 40);
  });

  it('gives every catalog entry an EXPAND_ code and a hint', () => {
    for (const entry of Object.values(ExpandErrors)) {
      expect(entry.code).toMatch(/^EXPAND_[A-Z_]+$/);
      expect(entry.hint).toEqual(expect.any(String));
    }
  });
});
