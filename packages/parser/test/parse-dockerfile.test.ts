import { isDockerfileError, parseDockerfile, type DockerfileError, type ParseResult } from '@strata/parser';

function fails(text: string): DockerfileError {
  try {
    parseDockerfile(text, { file: 'Dockerfile' });
  } catch (error) {
    if (isDockerfileError(error)) return error;
    throw error;
  }
  throw new Error('parsed without error');
}

function args(result: ParseResult): string[][] {
  return result.instructions.map((i) => [i.keyword, ...i.flags, ...i.args]);
}

describe('parseDockerfile: physical lines', () => {
  it('accepts a line of 65535 bytes and rejects one of 65536 (BuildKit scanner limit)', () => {
    const at = (n: number) => `FROM a\nLABEL x=${'a'.repeat(n - 'LABEL x='.length)}\n`;
    expect(parseDockerfile(at(65535)).instructions).toHaveLength(2);
    const error = fails(at(65536));
    expect(error).toMatchObject({ code: 'PARSE_LINE_TOO_LONG', message: 'dockerfile line greater than max allowed size of 65535' });
    expect(error.location?.start.line).toBe(2);
  });

  it('counts the limit in UTF-8 bytes', () => {
    const snowmen = '☃'.repeat(21845); // 65535 bytes in 21845 UTF-16 units
    expect(parseDockerfile(`FROM a\nRUN ${snowmen.slice(0, 21843)}\n`).instructions).toHaveLength(2);
    expect(fails(`FROM a\nRUN ${snowmen}\n`).code).toBe('PARSE_LINE_TOO_LONG');
  });

  it('reports an empty file before a too-long first line, as BuildKit does', () => {
    expect(fails(`RUN ${'x'.repeat(70000)}`).code).toBe('PARSE_EMPTY_FILE');
  });

  it('reads CRLF, lone CR inside a line, and a BOM', () => {
    const result = parseDockerfile('\ufeffFROM a\r\nRUN echo\ra \\\r\n  b\r\r\n');
    expect(args(result)).toEqual([['from', 'a'], ['run', 'echo\ra   b']]);
    expect(result.instructions[0]?.location.start).toEqual({ line: 1, column: 1, offset: 1 });
  });

  it('keeps heredoc bodies raw, CRLF included', () => {
    const [, copy] = parseDockerfile('FROM a\r\nCOPY <<EOF /x\r\n  a \\\r\n# b\r\nEOF\r\n').instructions;
    expect(copy?.heredocs).toEqual([{ name: 'EOF', expand: true, chomp: false, content: '  a \\\r\n# b\r\n' }]);
    expect(copy?.location.end.line).toBe(5);
  });
});

describe('parseDockerfile: directives and escape', () => {
  it('switches the escape token and continuation character', () => {
    const result = parseDockerfile('# escape=`\nFROM a\nRUN dir C:\\ `\n  /s\n');
    expect(result.escapeToken).toBe('`');
    expect(args(result)).toEqual([['from', 'a'], ['run', 'dir C:\\   /s']]);
  });

  it('only reads directives before anything else', () => {
    const result = parseDockerfile('# a comment\n# escape=`\nFROM a\nRUN a \\\n b\n');
    expect(result.directives).toEqual([]);
    expect(args(result)[1]).toEqual(['run', 'a  b']);
  });

  it('reads directive keys case-insensitively with spaces around =', () => {
    const result = parseDockerfile('#  SYNTAX = docker/dockerfile:1  \n# Check=skip=all\nFROM a\n');
    expect(result.directives.map((d) => [d.name, d.value])).toEqual([['syntax', 'docker/dockerfile:1'], ['check', 'skip=all']]);
  });
});

describe('parseDockerfile: Go white space', () => {
  it('splits words on unicode spaces but keywords and lists only on ASCII blanks', () => {
    expect(args(parseDockerfile('FROM a\u00a0b\nRUN\u00a0x\nARG a\u2003b\n'))).toEqual([
      ['from', 'a\u00a0b'],
      ['run\u00a0x', ''],
      ['arg', 'a', 'b'],
    ]);
    // The legacy ENV form splits on ASCII blanks only: NBSP leaves one word.
    expect(fails('FROM a\nENV a\u00a0b\n')).toMatchObject({ code: 'PARSE_MISSING_VALUE', message: 'ENV must have two arguments' });
  });
});

describe('parseDockerfile: warnings', () => {
  it('warns about empty continuation lines, not about comment lines', () => {
    const { warnings } = parseDockerfile('FROM a\nRUN a \\\n\n  b \\\n# c\n  d\n');
    expect(warnings).toEqual([
      {
        code: 'NoEmptyContinuation',
        message: 'Empty continuation line found in: RUN a   b   d',
        detail: 'Empty continuation lines will become errors in a future release',
        url: 'https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/',
        location: { start: { line: 3, column: 1, offset: 15 }, end: { line: 3, column: 1, offset: 15 } },
      },
    ]);
  });
});

