import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaType, Store } from '@strata/cache';
import { main } from '../src/index.js';
import { caretLine, renderDiagnostic } from '../src/render/diagnostic.js';
import { memoryIo } from './memory-io.js';

const fixture = (name: string): string => join(__dirname, 'fixtures', name);

async function lintIn(dir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  // A store root that does not exist: these cases must not depend on the machine's store.
  const io = memoryIo({ cwd: fixture(dir), env: { STRATA_ROOT: join(fixture(dir), 'no-store') } });
  const code = await main(['lint', ...args], io);
  return { code, out: io.out(), err: io.err() };
}

describe('strata lint', () => {
  it('prints each finding with its source line and a caret', async () => {
    const { code, out, err } = await lintIn('lint-warnings', 'Dockerfile');
    expect(out).toBe([
      "Dockerfile:1:1: StageNameCasing: Stage name 'Build' should be lowercase",
      '  FROM alpine AS Build',
      '  ^~~~~~~~~~~~~~~~~~~~',
      'Dockerfile:2:1: MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label',
      '  MAINTAINER someone@example.com',
      '  ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~',
      'Dockerfile:3:2: WorkdirRelativePath: Relative workdir "app" can have unexpected results if the base image changes',
      '  \tWORKDIR app',
      '  \t^~~~~~~~~~~',
      'Dockerfile:4:1: JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals',
      '  CMD echo hi',
      '  ^~~~~~~~~~~',
      '',
    ].join('\n'));
    expect(err).toBe('Dockerfile: 4 warnings\n');
    expect(code).toBe(0);
  });

  it('exits 1 when check=error=true makes a finding an error', async () => {
    const { code, out, err } = await lintIn('lint-error-level', 'Dockerfile');
    expect(out).toBe([
      "Dockerfile:2:1: FromAsCasing: 'as' and 'FROM' keywords' casing do not match",
      '  FROM alpine as build',
      '  ^~~~~~~~~~~~~~~~~~~~',
      '',
    ].join('\n'));
    expect(err).toBe('Dockerfile: 1 error, 0 warnings\n');
    expect(code).toBe(1);
  });

  it('exits 1 with the located error when the file does not parse', async () => {
    const { code, out, err } = await lintIn('lint-parse-error', 'Dockerfile');
    expect(out).toBe('');
    expect(err.split('\n').slice(0, 3)).toEqual([
      'Dockerfile:2:3: error: PARSE_UNKNOWN_INSTRUCTION: unknown instruction: COPPY (did you mean COPY?)',
      '    COPPY --chown=1000 a b',
      '    ^~~~~~~~~~~~~~~~~~~~~~',
    ]);
    expect(err).toMatch(/\nhint: Instructions are FROM, RUN/);
    expect(code).toBe(1);
  });

  it('puts the caret under the offending flag, on its continuation line', async () => {
    const { code, out, err } = await lintIn('lint-flag-error', 'Dockerfile');
    expect(out).toBe('');
    expect(err).toBe([
      'Dockerfile:3:5: error: PARSE_INVALID_MOUNT: unsupported mount type "cahce" (did you mean cache?)',
      '      --mount=type=cahce,target=/x true',
      `      ^${'~'.repeat('--mount=type=cahce,target=/x'.length - 1)}`,
      'hint: Write --mount=type=bind|cache|tmpfs|secret|ssh,target=PATH[,option=value...].',
      '',
    ].join('\n'));
    expect(code).toBe(1);
  });

  it('prints nothing for a clean file', async () => {
    await expect(lintIn('lint-clean', 'Dockerfile')).resolves.toEqual({ code: 0, out: '', err: '' });
  });

  it('prints JSON with --json', async () => {
    const { code, out } = await lintIn('lint-warnings', '--json', 'Dockerfile');
    const report = JSON.parse(out) as { file: string; warnings: { rule: string; level: string; url: string; location: { start: { line: number } } }[] };
    expect(code).toBe(0);
    expect(report.file).toBe('Dockerfile');
    expect(report.warnings.map((w) => [w.rule, w.level, w.location.start.line])).toEqual([
      ['StageNameCasing', 'warning', 1], ['MaintainerDeprecated', 'warning', 2], ['WorkdirRelativePath', 'warning', 3], ['JSONArgsRecommended', 'warning', 4],
    ]);
    expect(report.warnings[0]?.url).toBe('https://docs.docker.com/go/dockerfile/rule/stage-name-casing/');
  });

  it('gives the parse error in JSON too', async () => {
    const { code, out } = await lintIn('lint-parse-error', '--json', 'Dockerfile');
    expect(code).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ file: 'Dockerfile', warnings: [], error: { code: 'PARSE_UNKNOWN_INSTRUCTION', location: { start: { line: 2, column: 3 } } } });
  });

  it('reads stdin for -', async () => {
    const io = memoryIo({ stdin: 'FROM alpine\nMAINTAINER me\n', env: { STRATA_ROOT: join(fixture('lint-clean'), 'no-store') } });
    await expect(main(['lint', '-'], io)).resolves.toBe(0);
    expect(io.out()).toMatch(/^<stdin>:2:1: MaintainerDeprecated: /);
  });

  it('reports usage errors with exit 2', async () => {
    for (const args of [[], ['a', 'b'], ['--frobnicate', 'Dockerfile']]) {
      const io = memoryIo();
      await expect(main(['lint', ...args], io)).resolves.toBe(2);
      expect(io.err()).toMatch(/^strata lint: .+\n\nUsage: strata lint \[OPTIONS\] FILE\n/);
    }
  });

  it('prints help', async () => {
    const io = memoryIo();
    await expect(main(['lint', '--help'], io)).resolves.toBe(0);
    expect(io.out()).toContain('--json');
  });

  it('fails on a missing file', async () => {
    const { code, err } = await lintIn('lint-clean', 'Nope.dockerfile');
    expect(code).toBe(1);
    expect(err).toMatch(/^strata lint: cannot read Nope\.dockerfile: ENOENT/);
  });
});

