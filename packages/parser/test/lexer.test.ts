import { createLexer, type EscapeToken } from '@strata/parser';

/** The tokens of one logical line, from the lexer's start state. */
function tokens(line: string, escape: EscapeToken = '\\'): [string, string][] {
  const lexer = createLexer(escape);
  lexer.reset(line);
  return Array.from(lexer, (t) => [t.type ?? '', t.value]);
}

describe('createLexer: instruction lines', () => {
  it('splits keyword, flags (values unquoted) and the rest', () => {
    expect(tokens('COPY --chown="a b" --chmod=\'0755\' src dst')).toEqual([
      ['keyword', 'COPY'],
      ['blank', ' '],
      ['flag', '--chown=a b'],
      ['blank', ' '],
      ['flag', '--chmod=0755'],
      ['blank', ' '],
      ['rest', 'src dst'],
    ]);
  });

  it('ends the flags at a bare -- and reads everything after it as the rest', () => {
    expect(tokens('RUN --a -- --b c')).toEqual([
      ['keyword', 'RUN'],
      ['blank', ' '],
      ['flag', '--a'],
      ['blank', ' '],
      ['flagEnd', '--'],
      ['blank', ' '],
      ['rest', '--b c'],
    ]);
  });

  it('treats words that unquote to -- as the end of the flags, as BuildKit does', () => {
    for (const word of ["--''", '--""', "--''\"\"", '--\\', '--"', "--'\\"]) {
      expect(tokens(`RUN ${word}`).map(([type]) => type)).toEqual(['keyword', 'blank', 'flagEnd']);
    }
    // An escaped space makes the word "-- ", which is an ordinary flag.
    expect(tokens('RUN --\\ x')).toEqual([
      ['keyword', 'RUN'],
      ['blank', ' '],
      ['flag', '-- x'],
    ]);
  });

  it('keeps quoted space inside a flag, also an unterminated quote up to the end', () => {
    expect(tokens('RUN --x="a b" y')[2]).toEqual(['flag', '--x=a b']);
    expect(tokens("RUN --x='open to the end")[2]).toEqual(['flag', '--x=open to the end']);
  });

  it('escapes with the escape token in force', () => {
    expect(tokens('COPY --chown=a`:b x', '`')[2]).toEqual(['flag', '--chown=a:b']);
    expect(tokens('COPY --chown=a\\:b x', '`')[2]).toEqual(['flag', '--chown=a\\:b']);
  });

  it('does not take a single-dash word for a flag', () => {
    expect(tokens('RUN -x --y')).toEqual([
      ['keyword', 'RUN'],
      ['blank', ' '],
      ['rest', '-x --y'],
    ]);
  });
});

describe('createLexer: words state (ARG/ENV/LABEL)', () => {
  function words(text: string, escape: EscapeToken = '\\'): [string, string][] {
    const lexer = createLexer(escape);
    lexer.reset(text, { line: 1, col: 1, state: 'words' });
    return Array.from(lexer, (t) => [t.type ?? '', t.text]);
  }

  it('keeps quotes and escapes in words and splits on Go white space', () => {
    expect(words('a="x y"\u00a0b=\\"c')).toEqual([
      ['word', 'a="x y"'],
      ['space', '\u00a0'],
      ['word', 'b=\\"c'],
    ]);
  });

  it('marks a dangling escape at the very end (BuildKit drops it)', () => {
    expect(words('a b\\')).toEqual([
      ['word', 'a'],
      ['space', ' '],
      ['word', 'b'],
      ['danglingEscape', '\\'],
    ]);
    // Inside single quotes the escape token is an ordinary character.
    expect(words("'a\\")).toEqual([['word', "'a\\"]]);
  });
});
