import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// COPY writes each file with blocking calls through descriptors (source opened
// without following links, target created exclusively) and big files through
// the thread pool a chunk at a time: what lands in the layer must be the same
// either way. Read back with umoci.
describe('strata build: COPY of a context folder, file by file', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:latest';
  const big = randomBytes(3 * 1024 * 1024 + 17);
  const old = new Date('2001-02-03T04:05:06Z');

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-copy-files-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    const src = join(context, 'src');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(src, 'big.bin'), big);
    writeFileSync(join(src, 'empty'), '');
    writeFileSync(join(src, 'tool'), '#!/bin/sh\n');
    chmodSync(join(src, 'tool'), 0o4755);
    writeFileSync(join(src, 'sub', 'one'), 'one\n');
    chmodSync(join(src, 'sub', 'one'), 0o600);
    linkSync(join(src, 'sub', 'one'), join(src, 'sub', 'deeper', 'same'));
    symlinkSync('../big.bin', join(src, 'sub', 'link'));
    chmodSync(join(src, 'sub', 'deeper'), 0o750);
    for (const p of ['big.bin', 'empty', 'tool', 'sub/one', 'sub/deeper']) utimesSync(join(src, p), old, old);
    // a later source replaces what an earlier one wrote at the same name, and never writes through it
    mkdirSync(join(context, 'later'));
    writeFileSync(join(context, 'later', 'link'), 'replaced\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${ref.split(':').pop() ?? ''}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  it('keeps contents, modes (setuid too), mtimes, symlinks and hardlinks, with root or --chown as owner', async () => {
    const text = `FROM ${base}\nCOPY src/ /app/\nCOPY --chown=1000:1001 src/ /owned/\nCOPY src/sub/ later/ /merged/\n`;
    await build({ store, context, dockerfileText: text, tags: ['localhost/test/copy-files:1'] });
    const root = unpack('localhost/test/copy-files:1');
    for (const [folder, uid, gid] of [
      ['app', 0, 0],
      ['owned', 1000, 1001],
    ] as const) {
      const at = (p: string) => join(root, folder, p);
      expect(readFileSync(at('big.bin')).equals(big)).toBe(true);
      expect(readFileSync(at('empty')).length).toBe(0);
      const tool = lstatSync(at('tool'));
      expect(tool.mode & 0o7777).toBe(0o4755);
      expect([tool.uid, tool.gid]).toEqual([uid, gid]);
      expect(lstatSync(at('big.bin')).mtime.getTime()).toBe(old.getTime());
      expect(lstatSync(at('sub/one')).mode & 0o7777).toBe(0o600);
      expect(lstatSync(at('sub/deeper')).mode & 0o7777).toBe(0o750);
      expect(lstatSync(at('sub/deeper')).uid).toBe(uid);
      expect(lstatSync(at('sub/deeper/same')).ino).toBe(lstatSync(at('sub/one')).ino);
      expect(readlinkSync(at('sub/link'))).toBe('../big.bin');
      expect(lstatSync(at('sub/link')).uid).toBe(uid);
    }
    // src/sub/link (a symlink) then later/link (a file): the file replaces the link
    expect(lstatSync(join(root, 'merged', 'link')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'merged', 'link'), 'utf8')).toBe('replaced\n');
    expect(lstatSync(join(root, 'big.bin'), { throwIfNoEntry: false })).toBeUndefined();
    expect(readFileSync(join(root, 'merged', 'one'), 'utf8')).toBe('one\n');
  });
});
