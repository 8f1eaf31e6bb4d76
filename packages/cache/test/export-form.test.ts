import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  conversionKey, digestOf, exportForm, exportLayers, MediaType, parseDiffId, rememberedLayer, verifyStore,
  type Descriptor, type DiffId, type Index, type Manifest, type Store,
} from '../src/index.js';
import { tempStoreEach } from './helpers.js';
import { makeTar } from './tar-fixtures.js';

/** A built-like image: uncompressed layers (digest = diff ID), plus an optional gzip (base) layer first. */
async function writeImage(store: Store, bodies: string[], options: { gzipBase?: string; docker?: boolean } = {}): Promise<{ manifest: Descriptor; config: Descriptor; diffIds: DiffId[] }> {
  const layers: Descriptor[] = [];
  const diffIds: DiffId[] = [];
  if (options.gzipBase !== undefined) {
    const { tar, gz } = await makeTar([{ name: 'base.txt', body: options.gzipBase }]);
    const put = await store.putBlob(gz);
    layers.push({ mediaType: options.docker === true ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip, digest: put.digest, size: put.size });
    diffIds.push(parseDiffId(digestOf(tar)));
  }
  for (const [i, body] of bodies.entries()) {
    const { tar } = await makeTar([{ name: `f${i}.txt`, body: body.repeat(1000) }]);
    const put = await store.putBlob(tar);
    layers.push({ mediaType: options.docker === true ? 'application/vnd.docker.image.rootfs.diff.tar' : MediaType.ociLayer, digest: put.digest, size: put.size });
    diffIds.push(parseDiffId(put.digest));
  }
  const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }, options.docker === true ? MediaType.dockerConfig : MediaType.ociConfig);
  const mediaType = options.docker === true ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest = await store.putJson({ schemaVersion: 2, mediaType, config, layers }, mediaType);
  return { manifest, config, diffIds };
}

const blobCount = (store: Store): number => readdirSync(store.paths.blobs).length;

