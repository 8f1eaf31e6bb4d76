import { chompHeredocContent, heredocsFromLine, isDockerfileError, parseHeredocWord } from '@strata/parser';

describe('parseHeredocWord', () => {
  it('reads name, expansion, chomp and file descriptor', () => {
    expect(parseHeredocWord('<<EOF')).toEqual({ name: 'EOF', expand: true, chomp: false });
    expect(parseHeredocWord('<<-"EOF"')).toEqual({ name: 'EOF', expand: false, chomp: true });
    expect(parseHeredocWord('0<<EOF')).toEqual({ name: 'EOF', expand: true, chomp: false, fileDescriptor: 0 });
    expect(parseHeredocWord('12<<E\\OF')).toEqual({ name: 'EOF', expand: true, chomp: false, fileDescriptor: 12 });
  });

  it('keeps unset variables as written in the name', () => {
    expect(parseHeredocWord('<<${NAME:-x}')?.name).toBe('${NAME:-x}');
    expect(parseHeredocWord('<<$1')?.name).toBe('$1');
  });

  it('is not a heredoc when the name is several words or empty', () => {
    expect(parseHeredocWord('<<one two')).toBeUndefined();
    expect(parseHeredocWord('<< ')).toBeUndefined();
    expect(parseHeredocWord('x<<EOF')).toBeUndefined();
  });

  it('throws PARSE_HEREDOC_SYNTAX for an unterminated quote', () => {
    let caught: unknown;
    try {
      parseHeredocWord('<<"EOF');
    } catch (error) {
      caught = error;
    }
    expect(isDockerfileError(caught)).toBe(true);
    expect(caught).toMatchObject({ code: 'PARSE_HEREDOC_SYNTAX' });
  });
});

describe('heredocsFromLine', () => {
  it('finds every heredoc word of a line in order', () => {
    expect(heredocsFromLine('COPY <<A 3<<-"B" <<  C /dst').map((h) => [h.name, h.chomp, h.expand, h.fileDescriptor])).toEqual([
      ['A', false, true, undefined],
      ['B', true, false, 3],
      ['C', false, true, undefined],
    ]);
  });

  it('finds none in a line the shell lexer cannot read (BuildKit ignores the error)', () => {
    expect(heredocsFromLine('RUN <<EOF echo "unbalanced')).toEqual([]);
    expect(heredocsFromLine('RUN <<EOF ${')).toEqual([]);
  });

  it('finds none inside quotes or escapes', () => {
    expect(heredocsFromLine("RUN '<<EOF' \"<<X\" \\<<Y")).toEqual([]);
  });

  it('survives deeply nested substitutions', () => {
    expect(heredocsFromLine(`RUN <<EOF ${'${a:-'.repeat(5000)}`)).toEqual([]);
  });
});

describe('chompHeredocContent', () => {
  it('strips leading tabs from every line and nothing else', () => {
    expect(chompHeredocContent('\t\tone\n  two\n\tthree\r\n\t')).toBe('one\n  two\nthree\r\n');
  });
});