describe('strata lint with the local store', () => {
  let root: string;
  let dir: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-lint-store-'));
    dir = await mkdtemp(join(tmpdir(), 'strata-lint-ctx-'));
    const store = await Store.open(root);
    const config = await store.putJson({
      architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] },
      config: { Env: ['PATH=/usr/local/bin:/usr/bin', 'NODE_HOME=/opt/node'] },
    }, MediaType.ociConfig);
    const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
    await store.tag('node:20', manifest);
    await writeFile(join(dir, 'Dockerfile'), 'FROM node:20\nWORKDIR $NODE_HOME\nCOPY $NODE_HOEM/x /x\n');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('knows the variables a stored base image sets', async () => {
    const io = memoryIo({ cwd: dir, env: { STRATA_ROOT: root } });
    await expect(main(['lint', 'Dockerfile'], io)).resolves.toBe(0);
    expect(io.out().split('\n')[0]).toBe("Dockerfile:3:1: UndefinedVar: Usage of undefined variable '$NODE_HOEM' (did you mean $NODE_HOME?)");
  });

  it('assumes PATH only with --no-store', async () => {
    const io = memoryIo({ cwd: dir, env: { STRATA_ROOT: root } });
    await expect(main(['lint', '--no-store', 'Dockerfile'], io)).resolves.toBe(0);
    expect(io.out()).toContain("Dockerfile:2:1: UndefinedVar: Usage of undefined variable '$NODE_HOME'");
  });

  it('does not create a store that is not there', async () => {
    const missing = join(dir, 'no-store-here');
    const io = memoryIo({ cwd: dir, env: { STRATA_ROOT: missing } });
    await expect(main(['lint', 'Dockerfile'], io)).resolves.toBe(0);
    const { existsSync } = await import('node:fs');
    expect(existsSync(missing)).toBe(false);
  });
});

