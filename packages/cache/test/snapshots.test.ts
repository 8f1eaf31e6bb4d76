import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, MediaType, parseDiffId, SnapshotStore, type Descriptor } from '../src/index.js';
import { tempStoreEach } from './helpers.js';
import { makeTar, type TarEntry } from './tar-fixtures.js';

describe('snapshots', () => {
  const temp = tempStoreEach();

  async function layer(entries: TarEntry[], gzip = true): Promise<{ layer: Descriptor; diffId: ReturnType<typeof parseDiffId> }> {
    const { tar, gz } = await makeTar(entries);
    const put = await temp.store.putBlob(gzip ? gz : tar);
    return {
      layer: { mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: put.digest, size: put.size },
      diffId: parseDiffId(digestOf(tar)),
    };
  }

  it('unpacks a gzip layer into its chain ID folder', async () => {
    const { layer: l, diffId } = await layer([
      { name: 'etc/', type: 'directory', mode: 0o750 },
      { name: 'etc/hostname', body: 'strata\n', mode: 0o600 },
      { name: './bin/tool', body: '#!/bin/sh\n', mode: 0o755 },
      { name: 'bin/alias', type: 'symlink', linkname: 'tool' },
      { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
      { name: 'var/.wh.old', body: '' },
      { name: 'opt/.wh..wh..opq', body: '' },
      { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    ]);
    const info = await temp.store.snapshots.unpack({ layer: l });
    expect(info.diffId).toBe(diffId);
    expect(info.chainId).toBe(diffId);
    expect(info.path).toBe(join(temp.dir, 'snapshots-v1', 'layers', diffId.slice(7), 'fs'));
    expect(readFileSync(join(info.path, 'etc/hostname'), 'utf8')).toBe('strata\n');
    expect(statSync(join(info.path, 'etc')).mode & 0o7777).toBe(0o750);
    expect(statSync(join(info.path, 'etc/hostname')).mode & 0o7777).toBe(0o600);
    expect(readlinkSync(join(info.path, 'bin/alias'))).toBe('tool');
    expect(statSync(join(info.path, 'bin/hard')).ino).toBe(statSync(join(info.path, 'bin/tool')).ino);
    expect(statSync(join(info.path, 'bin/tool')).mtimeMs).toBe(1_700_000_000_000);
    expect(info.whiteouts).toEqual(['var/old']);
    expect(info.opaqueDirs).toEqual(['opt']);
    expect(info.specials).toEqual([{ path: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 }]);
    expect(existsSync(join(info.path, 'var/.wh.old'))).toBe(false);
    expect(info.size).toBe('strata\n'.length + '#!/bin/sh\n'.length);
    await expect(temp.store.snapshots.get(info.chainId)).resolves.toMatchObject({ chainId: info.chainId, diffId });
    expect(readdirSync(join(temp.dir, 'tmp'))).toEqual([]);
  });

  it('stacks a layer on a parent chain', async () => {
    const base = await layer([{ name: 'a', body: 'a' }]);
    const top = await layer([{ name: 'b', body: 'b' }], false);
    const lower = await temp.store.snapshots.unpack({ layer: base.layer, diffId: base.diffId });
    const upper = await temp.store.snapshots.unpack({ layer: top.layer, diffId: top.diffId, parent: lower.chainId });
    expect(upper.chainId).toBe(SnapshotStore.chainId(lower.chainId, top.diffId));
    expect(upper.chainId).toBe(digestOf(`${base.diffId} ${top.diffId}`));
    expect(upper.parent).toBe(lower.chainId);
    // A second unpack of the same chain reuses the folder.
    await expect(temp.store.snapshots.unpack({ layer: top.layer, diffId: top.diffId, parent: lower.chainId })).resolves.toMatchObject({
      createdAt: upper.createdAt,
    });
  });

  it('agrees when several unpack the same layer at once', async () => {
    const l = await layer(Array.from({ length: 30 }, (_, i) => ({ name: `f${i}`, body: `file ${i}` })));
    const infos = await Promise.all([1, 2, 3, 4].map(() => temp.store.snapshots.unpack({ layer: l.layer })));
    expect(new Set(infos.map((i) => i.createdAt)).size).toBe(1);
    expect(readdirSync(join(temp.dir, 'snapshots-v1', 'layers'))).toHaveLength(1);
  });

  it('refuses a diff ID that does not match', async () => {
    const l = await layer([{ name: 'a', body: 'a' }]);
    await expect(temp.store.snapshots.unpack({ layer: l.layer, diffId: parseDiffId(digestOf('other')) })).rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
    expect(readdirSync(join(temp.dir, 'snapshots-v1', 'layers'))).toEqual([]);
  });

  it.each<[string, TarEntry[]]>([
    ['a parent path', [{ name: '../escape', body: 'x' }]],
    ['a nested parent path', [{ name: 'a/../../escape', body: 'x' }]],
    ['an absolute path', [{ name: '/etc/escape', body: 'x' }]],
    ['a write through a symlink', [{ name: 'up', type: 'symlink', linkname: '..' }, { name: 'up/escape', body: 'x' }]],
    ['a write through an absolute symlink', [{ name: 'tmp', type: 'symlink', linkname: '/dev/shm' }, { name: 'tmp/escape', body: 'x' }]],
    ['a hard link out of the layer', [{ name: 'passwd', type: 'link', linkname: '../../../../etc/passwd' }]],
    ['a hard link through a symlink', [{ name: 'up', type: 'symlink', linkname: '/etc' }, { name: 'passwd', type: 'link', linkname: 'up/passwd' }]],
  ])('refuses %s', async (_name, entries) => {
    const l = await layer(entries);
    await expect(temp.store.snapshots.unpack({ layer: l.layer })).rejects.toMatchObject({ code: 'CACHE_UNSAFE_PATH' });
    expect(readdirSync(join(temp.dir, 'snapshots-v1', 'layers'))).toEqual([]);
    expect(readdirSync(join(temp.dir, 'tmp'))).toEqual([]);
    expect(existsSync('/dev/shm/escape')).toBe(false);
    expect(existsSync(join(temp.dir, 'snapshots-v1', 'escape'))).toBe(false);
  });

  it('refuses an unknown layer media type', async () => {
    const l = await layer([{ name: 'a', body: 'a' }]);
    await expect(temp.store.snapshots.unpack({ layer: { ...l.layer, mediaType: MediaType.ociLayerZstd } })).rejects.toMatchObject({
      code: 'CACHE_UNSUPPORTED_MEDIA_TYPE',
    });
  });

  it('counts holders', async () => {
    const l = await layer([{ name: 'a', body: 'a' }]);
    const info = await temp.store.snapshots.unpack({ layer: l.layer });
    await temp.store.snapshots.acquire(info.chainId, 'build/1');
    await temp.store.snapshots.acquire(info.chainId, 'image docker.io/library/x:1');
    await temp.store.snapshots.acquire(info.chainId, 'build/1');
    expect(await temp.store.snapshots.holders(info.chainId)).toEqual(['build/1', 'image docker.io/library/x:1']);
    expect(await temp.store.snapshots.release(info.chainId, 'build/1')).toBe(true);
    expect(await temp.store.snapshots.release(info.chainId, 'build/1')).toBe(false);
    expect(await temp.store.snapshots.holders(info.chainId)).toEqual(['image docker.io/library/x:1']);
    expect(await temp.store.snapshots.remove(info.chainId)).toBe(true);
    expect(await temp.store.snapshots.get(info.chainId)).toBeUndefined();
    expect(lstatSync(join(temp.dir, 'snapshots-v1', 'layers')).isDirectory()).toBe(true);
  });
});
