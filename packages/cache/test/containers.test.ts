import { existsSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainIdsOf, pruneStore, type NewContainer } from '../src/index.js';
import { tempStoreEach } from './helpers.js';
import { writeTestImage, type TestImage } from './image-fixtures.js';

describe('containers in the store', () => {
  const temp = tempStoreEach();

  function input(image: TestImage, name?: string): NewContainer {
    return {
      ...(name === undefined ? {} : { name }),
      imageName: 'app:1',
      manifest: image.manifest,
      imageId: image.config.digest,
      chainIds: chainIdsOf(image.diffIds),
      config: { Cmd: ['/bin/sh'] },
      process: { args: ['/bin/sh'], env: [], cwd: '/', user: '', tty: false, interactive: false },
      network: 'host',
      volumes: [],
      autoRemove: false,
    };
  }

  it('creates records with unique names, finds them by name, ID and prefix, and removes them with their folder', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    const named = await temp.store.containers.create(input(image, 'web'));
    const other = await temp.store.containers.create(input(image));
    expect(named).toMatchObject({ name: 'web', status: 'created', version: 1 });
    expect(named.id).toMatch(/^[0-9a-f]{64}$/);
    expect(other.name).toMatch(/^[a-z]+_[a-z]+$/);
    expect(existsSync(temp.store.containers.path(named.id))).toBe(true);
    expect(readdirSync(join(temp.dir, 'containers-v1')).sort()).toEqual([named.id, `${named.id}.json`, other.id, `${other.id}.json`].sort());

    await expect(temp.store.containers.create(input(image, 'web'))).rejects.toMatchObject({ code: 'CACHE_CONTAINER_CONFLICT' });
    await expect(temp.store.containers.create(input(image, 'bad name'))).rejects.toMatchObject({ code: 'CACHE_INVALID_ARGUMENT' });
    expect((await temp.store.containers.find('web')).id).toBe(named.id);
    expect((await temp.store.containers.find(named.id.slice(0, 6))).id).toBe(named.id);
    await expect(temp.store.containers.find('nope')).rejects.toMatchObject({ code: 'CACHE_CONTAINER_NOT_FOUND' });
    expect((await temp.store.containers.list()).map((c) => c.id).sort()).toEqual([named.id, other.id].sort());

    expect(await temp.store.containers.remove(named.id)).toBe(true);
    expect(existsSync(temp.store.containers.path(named.id))).toBe(false);
    await expect(temp.store.containers.find('web')).rejects.toMatchObject({ code: 'CACHE_CONTAINER_NOT_FOUND' });
  });

  it('claims a container for one process at a time; a dead owner reads as exited', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    const c = await temp.store.containers.create(input(image, 'job'));
    expect(await temp.store.containers.claim(c.id)).toMatchObject({ status: 'running' });
    expect(await temp.store.containers.claim(c.id)).toBeUndefined();
    expect(await temp.store.containers.finish(c.id, 3)).toMatchObject({ status: 'exited', exitCode: 3 });
    const again = await temp.store.containers.claim(c.id);
    expect(again).toMatchObject({ status: 'running' });
    expect(again).not.toHaveProperty('exitCode');
    // a record left "running" by a process that no longer exists
    const file = join(temp.dir, 'containers-v1', `${c.id}.json`);
    writeFileSync(file, JSON.stringify({ ...again, owner: '999999999.1' }));
    expect(await temp.store.containers.get(c.id)).toMatchObject({ status: 'exited' });
    expect(await temp.store.containers.claim(c.id)).toMatchObject({ status: 'running' });
  });

  it('makes containers roots of prune: an untagged image a container uses stays with its snapshots', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }], [{ name: 'b', body: 'b' }]]);
    const chainIds = chainIdsOf(image.diffIds);
    let parent;
    for (const [i, layer] of image.layers.entries()) {
      await temp.store.snapshots.unpack({ layer, diffId: image.diffIds[i]!, ...(parent === undefined ? {} : { parent }) });
      parent = chainIds[i];
    }
    const c = await temp.store.containers.create(input(image, 'keeper'));
    const old = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(join(temp.dir, 'blobs', 'sha256'))) utimesSync(join(temp.dir, 'blobs', 'sha256', name), old, old);
    const kept = await pruneStore(temp.store, { gracePeriodMs: 0 });
    expect(kept.removed).toMatchObject({ blobs: 0, snapshots: 0 });
    for (const d of [image.manifest, image.config, ...image.layers]) expect(await temp.store.hasBlob(d.digest)).toBe(true);

    await temp.store.containers.remove(c.id);
    for (const name of readdirSync(join(temp.dir, 'blobs', 'sha256'))) utimesSync(join(temp.dir, 'blobs', 'sha256', name), old, old);
    const gone = await pruneStore(temp.store, { gracePeriodMs: 0 });
    expect(gone.removed).toMatchObject({ blobs: 4, snapshots: 2 });
  });
});
