import { createHash } from 'node:crypto';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, makeCacheKey, parseCacheKey, parseDiffId, type CacheKey } from '../src/index.js';
import { tempStoreEach } from './helpers.js';

describe('cache keys', () => {
  it('are versioned and branded', () => {
    const key = makeCacheKey('FROM busybox\nRUN true');
    expect(key).toMatch(/^strata\.v1:sha256:[0-9a-f]{64}$/);
    expect(makeCacheKey('x', 'strata.run.v2')).toMatch(/^strata\.run\.v2:sha256:/);
    expect(makeCacheKey('x', 'strata.v2')).not.toBe(makeCacheKey('x', 'strata.v1'));
    expect(() => parseCacheKey('sha256:' + 'a'.repeat(64))).toThrow(expect.objectContaining({ code: 'CACHE_INVALID_KEY' }));
    expect(() => makeCacheKey('x', 'strata')).toThrow(expect.objectContaining({ code: 'CACHE_INVALID_KEY' }));
  });
});

describe('cache records', () => {
  const temp = tempStoreEach();

  const layer = {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: digestOf('gz'),
    size: 2,
    diffId: parseDiffId(digestOf('tar')),
  };

  it('round-trips a layer and a config delta', async () => {
    const key = makeCacheKey('step 1');
    expect(await temp.store.getCacheRecord(key)).toBeUndefined();
    await temp.store.putCacheRecord(key, { layer, config: { Env: ['A=1'], WorkingDir: '/src' }, createdBy: 'RUN make' });
    await expect(temp.store.getCacheRecord(key)).resolves.toMatchObject({ key, layer, config: { Env: ['A=1'], WorkingDir: '/src' }, createdBy: 'RUN make' });
    // A different version of the same material is a different key space.
    expect(await temp.store.getCacheRecord(makeCacheKey('step 1', 'strata.v2'))).toBeUndefined();
  });

  it('treats a damaged record as a miss', async () => {
    const key = makeCacheKey('step 2');
    await temp.store.putCacheRecord(key, { config: { User: 'app' } });
    const { records } = await temp.store.records.list();
    const path = records[0]!.path;
    writeFileSync(path, '{"key": "strata.v1:sha');
    expect(await temp.store.getCacheRecord(key)).toBeUndefined();
    expect((await temp.store.records.list()).damaged).toEqual([path]);
  });

  it('marks a hit as a use', async () => {
    const key = makeCacheKey('step 3');
    await temp.store.putCacheRecord(key, { layer });
    const { records } = await temp.store.records.list();
    const old = new Date(Date.now() - 86_400_000);
    utimesSync(records[0]!.path, old, old);
    await temp.store.getCacheRecord(key);
    const after = (await temp.store.records.list()).records[0]!;
    expect(after.lastUsedMs).toBeGreaterThan(old.getTime() + 1000);
  });

  it('rejects keys that are not strata keys', async () => {
    await expect(temp.store.getCacheRecord('nope' as CacheKey)).rejects.toMatchObject({ code: 'CACHE_INVALID_KEY' });
  });
});

describe('remembered COPY --from sources digests', () => {
  const temp = tempStoreEach();
  const selection = JSON.stringify(['strata.from-sources.v1', 'strata.sources.v1', digestOf('layers'), ['/work/src'], [], false, false]);
  const digest = digestOf('the sources');

  it('round-trip by the whole selection name, one file a name', async () => {
    expect(await temp.store.records.fromSources(selection)).toBeUndefined();
    await temp.store.records.putFromSources(selection, digest);
    expect(await temp.store.records.fromSources(selection)).toBe(digest);
    // another selection (other layers) is another name
    expect(await temp.store.records.fromSources(selection.replace(digestOf('layers'), digestOf('other layers')))).toBeUndefined();
    // written again (--no-cache computes it anew): the newer digest
    const other = digestOf('other sources');
    await temp.store.records.putFromSources(selection, other);
    expect(await temp.store.records.fromSources(selection)).toBe(other);
  });

  it('read a file that names another selection, a damaged file or a value that is no digest as nothing', async () => {
    const name = createHash('sha256').update(selection).digest('hex');
    const dir = join(temp.dir, 'cache-v1', 'from-sources', name.slice(0, 2));
    await temp.store.records.putFromSources(selection, digest);
    expect(readdirSync(dir)).toEqual([`${name}.json`]);
    const path = join(dir, `${name}.json`);
    writeFileSync(path, JSON.stringify({ selection: `${selection} `, digest }));
    expect(await temp.store.records.fromSources(selection)).toBeUndefined();
    writeFileSync(path, '{"selection": "');
    expect(await temp.store.records.fromSources(selection)).toBeUndefined();
    writeFileSync(path, JSON.stringify({ selection, digest: 'sha256:nope' }));
    expect(await temp.store.records.fromSources(selection)).toBeUndefined();
  });
});