describe('exportForm', () => {
  const t = tempStoreEach('strata-export-form-');

  test('uncompressed layers become gzip in a new manifest with the same config; gzip ones stay', async () => {
    const { manifest, config, diffIds } = await writeImage(t.store, ['a', 'b'], { gzipBase: 'base' });
    const form = await exportForm(t.store, manifest);
    expect(form.descriptor.digest).not.toBe(manifest.digest);
    expect(form.descriptor.mediaType).toBe(MediaType.ociManifest);
    const exported = await t.store.readManifest(form.descriptor.digest);
    const original = await t.store.readManifest(manifest.digest);
    expect(exported.config).toEqual(config);
    expect(exported.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    expect(exported.layers[0]).toEqual(original.layers[0]);
    expect(form.layers.map((l) => l.outcome)).toEqual(['kept', 'converted', 'converted']);
    // each gzip layer unpacks to its diff ID; the sources map leads back to the stored blob
    for (const [i, layer] of exported.layers.entries()) {
      expect(digestOf(gunzipSync(await t.store.readBlob(layer.digest)))).toBe(diffIds[i]);
      if (i > 0) expect(form.sources.get(layer.digest)).toBe(original.layers[i]?.digest);
    }
    // the conversion is remembered under the strata.recompress.v1 key of the source blob
    const record = await t.store.getCacheRecord(conversionKey(original.layers[1]?.digest as DiffId, 'gzip'));
    expect(record?.layer).toMatchObject({ digest: exported.layers[1]?.digest, diffId: diffIds[1], mediaType: MediaType.ociLayerGzip });
  });

  test('a second export compresses nothing and gives the same manifest', async () => {
    const { manifest } = await writeImage(t.store, ['a', 'b']);
    const first = await exportForm(t.store, manifest);
    const blobs = blobCount(t.store);
    const second = await exportForm(t.store, manifest);
    expect(second.descriptor).toEqual(first.descriptor);
    expect(second.layers.map((l) => l.outcome)).toEqual(['reused', 'reused']);
    expect(blobCount(t.store)).toBe(blobs);
    // a compressed copy that was pruned is made again, with the same bytes
    await t.store.blobs.deleteBlob((await t.store.readManifest(first.descriptor.digest)).layers[0]?.digest as DiffId);
    const third = await exportForm(t.store, manifest);
    expect(third.layers.map((l) => l.outcome)).toEqual(['converted', 'reused']);
    expect(third.descriptor).toEqual(first.descriptor);
  });

  test('an image with nothing to convert is its own export form (no new manifest)', async () => {
    const { manifest } = await writeImage(t.store, [], { gzipBase: 'base' });
    const blobs = blobCount(t.store);
    const form = await exportForm(t.store, manifest);
    expect(form.descriptor).toBe(manifest);
    expect(form.sources.size).toBe(0);
    expect(blobCount(t.store)).toBe(blobs);
  });

  test('zstd with force converts every layer, the gzip one too; zstd reads back', async () => {
    const { manifest, diffIds } = await writeImage(t.store, ['a'], { gzipBase: 'base' });
    const form = await exportForm(t.store, manifest, { compression: 'zstd', force: true });
    const exported = await t.store.readManifest(form.descriptor.digest);
    expect(exported.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    for (const [i, layer] of exported.layers.entries()) {
      const tar = execFileSync('zstd', ['-d', '-c', '-q'], { input: await t.store.readBlob(layer.digest) });
      expect(digestOf(tar)).toBe(diffIds[i]);
    }
    // without force, zstd applies to the uncompressed layer only
    const soft = await t.store.readManifest((await exportForm(t.store, manifest, { compression: 'zstd' })).descriptor.digest);
    expect(soft.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerZstd]);
  });

  test('a docker manifest keeps docker media types for gzip, and becomes OCI for zstd', async () => {
    const { manifest } = await writeImage(t.store, ['a'], { gzipBase: 'base', docker: true });
    const gzip = await exportForm(t.store, manifest);
    expect(gzip.descriptor.mediaType).toBe(MediaType.dockerManifest);
    const g = await t.store.readManifest(gzip.descriptor.digest);
    expect(g.mediaType).toBe(MediaType.dockerManifest);
    expect(g.layers.map((l) => l.mediaType)).toEqual([MediaType.dockerLayerGzip, MediaType.dockerLayerGzip]);
    const zstd = await exportForm(t.store, manifest, { compression: 'zstd', force: true });
    const z = await t.store.readManifest(zstd.descriptor.digest);
    expect(zstd.descriptor.mediaType).toBe(MediaType.ociManifest);
    expect(z.mediaType).toBe(MediaType.ociManifest);
    expect(z.config.mediaType).toBe(MediaType.ociConfig);
    expect(z.config.digest).toBe((await t.store.readManifest(manifest.digest)).config.digest);
    expect(z.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
  });

  test('an index gets new child manifests and a new index; shared layers convert once; absent platforms stay listed', async () => {
    const amd = await writeImage(t.store, ['shared', 'amd']);
    const arm = await writeImage(t.store, ['shared', 'arm']);
    const absent: Descriptor = { mediaType: MediaType.ociManifest, digest: digestOf('not stored'), size: 10, platform: { os: 'linux', architecture: 's390x' } };
    const index: Index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [{ ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } }, { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64' } }, absent],
    };
    const top = await t.store.putJson(index, MediaType.ociIndex);
    const form = await exportForm(t.store, top);
    expect(form.descriptor.mediaType).toBe(MediaType.ociIndex);
    const exported = await t.store.readImageIndex(form.descriptor.digest);
    expect(exported.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64', 's390x']);
    expect(exported.manifests[2]).toEqual(absent);
    // three layer blobs (shared once), each converted once
    expect(form.layers).toHaveLength(3);
    expect(form.layers.every((l) => l.outcome === 'converted')).toBe(true);
    for (const child of exported.manifests.slice(0, 2)) {
      const m = await t.store.readJson<Manifest>(child.digest);
      expect(m.layers.every((l) => l.mediaType === MediaType.ociLayerGzip)).toBe(true);
    }
    expect((await t.store.readJson<Manifest>(exported.manifests[0]?.digest as DiffId)).layers[0]).toEqual(
      (await t.store.readJson<Manifest>(exported.manifests[1]?.digest as DiffId)).layers[0],
    );
  });

  test('a layer whose bytes are not its diff ID fails with CACHE_INTEGRITY and remembers nothing', async () => {
    const { tar } = await makeTar([{ name: 'x', body: 'x' }]);
    const put = await t.store.putBlob(tar);
    const wrong = parseDiffId(digestOf('something else'));
    // a gzip layer whose config names another diff ID, converted by force
    const gz = await t.store.putBlob(execFileSync('gzip', ['-c', '-n'], { input: tar }));
    await expect(exportLayers(t.store, [{ descriptor: { mediaType: MediaType.ociLayerGzip, digest: gz.digest, size: gz.size }, diffId: wrong }], { compression: 'zstd', force: true }))
      .rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
    expect(await t.store.getCacheRecord(conversionKey(gz.digest, 'zstd'))).toBeUndefined();
    // an uncompressed layer is its own diff ID
    await expect(exportLayers(t.store, [{ descriptor: { mediaType: MediaType.ociLayer, digest: put.digest, size: put.size }, diffId: wrong }]))
      .rejects.toMatchObject({ code: 'CACHE_INTEGRITY' });
    expect((await verifyStore(t.store)).problems).toEqual([]);
  });

  test('exportLayers converts many layers at a bounded concurrency, each once, in the order given', async () => {
    const layers = [];
    for (let i = 0; i < 6; i++) {
      const { tar } = await makeTar([{ name: `f${i}`, body: `${i}`.repeat(100_000) }]);
      const put = await t.store.putBlob(tar);
      layers.push({ descriptor: { mediaType: MediaType.ociLayer, digest: put.digest, size: put.size }, diffId: parseDiffId(put.digest) });
    }
    const out = await exportLayers(t.store, [...layers, layers[0] as (typeof layers)[0]], { concurrency: 2 });
    expect(out.map((e) => e.source.digest)).toEqual([...layers, layers[0]].map((l) => l?.descriptor.digest));
    expect(out.slice(0, 6).every((e) => e.outcome === 'converted')).toBe(true);
    expect(out[6]).toBe(out[0]);
    expect(await rememberedLayer(t.store, layers[3]?.descriptor.digest as DiffId, layers[3]?.diffId as DiffId, 'gzip')).toEqual(out[3]?.descriptor);
    expect(await rememberedLayer(t.store, layers[3]?.descriptor.digest as DiffId, layers[3]?.diffId as DiffId, 'zstd')).toBeUndefined();
    await expect(exportLayers(t.store, layers, { concurrency: 0 })).rejects.toMatchObject({ code: 'CACHE_INVALID_ARGUMENT' });
  });

  test('a missing zstd command is CACHE_COMPRESSOR; nothing is remembered', async () => {
    const { manifest } = await writeImage(t.store, ['a']);
    await expect(exportForm(t.store, manifest, { compression: 'zstd', zstdCommand: '/nonexistent/zstd' })).rejects.toMatchObject({ code: 'CACHE_COMPRESSOR' });
    const layer = (await t.store.readManifest(manifest.digest)).layers[0] as Descriptor;
    expect(await t.store.getCacheRecord(conversionKey(layer.digest, 'zstd'))).toBeUndefined();
  });
});