describe('strata lint: CopyIgnoredFile (the context\'s .dockerignore)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-lint-ignore-'));
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY build/out.bin /bin/\nADD notes.txt /\nCOPY src /src\n');
    await writeFile(join(dir, '.dockerignore'), '# outputs\nbuild\n*.txt\n');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'docker'));
    await writeFile(join(dir, 'docker', 'Dockerfile'), 'FROM scratch\nCOPY build/out.bin /bin/\n');
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const lintAt = async (cwd: string, ...args: string[]) => {
    const io = memoryIo({ cwd, env: { STRATA_ROOT: join(dir, 'no-store') } });
    const code = await main(['lint', ...args], io);
    return { code, out: io.out(), err: io.err() };
  };

  it('reports each COPY/ADD source that .dockerignore excludes, as BuildKit words it', async () => {
    const { code, out, err } = await lintAt(dir, 'Dockerfile');
    expect(out).toBe([
      'Dockerfile:2:1: CopyIgnoredFile: Attempting to Copy file "build/out.bin" that is excluded by .dockerignore',
      '  COPY build/out.bin /bin/',
      '  ^~~~~~~~~~~~~~~~~~~~~~~~',
      'Dockerfile:3:1: CopyIgnoredFile: Attempting to Add file "notes.txt" that is excluded by .dockerignore',
      '  ADD notes.txt /',
      '  ^~~~~~~~~~~~~~~',
      '',
    ].join('\n'));
    expect(err).toBe('Dockerfile: 2 warnings\n');
    expect(code).toBe(0);
  });

  it('reads the .dockerignore of the Dockerfile\'s folder, or of --context', async () => {
    await expect(lintAt(dir, 'docker/Dockerfile')).resolves.toMatchObject({ code: 0, out: '' });
    const { out } = await lintAt(dir, '--context', '.', 'docker/Dockerfile');
    expect(out.split('\n')[0]).toBe('docker/Dockerfile:2:1: CopyIgnoredFile: Attempting to Copy file "build/out.bin" that is excluded by .dockerignore');
  });

  it('prefers <Dockerfile>.dockerignore, as a build does', async () => {
    await writeFile(join(dir, 'docker', 'Dockerfile.dockerignore'), 'src\n');
    const { out } = await lintAt(dir, '--context', '.', 'docker/Dockerfile');
    expect(out).toBe('');
    await rm(join(dir, 'docker', 'Dockerfile.dockerignore'));
  });
});

describe('diagnostic renderer', () => {
  it('underlines a range on one line and keeps tabs in the prefix', () => {
    expect(caretLine('\tRUN  x', 2, 5)).toBe('\t^~~');
    expect(caretLine('abc   ', 1)).toBe('^~~');
    expect(caretLine('', 1)).toBe('^');
  });

  it('renders code, location, source, caret, hint and URL', () => {
    const text = renderDiagnostic(
      { severity: 'error', code: 'PARSE_X', message: 'bad', hint: 'fix it', url: 'https://example.com/x', location: { file: 'F', start: { line: 2, column: 3 }, end: { line: 2, column: 6 } } },
      { source: 'one\n  two three\n', showSeverity: true },
    );
    expect(text).toBe('F:2:3: error: PARSE_X: bad\n    two three\n    ^~~\nhint: fix it\nsee: https://example.com/x\n');
  });

  it('uses the error\'s own source line when no text is given, and no caret without a location', () => {
    expect(renderDiagnostic({ severity: 'warning', message: 'm', sourceLine: 'X y', location: { start: { line: 9, column: 1 }, end: { line: 9, column: 4 } } }, { file: 'D' }))
      .toBe('D:9:1: m\n  X y\n  ^~~\n');
    expect(renderDiagnostic({ severity: 'error', message: 'plain' })).toBe('plain\n');
  });
});
