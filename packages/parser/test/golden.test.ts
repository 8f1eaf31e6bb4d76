import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDockerfileError, parseDockerfile, type DockerfileError } from '@strata/parser';

// Golden folders: test/fixtures/<case>/{Dockerfile, expected.json} holds the
// whole ParseResult (directives, instructions with flags, args, heredocs,
// original text and locations, warnings); test/fixtures-negative/<case>/
// {Dockerfile, error.json} the error's code, message and position.
// STRATA_UPDATE_GOLDEN=1 rewrites the expected files (review the diff!).

const update = process.env.STRATA_UPDATE_GOLDEN === '1';

function cases(dir: string): string[] {
  return readdirSync(join(__dirname, dir), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

function read(dir: string, name: string): string {
  return readFileSync(join(__dirname, dir, name, 'Dockerfile'), 'utf8');
}

describe('parser fixtures', () => {
  it.each(cases('fixtures'))('%s', (name) => {
    const actual = parseDockerfile(read('fixtures', name), { file: 'Dockerfile' });
    const file = join(__dirname, 'fixtures', name, 'expected.json');
    if (update) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    expect(JSON.parse(JSON.stringify(actual))).toEqual(JSON.parse(readFileSync(file, 'utf8')));
  });
});

interface ExpectedError {
  readonly code: string;
  readonly message: string;
  readonly line: number;
  readonly column: number;
  readonly sourceLine: string;
}

describe('parser negative fixtures', () => {
  it.each(cases('fixtures-negative'))('%s', (name) => {
    let error: DockerfileError | undefined;
    try {
      parseDockerfile(read('fixtures-negative', name), { file: 'Dockerfile' });
    } catch (caught) {
      if (!isDockerfileError(caught)) throw caught;
      error = caught;
    }
    if (error === undefined) throw new Error(`${name}: parsed without error`);
    const actual: ExpectedError = {
      code: error.code,
      message: error.message,
      line: error.location?.start.line ?? 0,
      column: error.location?.start.column ?? 0,
      sourceLine: error.sourceLine ?? '',
    };
    const file = join(__dirname, 'fixtures-negative', name, 'error.json');
    if (update || !existsSync(file)) writeFileSync(file, `${JSON.stringify(actual, null, 2)}\n`);
    expect(actual).toEqual(JSON.parse(readFileSync(file, 'utf8')));
    expect(error.location?.file).toBe('Dockerfile');
    expect(error.hint).toEqual(expect.any(String));
  });
});
