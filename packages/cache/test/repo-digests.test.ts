import { existsSync, readdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, normalizeRepoDigest, pruneStore, verifyStore } from '../src/index.js';
import { tempStoreEach } from './helpers.js';
import { writeTestImage } from './image-fixtures.js';

const sha256 = `sha256:${'a'.repeat(64)}`;
const sha512 = `sha512:${'b'.repeat(128)}`;

describe('repo digests', () => {
  const temp = tempStoreEach();

  it('normalizes names as docker does and accepts any registry digest algorithm', () => {
    expect(normalizeRepoDigest(`busybox@${sha256}`)).toBe(`docker.io/library/busybox@${sha256}`);
    expect(normalizeRepoDigest(`127.0.0.1:5000/a/b@${sha512}`)).toBe(`127.0.0.1:5000/a/b@${sha512}`);
    // a tag is not part of a repo digest
    expect(normalizeRepoDigest(`127.0.0.1:5000/a/b:1@${sha256}`)).toBe(`127.0.0.1:5000/a/b@${sha256}`);
    expect(() => normalizeRepoDigest('busybox:1')).toThrow(expect.objectContaining({ code: 'CACHE_INVALID_REFERENCE' }) as Error);
  });

  it('keeps each repo digest once, sorted, across concurrent writers', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    expect(await temp.store.repoDigests(image.manifest.digest)).toEqual([]);
    const names = ['r.example/x', 'r.example/y', 'busybox', 'r.example/x'].map((n) => `${n}@${sha256}`);
    await Promise.all(names.map((n) => temp.store.addRepoDigests(image.manifest.digest, [n])));
    expect(await temp.store.repoDigests(image.manifest.digest)).toEqual([
      `docker.io/library/busybox@${sha256}`, `r.example/x@${sha256}`, `r.example/y@${sha256}`,
    ]);
    // a repository keeps every digest it was seen with
    expect(await temp.store.addRepoDigests(image.manifest.digest, [`r.example/x@${sha512}`])).toContain(`r.example/x@${sha512}`);
    expect(readdirSync(temp.store.paths.tmp)).toEqual([]);
  });

  it('prune drops the record of an image whose manifest it removes, and keeps those of stored images', async () => {
    const kept = await writeTestImage(temp.store, [[{ name: 'k', body: 'k' }]], 'kept:1');
    const gone = await writeTestImage(temp.store, [[{ name: 'g', body: 'g' }]], 'gone:1');
    await temp.store.addRepoDigests(kept.manifest.digest, [`r.example/kept@${sha256}`]);
    await temp.store.addRepoDigests(gone.manifest.digest, [`r.example/gone@${sha256}`]);
    await temp.store.untag('gone:1');
    const old = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(temp.store.paths.blobs)) utimesSync(join(temp.store.paths.blobs, name), old, old);
    await pruneStore(temp.store);
    expect(existsSync(join(temp.store.paths.repoDigests, `${digestHex(gone.manifest.digest)}.json`))).toBe(false);
    expect(await temp.store.repoDigests(kept.manifest.digest)).toEqual([`r.example/kept@${sha256}`]);
    expect((await verifyStore(temp.store)).ok).toBe(true);
  });
});
