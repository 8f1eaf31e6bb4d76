import { flag, parseFlags } from '@strata/parser';

describe('parseFlags', () => {
  const specs = { from: flag.string('x'), link: flag.bool(), exclude: flag.strings() };

  it('gives defaults for flags not written and lists the used ones', () => {
    expect(parseFlags([], specs)).toEqual({ values: { from: 'x', link: false, exclude: [] }, used: [] });
    expect(parseFlags(['--link', '--from=', '--exclude=a', '--exclude=b'], specs)).toEqual({
      values: { from: '', link: true, exclude: ['a', 'b'] },
      used: ['link', 'from', 'exclude'],
    });
  });

  it('stops at --', () => {
    expect(parseFlags(['--', '--nope'], specs).used).toEqual([]);
  });

  it.each([
    [['--from'], 'PARSE_FLAG_VALUE', 'missing a value on flag: --from'],
    [['--link='], 'PARSE_FLAG_VALUE', 'missing a value on flag: --link'],
    [['--link=yes'], 'PARSE_FLAG_VALUE', 'expecting boolean value for flag --link, not: yes'],
    [['--link', '--link'], 'PARSE_DUPLICATE_FLAG', 'duplicate flag specified: --link'],
    [['--lnk'], 'PARSE_UNKNOWN_FLAG', 'unknown flag: --lnk (did you mean link?)'],
    [['--platform=x'], 'PARSE_UNKNOWN_FLAG', 'unknown flag: --platform'],
    [['from=x'], 'PARSE_FLAG_SYNTAX', 'arg should start with -- : from=x'],
  ])('rejects %j', (words, code, message) => {
    expect(() => parseFlags(words, specs)).toThrow(expect.objectContaining({ code, message }));
  });

  it('accepts boolean values in any case', () => {
    expect(parseFlags(['--link=TRUE'], specs).values.link).toBe(true);
    expect(parseFlags(['--link=False'], specs).values.link).toBe(false);
  });
});
