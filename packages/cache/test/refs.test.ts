import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, MediaType, normalizeReference, REF_NAME_ANNOTATION, verifyStore, type Descriptor } from '../src/index.js';
import { tempStoreEach } from './helpers.js';

describe('normalizeReference', () => {
  it.each([
    ['ubuntu', 'docker.io/library/ubuntu:latest'],
    ['ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['docker.io/library/ubuntu:22.04', 'docker.io/library/ubuntu:22.04'],
    ['index.docker.io/foo/bar', 'docker.io/foo/bar:latest'],
    ['ros/humble:base', 'docker.io/ros/humble:base'],
    ['127.0.0.1:5000/test/busybox:1.0', '127.0.0.1:5000/test/busybox:1.0'],
    ['localhost/app', 'localhost/app:latest'],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), 'ghcr.io/org/app@sha256:' + 'a'.repeat(64)],
    ['ghcr.io/org/app@sha512:' + 'b'.repeat(128), 'ghcr.io/org/app@sha512:' + 'b'.repeat(128)],
    ['Registry.Example.com:5000/app', 'registry.example.com:5000/app:latest'],
    [' ubuntu ', 'docker.io/library/ubuntu:latest'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeReference(input)).toBe(expected);
  });

  it.each(['', 'Upper', 'a:b:c', 'app:', 'app@sha256:zz', 'bad..name', 'app@md5:' + 'a'.repeat(32), 'host:99999/app', 'my app'])('rejects %p', (input) => {
    expect(() => normalizeReference(input)).toThrow(expect.objectContaining({ code: 'CACHE_INVALID_REFERENCE' }));
  });
});

describe('Store references', () => {
  const temp = tempStoreEach();

  async function manifest(seed: string): Promise<Descriptor> {
    const config = await temp.store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, seed }, MediaType.ociConfig);
    return temp.store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
  }

  it('creates an OCI image layout', () => {
    expect(JSON.parse(readFileSync(join(temp.dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(readFileSync(join(temp.dir, 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
  });

  it('tags, resolves, lists and untags', async () => {
    const a = await manifest('a');
    const b = await manifest('b');
    await expect(temp.store.tag('busybox:1.0', a)).resolves.toBe('docker.io/library/busybox:1.0');
    await temp.store.tag('127.0.0.1:5000/test/busybox:1.0', b);
    await expect(temp.store.resolve('docker.io/library/busybox:1.0')).resolves.toMatchObject({ digest: a.digest, size: a.size });
    expect((await temp.store.images()).map((i) => i.ref)).toEqual(['127.0.0.1:5000/test/busybox:1.0', 'docker.io/library/busybox:1.0']);
    const index = JSON.parse(readFileSync(join(temp.dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    expect(index.manifests.map((m) => m.annotations?.[REF_NAME_ANNOTATION]).sort()).toEqual(['127.0.0.1:5000/test/busybox:1.0', 'docker.io/library/busybox:1.0']);
    // Re-tagging moves the name.
    await temp.store.tag('busybox:1.0', b);
    await expect(temp.store.resolve('busybox:1.0')).resolves.toMatchObject({ digest: b.digest });
    expect(await temp.store.images()).toHaveLength(2);
    await expect(temp.store.untag('busybox:1.0')).resolves.toBe(true);
    await expect(temp.store.untag('busybox:1.0')).resolves.toBe(false);
    await expect(temp.store.resolve('busybox:1.0')).rejects.toMatchObject({ code: 'CACHE_REF_NOT_FOUND' });
  });

  it('refuses to tag a manifest that is not stored', async () => {
    const ghost: Descriptor = { mediaType: MediaType.ociManifest, digest: digestOf('ghost'), size: 5 };
    await expect(temp.store.tag('ghost', ghost)).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
  });

  it('refuses to tag a blob that is not a manifest or an index', async () => {
    const config = await temp.store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
    await expect(temp.store.tag('config:1', config)).rejects.toMatchObject({ code: 'CACHE_INVALID_ARGUMENT' });
  });

  it('reports a damaged index.json by code', async () => {
    writeFileSync(join(temp.dir, 'index.json'), '{"schemaVersion": 2');
    await expect(temp.store.images()).rejects.toMatchObject({ code: 'CACHE_CORRUPT_INDEX' });
  });

  it('keeps every tag when many tag at once', async () => {
    const descriptors = await Promise.all(Array.from({ length: 20 }, (_, i) => manifest(`m${i}`)));
    await Promise.all(descriptors.map((d, i) => temp.store.tag(`app:${i}`, d)));
    expect(await temp.store.images()).toHaveLength(20);
  });

  it('walks the blobs of an image', async () => {
    const layer = await temp.store.putBlob('layer bytes');
    const config = await temp.store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
    const m = await temp.store.putJson({ schemaVersion: 2, config, layers: [{ mediaType: MediaType.ociLayerGzip, ...layer }] }, MediaType.ociManifest);
    const idx = await temp.store.putJson({ schemaVersion: 2, manifests: [m] }, MediaType.ociIndex);
    const walk = await temp.store.imageBlobs(idx);
    expect([...walk.blobs.keys()].sort()).toEqual([idx.digest, m.digest, config.digest, layer.digest].sort());
    expect(walk.missing).toEqual([]);
  });

  it('accepts an index that holds only some of its platforms', async () => {
    const present = await manifest('amd64');
    const elsewhere = { mediaType: MediaType.ociManifest, digest: digestOf('arm64 manifest, never pulled'), size: 99, platform: { architecture: 'arm64', os: 'linux' } };
    const idx = await temp.store.putJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [present, elsewhere] }, MediaType.ociIndex);
    await temp.store.tag('multi:1', idx);
    const walk = await temp.store.imageBlobs(idx);
    expect(walk.missing).toEqual([]);
    expect(walk.absent).toEqual([elsewhere.digest]);
    expect(walk.blobs.has(present.digest)).toBe(true);
    await expect(verifyStore(temp.store)).resolves.toMatchObject({ ok: true });
  });
});