describe('parseDockerfile: errors', () => {
  it('puts the file, line, column and source line on every error', () => {
    const error = fails('FROM a\nRUN <<EOF\nbody\n');
    expect(error).toMatchObject({ code: 'PARSE_UNTERMINATED_HEREDOC', sourceLine: 'RUN <<EOF' });
    expect(error.location).toMatchObject({ file: 'Dockerfile', start: { line: 2, column: 1 } });
    expect(error.hint).toEqual(expect.any(String));
  });

  it('points into continuation lines', () => {
    const error = fails('FROM a\nCMD [ \\\n  "a", \\\n  1 ]\n');
    expect(error).toMatchObject({ code: 'PARSE_JSON_NOT_STRINGS', sourceLine: 'CMD [ \\' });
    expect(error.location?.start).toMatchObject({ line: 2, column: 5 });
  });

  it('rejects deep ONBUILD nesting without exhausting the stack', () => {
    expect(fails(`FROM a\n${'ONBUILD \\\n'.repeat(100000)}RUN x\n`).code).toBe('PARSE_NESTING_TOO_DEEP');
    const nested = parseDockerfile('FROM a\nONBUILD ONBUILD RUN x\n').instructions[1];
    expect(nested?.onbuild?.onbuild?.args).toEqual(['x']);
  });

  it('falls back to the shell form for JSON nested deeper than Go accepts', () => {
    const deep = `${'['.repeat(10001)}${']'.repeat(10001)}`;
    const cmd = parseDockerfile(`FROM a\nCMD ${deep}\n`).instructions[1];
    expect(cmd).toMatchObject({ json: false, args: [deep] });
  });
});

describe('parseDockerfile: directive values', () => {
  it('keeps a carriage return inside a directive value, as Go regexp `.` does', () => {
    expect(parseDockerfile('# syntax=a\rb\nFROM a\n').directives.map((d) => d.value)).toEqual(['a\rb']);
  });
});

describe('parseDockerfile: flags hold bytes, as in BuildKit', () => {
  it('turns each UTF-8 byte of a non-ASCII flag into one character (BuildKit walks bytes)', () => {
    const [, copy] = parseDockerfile('FROM a\nCOPY --chown=josé a b\n').instructions;
    expect(copy?.flags).toEqual(['--chown=jos\u00c3\u00a9']);
    expect(copy?.args).toEqual(['a', 'b']);
  });

  it('ends a flag at a 0x85 or 0xA0 byte, which Go takes for a space', () => {
    // U+2BF60 is F0 AB BD A0: its last byte ends the flag word.
    const [, volume] = parseDockerfile('FROM a\nVOLUME --f=#\u{2BF60}\n').instructions;
    expect(volume?.flags).toEqual(['--f=#\u00f0\u00ab\u00bd']);
    expect(volume?.args).toEqual([]);
    // à is C3 A0: the rest after it is the arguments.
    const [, run] = parseDockerfile('FROM a\nRUN --x=voilà echo\n').instructions;
    expect(run?.flags).toEqual(['--x=voil\u00c3']);
    expect(run?.args).toEqual(['echo']);
  });

  it('keeps non-ASCII text outside flags as it is', () => {
    const [, run] = parseDockerfile('FROM a\nRUN --x=1 echo ☃ \u00a0\n').instructions;
    expect(run?.args).toEqual(['echo ☃']);
  });
});

describe('parseDockerfile: keywords', () => {
  it('lower-cases keywords rune by rune as Go does', () => {
    const result = parseDockerfile('FROM a\nENTRYPO\u0130NT ["x"]\nFOO\u03a3 bar\n');
    expect(result.instructions.map((i) => [i.keyword, i.json])).toEqual([
      ['from', false],
      ['entrypoint', true],
      ['foo\u03c3', false],
    ]);
  });
});

describe('parseDockerfile: BuildKit message texts', () => {
  it('quotes the offending word as Go %q does', () => {
    expect(fails('FROM a\nLABEL a=b \u0015\u00e9\n').message).toBe('Syntax error - can\'t find = in "\\x15é". Must be of the form: name=value');
  });
});

describe('parseDockerfile: hostile input', () => {
  it('rejects a 10 MB line with PARSE_LINE_TOO_LONG', () => {
    const error = fails(`FROM a\nRUN ${'x'.repeat(10 * 1024 * 1024)}\n`);
    expect(error.code).toBe('PARSE_LINE_TOO_LONG');
    expect(error.location?.start.line).toBe(2);
  });

  it('reads binary garbage into a result or a DockerfileError', () => {
    let text = 'FROM a\n';
    for (let i = 0; i < 50000; i++) text += String.fromCharCode((i * 7919 + (i >> 3)) % 256);
    try {
      const result = parseDockerfile(text);
      expect(result.instructions.length).toBeGreaterThan(0);
    } catch (error) {
      expect(isDockerfileError(error)).toBe(true);
    }
  });

  it('takes unbalanced quotes as BuildKit does: kept in the arguments, no error', () => {
    const result = parseDockerfile('FROM a\nENV A="open\nLABEL b=\'x\nARG "c\nRUN echo "never closed\nCOPY <<"EOF /x\n');
    expect(args(result)).toEqual([
      ['from', 'a'],
      ['env', 'A', '"open', '='],
      ['label', 'b', "'x", '='],
      ['arg', '"c'],
      ['run', 'echo "never closed'],
      ['copy', '<<"EOF', '/x'],
    ]);
    expect(result.instructions[5]?.heredocs).toEqual([]);
  });
});

describe('parseDockerfile: deep JSON', () => {
  it('falls back to the shell form for deeply nested invalid JSON without exhausting the stack', () => {
    for (const json of [`${'['.repeat(9000)}x`, `${'['.repeat(5000)}${'{"a":'.repeat(4999)}!`]) {
      const cmd = parseDockerfile(`FROM a\nCMD ${json}\n`).instructions[1];
      expect(cmd).toMatchObject({ json: false, args: [json] });
    }
  });

  it('rejects deeply nested valid JSON as not an array of strings', () => {
    const json = `${'['.repeat(9999)}${']'.repeat(9999)}`;
    expect(fails(`FROM a\nCMD ${json}\n`).code).toBe('PARSE_JSON_NOT_STRINGS');
  });
});
