import { expandWord, expandWordWithMatches, expandWords, isDockerfileError, type ExpandOptions } from '@strata/parser';
import { readTable, type Row } from './table.js';

// The environment of every table in testdata/. The expected values of the
// tables were also checked against BuildKit's own shell.Lex (lex.go) while
// they were written; the BuildKit vectors themselves run in tools/conformance.
const env = new Map(
  Object.entries({
    A: 'a b',
    E: '',
    F: 'file.tar.gz',
    P: '/usr/local/bin',
    K: '한국어😀x',
    NL: 'one\ntwo',
    STAR: '/foo*/*/*.txt',
    T: '$0$0',
    D: '$$',
    W: '$x',
    V: '$',
    H: '#',
    AB: 'ab',
    Q: '"x y"',
    Z: 'x*',
  }),
);

function cases(name: string): [string, Row][] {
  return readTable(name).map((row) => [row.id, row]);
}

function codeOf(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return isDockerfileError(error) ? error.code : error;
  }
  return 'no error';
}

function checkWord(row: Row, options: ExpandOptions = {}): void {
  const expected = row.expected as string;
  if (expected.startsWith('error ')) expect(codeOf(() => expandWord(row.input, env, options))).toBe(expected.slice('error '.length));
  else expect(expandWord(row.input, env, options)).toBe(expected);
}

describe('expandWord', () => {
  it.each(cases('patterns.txt'))('patterns %s', (_, row) => checkWord(row));
  it.each(cases('backtick.txt'))('escape=` %s', (_, row) => checkWord(row, { escape: '`' }));
  it.each(cases('raw-quotes.txt'))('rawQuotes %s', (_, row) => checkWord(row, { rawQuotes: true }));
  it.each(cases('raw-escapes.txt'))('rawEscapes %s', (_, row) => checkWord(row, { rawEscapes: true }));
  it.each(cases('skip-unset-env.txt'))('skipUnsetEnv %s', (_, row) => checkWord(row, { skipUnsetEnv: true }));
  it.each(cases('skip-process-quotes.txt'))('skipProcessQuotes %s', (_, row) => checkWord(row, { skipProcessQuotes: true }));

  it('stays linear on patterns that make a backtracking engine explode', () => {
    const value = 'a'.repeat(20000);
    const long = new Map([['L', value]]);
    expect(expandWord('${L//*a*a*a*a*a*a*a*b/x}', long)).toBe(value);
    expect(expandWord('${L##*a*a*a*a*a*a*a*b}', long)).toBe(value);
    expect(expandWord('${L%%*a*a*a*a*a*a*a*b}', long)).toBe(value);
    expect(expandWord('${L//a/b}', long)).toBe('b'.repeat(20000));
    expect(expandWord('${L#*a*a}', long)).toBe(value.slice(2));
  });

  it('reads own properties of a record only', () => {
    expect(expandWord('${constructor:-unset}/${toString:-unset}/${__proto__:-unset}/$A', { A: 'x' })).toBe('unset/unset/unset/x');
  });

  it('reads any EnvGetter and tells unset from empty', () => {
    const seen: string[] = [];
    const getter = {
      get(name: string): string | undefined {
        seen.push(name);
        return name === 'SET' ? '' : undefined;
      },
    };
    expect(expandWord('${SET-a}${UNSET-b}${SET:-c}', getter)).toBe('bc');
    expect(seen).toEqual(['SET', 'UNSET', 'SET']);
  });

  it('skips a byte order mark at the start of the word only, as Go text/scanner', () => {
    expect(expandWord('\ufeff$A', env)).toBe('a b');
    expect(expandWord('x\ufeff$A', env)).toBe('x\ufeffa b');
  });

  it('returns a word without $, quotes or escapes as it is', () => {
    expect(expandWord('plain-word  with spaces', env)).toBe('plain-word  with spaces');
    expect(expandWordWithMatches('plain', env)).toEqual({ result: 'plain', matched: new Set(), unmatched: new Set() });
  });
});

describe('expandWords', () => {
  it.each(cases('words.txt'))('%s', (_, row) => {
    expect(expandWords(row.input, env)).toEqual(row.expected);
  });

  it('keeps the partial word before a ${NAME:-...} (BuildKit at 73ed682 drops it: a known upstream regression)', () => {
    // BuildKit's ProcessWords resets a words buffer shared with the nested
    // ${...} word, so it splits `ab${U:-c}d` into ["cd"]; strata keeps "ab".
    expect(expandWords('ab${U:-c}d', env)).toEqual(['abcd']);
    expect(expandWords('EXPOSE 80${U:-80}', env)).toEqual(['EXPOSE', '8080']);
  });

  it('splits with the backtick escape token', () => {
    expect(expandWords('x` y x\\ y', env, { escape: '`' })).toEqual(['x y', 'x\\', 'y']);
  });

  it('throws the same errors as expandWord', () => {
    expect(codeOf(() => expandWords('a "b', env))).toBe('EXPAND_UNTERMINATED_QUOTE');
  });
});

describe('expandWordWithMatches', () => {
  it.each(cases('matches.txt'))('%s', (_, row) => {
    const { result, matched, unmatched } = expandWordWithMatches(row.input, env);
    expect({ result, matched: [...matched].sort(), unmatched: [...unmatched].sort() }).toEqual(row.expected);
  });
});
