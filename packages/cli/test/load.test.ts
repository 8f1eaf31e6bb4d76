import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Store, verifyStore } from '@strata/cache';
import { main } from '../src/index.js';
import { testImage } from '../../../tests/support/test-images.js';
import { memoryIo } from './memory-io.js';

describe('strata load and import from files and standard input', () => {
  const busybox = testImage('busybox', 'amd64');
  let root: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    root = mkdtempSync('/dev/shm/strata-cli-load-');
    env = { STRATA_ROOT: join(root, 'store') };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function strata(args: string[], stdin?: string | Buffer): Promise<{ code: number; out: string; err: string }> {
    const io = memoryIo({ env, cwd: root });
    if (stdin !== undefined) {
      // memoryIo's stdin is a text PassThrough; replace it with the bytes given
      const input = new PassThrough();
      input.end(stdin);
      Object.assign(io, { stdin: input });
    }
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  }

  it('reads an archive from standard input', async () => {
    const result = await strata(['load', '--name', 'bb'], readFileSync(busybox.archive));
    expect(result).toMatchObject({ code: 0, out: 'Loaded image: bb:latest\n' });
  });

  it('reports a truncated archive with its code and hint, and tags nothing', async () => {
    const data = readFileSync(busybox.archive);
    writeFileSync(join(root, 'cut.tar'), data.subarray(0, data.length - 20_000));
    const result = await strata(['load', '-i', 'cut.tar', '--name', 'bb']);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^strata load: CACHE_ARCHIVE_INVALID: .*cut\.tar is not a readable image archive: .*\nhint: /);
    const store = await Store.open(join(root, 'store'));
    expect(await store.images()).toEqual([]);
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('names what is missing: a file that does not exist, an archive without a name', async () => {
    expect((await strata(['load', '-i', 'absent.tar'])).err).toContain('CACHE_ARCHIVE_INVALID');
    const unnamed = await strata(['load', '-i', busybox.archive]);
    expect(unnamed.code).toBe(1);
    expect(unnamed.err).toContain("CACHE_ARCHIVE_UNNAMED");
    expect(unnamed.err).toContain('hint: Give the name to load it under (strata load --name REPO[:TAG]).');
  });

  it('imports a rootfs from standard input and says when the image has no name', async () => {
    const result = await strata(['import', '-'], readFileSync(busybox.rootfs));
    expect(result.code).toBe(0);
    expect(result.out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(result.err).toContain('has no name');
    const notTar = await strata(['import', '-', 'x:1'], 'hello\n');
    expect(notTar.code).toBe(1);
    expect(notTar.err).toContain('CACHE_ARCHIVE_INVALID');
  });
});
