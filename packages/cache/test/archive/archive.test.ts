import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { extract, pack } from 'tar-stream';
import {
  exportImages, importArchive, importImages, importRootfs, readImage, saveImages, Store, MediaType, verifyStore, type Descriptor,
} from '../../src/index.js';
import { tempRoot } from '../helpers.js';
import { makeTar } from '../tar-fixtures.js';

const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Every file of a tar held in memory. */
async function tarFiles(data: Buffer): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      files.set(entry.header.name, Buffer.concat(parts));
    }
  })();
  ex.end(data);
  await done;
  return files;
}

/** A tar of these files, in this order. */
async function packFiles(files: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const p = pack();
  const out = collect(p);
  for (const [name, data] of files) p.entry({ name, size: data.length }, data);
  p.finalize();
  return out;
}

async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

describe('image archives', () => {
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  let rootfs: Buffer;
  let image: { descriptor: Descriptor; configDigest: string; diffId: string };

  beforeEach(async () => {
    ({ dir, cleanup } = tempRoot('strata-archive-'));
    store = await Store.open(join(dir, 'store'));
    rootfs = (await makeTar([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/hello', body: '#!/bin/sh\necho hello\n', mode: 0o755 },
      { name: 'etc/motd', body: 'welcome\n' },
    ])).tar;
    writeFileSync(join(dir, 'rootfs.tar'), rootfs);
    image = await importRootfs(store, join(dir, 'rootfs.tar'), {
      platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
      config: { Cmd: ['/bin/hello'], Env: ['PATH=/bin'] },
      name: 'example.com/hello:1',
      created: new Date('2024-01-01T00:00:00Z'),
    });
  });
  afterEach(() => cleanup());

  it('imports a rootfs tar as one gzip layer whose diff ID is the tar\'s sha256', async () => {
    expect(image.diffId).toBe(sha256(rootfs));
    const stored = await readImage(store, await store.resolve('example.com/hello:1'));
    expect(stored.config).toMatchObject({
      architecture: 'arm64', os: 'linux', variant: 'v8',
      config: { Cmd: ['/bin/hello'] },
      rootfs: { type: 'layers', diff_ids: [sha256(rootfs)] },
      history: [{ created: '2024-01-01T00:00:00.000Z', comment: 'Imported from -' }],
    });
    expect(stored.manifest.layers).toHaveLength(1);
    expect(stored.manifest.layers[0]?.mediaType).toBe(MediaType.ociLayerGzip);
    expect(stored.size).toBe(stored.manifest.layers[0]?.size);
  });

  it('imports a gzip-compressed rootfs with the diff ID of its uncompressed tar', async () => {
    const { gz } = await makeTar([{ name: 'a', body: 'a' }]);
    writeFileSync(join(dir, 'rootfs.tar.gz'), gz);
    const plain = await makeTar([{ name: 'a', body: 'a' }]);
    const result = await importRootfs(store, join(dir, 'rootfs.tar.gz'), { platform: { os: 'linux', architecture: 'amd64' } });
    expect(result.diffId).toBe(sha256(plain.tar));
    expect(result.name).toBeUndefined();
  });

  it('refuses a rootfs that is not a tar', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'not a tar file at all\n'.repeat(40));
    await expect(importRootfs(store, join(dir, 'notes.txt'), { platform: { os: 'linux', architecture: 'amd64' } }))
      .rejects.toMatchObject({ code: 'CACHE_ARCHIVE_INVALID' });
  });

  it('writes a docker-archive with gzip layers named by digest (a gzip layer as stored)', async () => {
    const files = await tarFiles(await collect(exportImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], { format: 'docker' })));
    const manifest = JSON.parse(files.get('manifest.json')?.toString() ?? 'null') as { Config: string; RepoTags: string[]; Layers: string[] }[];
    const layer = (await store.readManifest(image.descriptor.digest)).layers[0] as Descriptor;
    const hex = layer.digest.slice(7);
    expect(manifest).toEqual([{ Config: `${image.configDigest.slice(7)}.json`, RepoTags: ['example.com/hello:1'], Layers: [`${hex}.tar.gz`] }]);
    expect(sha256(files.get(`${hex}.tar.gz`) ?? Buffer.alloc(0))).toBe(layer.digest);
    expect(gunzipSync(files.get(`${hex}.tar.gz`) ?? Buffer.alloc(0)).equals(rootfs)).toBe(true);
    expect(sha256(files.get(`${image.configDigest.slice(7)}.json`) ?? Buffer.alloc(0))).toBe(image.configDigest);
    expect(JSON.parse(files.get('repositories')?.toString() ?? '{}')).toEqual({ 'example.com/hello': { '1': hex } });
  });

  it('gives an uncompressed (built) layer gzip in both archive formats, and loads it back with the same image ID', async () => {
    const put = await store.putBlob(rootfs);
    const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [put.digest] } }, MediaType.ociConfig);
    const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [{ mediaType: MediaType.ociLayer, digest: put.digest, size: put.size }] }, MediaType.ociManifest);
    const docker = await tarFiles(await collect(exportImages(store, [{ name: 'example.com/built:1', descriptor: manifest }], { format: 'docker' })));
    const [entry] = JSON.parse(docker.get('manifest.json')?.toString() ?? 'null') as { Layers: string[] }[];
    expect(entry?.Layers[0]).toMatch(/\.tar\.gz$/);
    expect(gunzipSync(docker.get(entry?.Layers[0] as string) ?? Buffer.alloc(0)).equals(rootfs)).toBe(true);
    const file = join(dir, 'built-oci.tar');
    const [saved] = await saveImages(store, [{ name: 'example.com/built:1', descriptor: manifest }], file, { format: 'oci' });
    expect(saved?.descriptor.digest).not.toBe(manifest.digest);
    const exported = await store.readManifest(saved?.descriptor.digest as Descriptor['digest']);
    expect(exported.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip]);
    expect(exported.config).toEqual(config);
    const fresh = await Store.open(join(dir, 'fresh-built'));
    await importArchive(fresh, file);
    expect((await fresh.resolve('example.com/built:1')).digest).toBe(saved?.descriptor.digest);
  });

  it('writes an OCI archive whose index names the image as containerd does', async () => {
    const files = await tarFiles(await collect(exportImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], { format: 'oci' })));
    expect(JSON.parse(files.get('oci-layout')?.toString() ?? '{}')).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')?.toString() ?? '{}') as { manifests: Descriptor[] };
    expect(index.manifests).toEqual([expect.objectContaining({
      digest: image.descriptor.digest,
      annotations: { 'io.containerd.image.name': 'example.com/hello:1', 'org.opencontainers.image.ref.name': '1' },
    })]);
    for (const [name, data] of files) {
      if (name.startsWith('blobs/sha256/')) expect(sha256(data)).toBe(`sha256:${name.slice('blobs/sha256/'.length)}`);
    }
    expect([...files.keys()].filter((n) => n.startsWith('blobs/'))).toHaveLength(3);
  });

  it.each(['docker', 'oci'] as const)('round-trips a %s archive into a fresh store with the same image ID', async (format) => {
    const file = join(dir, `out-${format}.tar`);
    await saveImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], file, { format });
    const other = await Store.open(join(dir, 'other'));
    const result = await importArchive(other, file);
    expect(result.kind).toBe(format === 'docker' ? 'docker-archive' : 'oci-archive');
    expect(result.images.map((i) => i.name)).toEqual(['example.com/hello:1']);
    const loaded = await readImage(other, await other.resolve('example.com/hello:1'));
    expect(loaded.configDigest).toBe(image.configDigest);
    expect(loaded.config.rootfs.diff_ids).toEqual([image.diffId]);
    expect((await verifyStore(other)).ok).toBe(true);
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('loads a gzip-compressed archive and an OCI layout folder', async () => {
    const file = join(dir, 'out.tar');
    await saveImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], file, { format: 'oci' });
    const { gzipSync } = await import('node:zlib');
    writeFileSync(join(dir, 'out.tar.gz'), gzipSync(readFileSync(file)));
    const a = await Store.open(join(dir, 'a'));
    await expect(importArchive(a, join(dir, 'out.tar.gz'))).resolves.toMatchObject({ images: [{ name: 'example.com/hello:1' }] });
    const layout = join(dir, 'layout');
    mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
    for (const [name, data] of await tarFiles(readFileSync(file))) writeFileSync(join(layout, name), data);
    const b = await Store.open(join(dir, 'b'));
    const result = await importImages(b, layout);
    expect(result.kind).toBe('oci-layout');
    expect((await b.resolve('example.com/hello:1')).digest).toBe(image.descriptor.digest);
  });

  it('names images that carry only a tag with the name it is given, and refuses without one', async () => {
    await saveImages(store, [{ descriptor: image.descriptor }], join(dir, 'unnamed.tar'), { format: 'oci' });
    const fresh = await Store.open(join(dir, 'fresh'));
    await expect(importArchive(fresh, join(dir, 'unnamed.tar'))).rejects.toMatchObject({ code: 'CACHE_ARCHIVE_UNNAMED' });
    expect(await fresh.images()).toEqual([]);
    await expect(importArchive(fresh, join(dir, 'unnamed.tar'), { name: 'hello' })).resolves.toMatchObject({ images: [{ name: 'docker.io/library/hello:latest' }] });
  });

  describe('a damaged archive tags nothing and leaves the store clean', () => {
    async function expectRejected(file: string, code: string): Promise<void> {
      const fresh = await Store.open(join(dir, 'fresh'));
      await expect(importArchive(fresh, file)).rejects.toMatchObject({ code });
      expect(await fresh.images()).toEqual([]);
      const verified = await verifyStore(fresh);
      expect(verified.ok).toBe(true);
      expect(readdirSync(fresh.paths.tmp)).toEqual([]);
    }

    it.each(['docker', 'oci'] as const)('a truncated %s archive', async (format) => {
      const file = join(dir, 'whole.tar');
      await saveImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], file, { format });
      const data = readFileSync(file);
      writeFileSync(join(dir, 'cut.tar'), data.subarray(0, Math.floor(data.length / 2) + 100));
      await expectRejected(join(dir, 'cut.tar'), 'CACHE_ARCHIVE_INVALID');
    });

    it('an OCI archive with a changed byte in a blob', async () => {
      const file = join(dir, 'whole.tar');
      await saveImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], file, { format: 'oci' });
      const data = Buffer.from(readFileSync(file));
      // the layer is gzip in an OCI archive: change a byte of the (plain JSON) config blob
      const config = data.indexOf(Buffer.from('"architecture":"arm64"'));
      expect(config).toBeGreaterThan(0);
      data[config + 17] = 'x'.charCodeAt(0);
      writeFileSync(join(dir, 'bad.tar'), data);
      await expectRejected(join(dir, 'bad.tar'), 'CACHE_ARCHIVE_DIGEST');
    });

    it('a docker-archive whose layer does not match the config\'s diff ID', async () => {
      const file = join(dir, 'whole.tar');
      await saveImages(store, [{ name: 'example.com/hello:1', descriptor: image.descriptor }], file, { format: 'docker' });
      // the layer is gzip: put another (valid) gzip tar in its place
      const files = await tarFiles(readFileSync(file));
      const name = [...files.keys()].find((n) => n.endsWith('.tar.gz')) as string;
      const changed = Buffer.from(rootfs);
      const at = changed.indexOf(Buffer.from('welcome'));
      expect(at).toBeGreaterThan(0);
      changed[at] = 'W'.charCodeAt(0);
      files.set(name, gzipSync(changed));
      writeFileSync(join(dir, 'bad.tar'), await packFiles(files));
      await expectRejected(join(dir, 'bad.tar'), 'CACHE_ARCHIVE_DIGEST');
    });

    it('a file that is not an archive, and one without a manifest', async () => {
      writeFileSync(join(dir, 'junk.tar'), Buffer.alloc(4096, 7));
      await expectRejected(join(dir, 'junk.tar'), 'CACHE_ARCHIVE_INVALID');
      writeFileSync(join(dir, 'empty.tar'), (await makeTar([{ name: 'hello.txt', body: 'hi' }])).tar);
      await expectRejected(join(dir, 'empty.tar'), 'CACHE_ARCHIVE_INVALID');
    });

    it('a docker-archive whose manifest names a missing layer', async () => {
      const { tar } = await makeTar([
        { name: 'manifest.json', body: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['missing.tar'] }]) },
        { name: 'c.json', body: JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256(Buffer.from('x'))] } }) },
      ]);
      writeFileSync(join(dir, 'partial.tar'), tar);
      await expectRejected(join(dir, 'partial.tar'), 'CACHE_ARCHIVE_INCOMPLETE');
    });
  });

  it('exports an index that holds only some platforms as an index of those', async () => {
    const other = await importRootfs(store, join(dir, 'rootfs.tar'), { platform: { os: 'linux', architecture: 'amd64' }, created: new Date(0) });
    const absent = { mediaType: MediaType.ociManifest, digest: sha256(Buffer.from('never stored')) as Descriptor['digest'], size: 12, platform: { os: 'linux', architecture: 's390x' } };
    const index = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [image.descriptor, other.descriptor, absent] }, MediaType.ociIndex);
    await store.tag('example.com/multi:1', index);
    const files = await tarFiles(await collect(exportImages(store, [{ name: 'example.com/multi:1', descriptor: index }], { format: 'oci' })));
    const top = (JSON.parse(files.get('index.json')?.toString() ?? '{}') as { manifests: Descriptor[] }).manifests[0];
    expect(top?.digest).not.toBe(index.digest);
    const written = JSON.parse(files.get(`blobs/sha256/${top?.digest.slice(7) ?? ''}`)?.toString() ?? '{}') as { manifests: Descriptor[] };
    expect(written.manifests.map((m) => m.platform?.architecture)).toEqual(['arm64', 'amd64']);
    // a docker-archive holds one platform: the chooser's
    const docker = await tarFiles(await collect(exportImages(store, [{ name: 'example.com/multi:1', descriptor: index }], {
      format: 'docker', choose: (candidates) => candidates.find((d) => d.platform?.architecture === 'amd64'),
    })));
    expect(JSON.parse(docker.get('manifest.json')?.toString() ?? '[]')).toEqual([expect.objectContaining({ Config: `${other.configDigest.slice(7)}.json` })]);
    const none = exportImages(store, [{ name: 'example.com/multi:1', descriptor: index }], { format: 'docker', choose: () => undefined, wanted: 'linux/riscv64' });
    await expect(collect(none)).rejects.toMatchObject({ code: 'CACHE_PLATFORM_NOT_FOUND' });
  });

  it('does not leave a partial file when saving fails', async () => {
    const missing: Descriptor = { mediaType: MediaType.ociManifest, digest: sha256(Buffer.from('nothing')) as Descriptor['digest'], size: 7 };
    const file = join(dir, 'fail.tar');
    await expect(saveImages(store, [{ name: 'x:1', descriptor: missing }], file, { format: 'docker' })).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
    expect(readdirSync(dir).filter((n) => n.includes('fail.tar'))).toEqual([]);
  });
});
