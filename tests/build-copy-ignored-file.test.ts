// BuildKit's CopyIgnoredFile check during a build: a COPY/ADD source that the
// context's .dockerignore excludes is a warning event (then the build fails
// as it would: the file is not in the context); `# check=skip=` silences it.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

describe('strata build: CopyIgnoredFile warnings', () => {
  const base = 'localhost/test/busybox:latest';
  let dir: string;
  let store: Store;
  let context: string;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-copy-ignored-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(join(context, 'build'), { recursive: true });
    writeFileSync(join(context, 'keep.txt'), 'keep\n');
    writeFileSync(join(context, 'build', 'out.bin'), 'bin\n');
    writeFileSync(join(context, '.dockerignore'), 'build\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(dockerfileText: string, buildArgs: Record<string, string> = {}) {
    const events: BuildEvent[] = [];
    const error = await build({ store, context, dockerfileText, buildArgs, onEvent: (e) => events.push(e) }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, warnings: events.flatMap((e) => (e.type === 'warning' ? [e] : [])) };
  }

  it('warns before the build fails on the ignored source, at its instruction', async () => {
    const { error, warnings } = await run(`FROM ${base}\nCOPY keep.txt /\nCOPY build/out.bin /bin/\n`);
    expect(warnings).toEqual([
      expect.objectContaining({
        code: 'CopyIgnoredFile',
        message: 'Attempting to Copy file "build/out.bin" that is excluded by .dockerignore',
        location: expect.objectContaining({ start: expect.objectContaining({ line: 3 }) }),
      }),
    ]);
    expect(error).toMatchObject({ code: 'BUILD_CONTEXT_PATH' });
  });

  it('expands sources with the build args and honours # check=skip', async () => {
    const dockerfile = `FROM ${base}\nARG DIR=build\nCOPY $DIR/out.bin* /bin/\n`;
    expect((await run(dockerfile)).warnings.map((w) => w.message)).toEqual(['Attempting to Copy file "build/out.bin*" that is excluded by .dockerignore']);
    const other = await run(dockerfile, { DIR: 'elsewhere' });
    expect(other.warnings).toEqual([]);
    expect((await run(`# check=skip=CopyIgnoredFile\n${dockerfile}`)).warnings).toEqual([]);
  });
});
