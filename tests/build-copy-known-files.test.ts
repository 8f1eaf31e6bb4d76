import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SnapshotStore, Store, type ChainId, type DiffId } from '@strata/cache';
import { build, writeLayer } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// A COPY's commit takes the facts and bytes of the files it wrote from the
// copy itself (and an incremental one those of the files it kept from the
// old layer's index) instead of reading the folder again. The oracle: each
// layer's diffID must be what a scan of its snapshot folder from disk gives.
// The Dockerfile makes the copy's record go stale in each way it can:
// later sources over earlier ones (a file over a file, a symlink over a
// file, a folder over a file, a file over a folder), hardlinks, --chmod,
// --chown, a file larger than what is kept in memory, and a heredoc.
describe('strata build: a COPY layer is what its folder holds', () => {
  const base = 'localhost/test/busybox:latest';
  let dir: string;
  let store: Store;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-copy-known-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function makeContext(root: string): void {
    for (const d of ['a/y', 'b', 'c/deep']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'a/x'), 'a x\n');
    writeFileSync(join(root, 'a/y/inside'), 'in y\n');
    writeFileSync(join(root, 'a/z'), 'a z\n');
    writeFileSync(join(root, 'a/w'), 'a w\n');
    writeFileSync(join(root, 'b/x'), 'b x, longer\n');
    writeFileSync(join(root, 'b/y'), 'y is a file now\n');
    symlinkSync('x', join(root, 'b/z'));
    mkdirSync(join(root, 'b/w'));
    writeFileSync(join(root, 'b/w/under'), 'w became a folder\n');
    for (let i = 0; i < 30; i += 1) writeFileSync(join(root, `c/deep/f${i}`), `file ${i}\n`.repeat(i * 50));
    writeFileSync(join(root, 'c/big'), Buffer.alloc(200_000, 3));
    linkSync(join(root, 'c/deep/f3'), join(root, 'c/f3-again'));
    chmodSync(join(root, 'c/deep/f4'), 0o750);
    const t = new Date('2010-01-01T00:00:00Z');
    for (const p of ['a', 'a/y', 'b', 'c', 'c/deep', 'a/x', 'b/x', 'c/big']) utimesSync(join(root, p), t, t);
  }

  const dockerfile = [
    `FROM ${base}`,
    'COPY a/ b/ /merged/',
    'COPY --chmod=640 --chown=7:8 c/ /c/',
    'COPY c/ /c2/',
    'COPY <<EOF /c2/deep/f1',
    'from a heredoc',
    'EOF',
    '',
  ].join('\n');

  async function layersMatchTheirFolders(imageId: string): Promise<number> {
    const image = await store.readConfig(imageId as never);
    let parent: ChainId | undefined;
    let checked = 0;
    for (const diffId of image.rootfs.diff_ids as DiffId[]) {
      const chainId = SnapshotStore.chainId(parent, diffId);
      parent = chainId;
      const snapshot = await store.snapshots.get(chainId);
      // the base image's layer is unpacked, not made here
      if (snapshot === undefined || snapshot.digest !== (diffId as string)) continue;
      const sink = new Writable({ write: (_c, _e, done) => done() });
      const fromDisk = await writeLayer(snapshot.path, { output: sink, compression: 'none' });
      expect(fromDisk.diffId).toBe(diffId);
      checked += 1;
    }
    return checked;
  }

  it('cold, and again after changes (incremental where it can be)', async () => {
    const context = join(dir, 'ctx');
    makeContext(context);
    const first = await build({ store, context, dockerfileText: dockerfile, tags: ['localhost/test/known:1'] });
    expect(await layersMatchTheirFolders(first.imageId)).toBe(4);

    writeFileSync(join(context, 'c/deep/f7'), 'changed\n');
    writeFileSync(join(context, 'c/deep/new'), 'new\n');
    rmSync(join(context, 'c/deep/f9'));
    writeFileSync(join(context, 'b/x'), 'b x changed\n');
    const second = await build({ store, context, dockerfileText: dockerfile, tags: ['localhost/test/known:1'] });
    expect(second.imageId).not.toBe(first.imageId);
    expect(await layersMatchTheirFolders(second.imageId)).toBe(4);
  });
});
