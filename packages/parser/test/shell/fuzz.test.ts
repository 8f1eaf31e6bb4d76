import { expandWord, expandWordWithMatches, expandWords, isDockerfileError, type ExpandOptions } from '@strata/parser';

/**
 * Random words built from the characters that matter to the lexer (and some
 * that should not: astral characters, lone surrogates, NUL, BOM). Every
 * outcome must be a value or a DockerfileError with an EXPAND_ code.
 */
describe('expansion never fails with anything but an EXPAND_ DockerfileError', () => {
  let seed = 7;
  function random(): number {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  }
  function pick<T>(items: readonly T[]): T {
    return items[Math.floor(random() * items.length)] as T;
  }
  const atoms = [
    '$', '{', '}', ':', '-', '+', '?', '#', '%', '/', '\\', '`', "'", '"', '<', ' ', '\t', '\n', '*', '@', '!', '0', '9',
    'A', 'E', 'U', '_', '.', '=', '[', '😀', '\ud800', '\udc00', '\u0000', '\ufeff', '\u00a0',
    '${A', '${E:-', '${U:?', '${A#', '${A%%', '${A/', '${A//', '\\}', '\\*', '\\$', '<<',
  ];
  const values = ['', 'a b', '*?\\', '$0$$', '\n', '😀x', '\ud800'];

  it('on 5000 random words, options and environments', () => {
    const codes = new Set<string>();
    let produced = 0;
    for (let i = 0; i < 5000; i++) {
      let word = '';
      for (let n = Math.floor(random() * 16); n > 0; n--) word += pick(atoms);
      const env = { A: pick(values), E: '' };
      const options: ExpandOptions = {
        escape: random() < 0.2 ? '`' : '\\',
        rawQuotes: random() < 0.2,
        rawEscapes: random() < 0.2,
        skipProcessQuotes: random() < 0.1,
        skipUnsetEnv: random() < 0.2,
      };
      for (const run of [() => expandWord(word, env, options), () => expandWords(word, env, options), () => expandWordWithMatches(word, env, options)]) {
        try {
          run();
          produced++;
        } catch (error) {
          if (!isDockerfileError(error) || !error.code.startsWith('EXPAND_')) throw new Error(`${JSON.stringify(word)}: ${String(error)}`);
          codes.add(error.code);
        }
      }
    }
    // Both outcomes are exercised: values, and every kind of error.
    expect(produced).toBeGreaterThan(1000);
    expect([...codes].sort()).toEqual([
      'EXPAND_BAD_SUBSTITUTION',
      'EXPAND_INVALID_PATTERN',
      'EXPAND_MISSING_BRACE',
      'EXPAND_MISSING_SLASH',
      'EXPAND_REQUIRED_VARIABLE',
      'EXPAND_UNSUPPORTED_MODIFIER',
      'EXPAND_UNTERMINATED_QUOTE',
    ]);
  });
});
