import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

/**
 * Steps after a RUN that deleted or replaced a folder must see the image as
 * the RUN left it: WORKDIR creates a folder the RUN removed, and COPY --chown
 * gives the parents it must create the --chown owner, not the owner the
 * folder had in a layer below. Read back with umoci.
 */
describe('strata build: folders a RUN removed or replaced are gone for later steps', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:latest';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-lookup-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'a.txt'), 'a\n');
    writeFileSync(
      join(context, 'Dockerfile'),
      `FROM ${base}
RUN mkdir -p /d/sub /gone/sub /e/sub && echo old > /d/sub/file && chown 1234:1234 /d/sub /gone/sub /e/sub
# /d and /e become opaque folders, /gone a whiteout
RUN rm -rf /d /e /gone && mkdir /d /e
WORKDIR /d/sub
COPY --chown=42:42 a.txt /gone/sub/a.txt
COPY --chown=42:42 a.txt /e/sub/a.txt
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('WORKDIR recreates a removed folder and COPY --chown owns the parents it creates', async () => {
    await build({ store, context, tags: ['localhost/test/lookup:1'] });
    const out = join(dir, 'unpacked');
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:localhost/test/lookup:1`, out], { stdio: 'pipe' });
    const root = out; // umoci raw unpack writes the root filesystem itself
    expect(statSync(join(root, 'd/sub')).isDirectory()).toBe(true);
    expect(existsSync(join(root, 'd/sub/file'))).toBe(false);
    const owners = Object.fromEntries(['gone', 'gone/sub', 'e', 'e/sub', 'd/sub'].map((p) => [p, statSync(join(root, p)).uid]));
    // /e survived as a new folder made by root; its lost child is new, so --chown's
    expect(owners).toEqual({ gone: 42, 'gone/sub': 42, e: 0, 'e/sub': 42, 'd/sub': 0 });
  });
});
