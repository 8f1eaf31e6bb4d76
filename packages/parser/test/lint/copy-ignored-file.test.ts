import { cleanPath, lint, parseDockerfile, type DockerignoreMatcher } from '@strata/parser';

// BuildKit's CopyIgnoredFile, on the cases of its own check tests: a COPY
// (without --from) or ADD source that .dockerignore excludes is reported with
// the source as cleaned; nothing with `!` exceptions in the file; the context
// root only under a pattern that excludes every root entry.

/** Docker's matching for these tests' patterns: `*` within a segment, `**` across, a match on a parent folder counts. */
function matcher(text: string): DockerignoreMatcher {
  const patterns = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const regexes = patterns
    .filter((p) => !p.startsWith('!'))
    .map((p) => new RegExp(`^${cleanPath(p).replace(/^\//, '').split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*')}(/.*)?$`));
  return { patterns, matches: (path) => regexes.some((r) => r.test(path)) };
}

function findings(dockerfile: string, ignore: string, buildArgs?: Record<string, string>): string[] {
  const source = dockerfile.replace(/^\n/, '');
  const result = parseDockerfile(source, { file: 'Dockerfile' });
  return lint(result, { source, dockerignore: matcher(ignore), ...(buildArgs === undefined ? {} : { buildArgs }) })
    .filter((w) => w.rule === 'CopyIgnoredFile')
    .map((w) => `${w.location.start.line} ${w.message}`);
}

describe('CopyIgnoredFile', () => {
  it('reports COPY and ADD of an ignored file, as Copy and Add', () => {
    expect(findings('\nFROM scratch\nCOPY Dockerfile .\nADD Dockerfile /windy\n', 'Dockerfile\n')).toEqual([
      '2 Attempting to Copy file "Dockerfile" that is excluded by .dockerignore',
      '3 Attempting to Add file "Dockerfile" that is excluded by .dockerignore',
    ]);
  });

  it('carries the rule\'s description and URL', () => {
    const source = 'FROM scratch\nCOPY Dockerfile .\n';
    const [w] = lint(parseDockerfile(source), { source, dockerignore: matcher('Dockerfile') });
    expect(w).toMatchObject({
      rule: 'CopyIgnoredFile',
      description: 'Attempting to Copy file that is excluded by .dockerignore',
      url: 'https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/',
      level: 'warning',
    });
  });

  it('is skipped by # check=skip=CopyIgnoredFile', () => {
    expect(findings('# check=skip=CopyIgnoredFile\n\nFROM scratch\nCOPY Dockerfile .\n', 'Dockerfile')).toEqual([]);
  });

  it('does not look at COPY --from or at destinations', () => {
    expect(findings('FROM scratch AS base\nCOPY Dockerfile /foobar\nADD Dockerfile /windy\nFROM base\nCOPY --from=base /foobar /Dockerfile\n', 'foobar')).toEqual([]);
  });

  it('is off when .dockerignore has exceptions, or is empty', () => {
    expect(findings('FROM scratch\nCOPY ./Dockerfile .\nCOPY . .\n', '**\n!Dockerfile\n')).toEqual([]);
    expect(findings('FROM scratch\nCOPY Dockerfile .\n', '')).toEqual([]);
  });

  it('reports the context root only under a pattern that excludes every root entry', () => {
    expect(findings('FROM scratch\nCOPY . .\n', '.*\n')).toEqual([]);
    expect(findings('FROM scratch\nCOPY . .\n', '*\n')).toEqual(['2 Attempting to Copy file "." that is excluded by .dockerignore']);
    expect(findings('FROM scratch\nCOPY ./ /app/\n', '**/*\n')).toEqual(['2 Attempting to Copy file "." that is excluded by .dockerignore']);
  });

  it('cleans the source and matches parent folders', () => {
    expect(findings('FROM scratch\nCOPY ./tmp//notes/../x.txt /x\nCOPY src/app.py /app/\n', 'tmp\n')).toEqual([
      '2 Attempting to Copy file "tmp/x.txt" that is excluded by .dockerignore',
    ]);
  });

  it('checks sources as expanded, with build args over ARG defaults', () => {
    const dockerfile = 'FROM scratch\nARG DIR=build\nCOPY $DIR/out.bin /bin/\n';
    expect(findings(dockerfile, 'build\n')).toEqual(['3 Attempting to Copy file "build/out.bin" that is excluded by .dockerignore']);
    expect(findings(dockerfile, 'build\n', { DIR: 'dist' })).toEqual([]);
  });

  it('leaves URLs and git sources of ADD alone', () => {
    expect(findings('FROM scratch\nADD https://example.com/x.tgz /x\nADD git@github.com:org/repo.git /src\n', '*\n')).toEqual([]);
  });

  it('does not run without a .dockerignore given', () => {
    const source = 'FROM scratch\nCOPY Dockerfile .\n';
    expect(lint(parseDockerfile(source), { source })).toEqual([]);
  });
});

describe('cleanPath (Go path.Clean)', () => {
  it.each([
    ['', '.'], ['.', '.'], ['./', '.'], ['a//b/./c/', 'a/b/c'], ['a/../..', '..'], ['/..', '/'], ['/a/../b', '/b'], ['./tmp/x', 'tmp/x'],
  ])('%s -> %s', (input, output) => expect(cleanPath(input)).toBe(output));
});
