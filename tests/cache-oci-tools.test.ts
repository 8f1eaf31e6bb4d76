// The store is an OCI image layout that the tools people already have can read:
// skopeo and umoci are used here as oracles on an image strata wrote, and
// strata reads an image that skopeo wrote into the store.
import { spawnSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, MediaType, parseDiffId, Store, verifyStore, type Descriptor } from '@strata/cache';
import { tempStoreRoot } from './support/cache-harness.js';

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
  return r.stdout;
}

jest.setTimeout(60_000);

describe('skopeo and umoci read the store', () => {
  let root: string;
  let work: string;
  let cleanupRoot: () => void;
  let cleanupWork: () => void;
  let store: Store;
  let manifest: Descriptor;
  let layer: Descriptor;
  let diffId: string;

  beforeAll(async () => {
    ({ root, cleanup: cleanupRoot } = tempStoreRoot('strata-oci-'));
    ({ root: work, cleanup: cleanupWork } = tempStoreRoot('strata-oci-work-'));
    // A busybox rootfs, tarred and gzipped by the system tools.
    const rootfs = join(work, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    mkdirSync(join(rootfs, 'etc'), { recursive: true });
    copyFileSync('/bin/busybox', join(rootfs, 'bin', 'busybox'));
    symlinkSync('busybox', join(rootfs, 'bin', 'sh'));
    writeFileSync(join(rootfs, 'etc', 'hostname'), 'strata\n');
    run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-cf', join(work, 'layer.tar'), '-C', rootfs, '.']);
    run('gzip', ['-n', '-k', join(work, 'layer.tar')]);
    diffId = digestOf(readFileSync(join(work, 'layer.tar')));

    store = await Store.open(root);
    const put = await store.putBlob(createReadStream(join(work, 'layer.tar.gz')));
    layer = { mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size };
    const config = await store.putJson(
      {
        created: '2024-01-01T00:00:00Z',
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: [parseDiffId(diffId)] },
        history: [{ created: '2024-01-01T00:00:00Z', created_by: 'strata test' }],
      },
      MediaType.ociConfig,
    );
    manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }, MediaType.ociManifest);
    await store.tag('busybox:1.0', manifest);
    await store.tag('127.0.0.1:5000/test/busybox:1.0', manifest);
  });
  afterAll(() => {
    cleanupRoot();
    cleanupWork();
  });

  it('skopeo inspects an image by its full normalized reference', () => {
    for (const ref of ['docker.io/library/busybox:1.0', '127.0.0.1:5000/test/busybox:1.0']) {
      const info = JSON.parse(run('skopeo', ['inspect', `oci:${root}:${ref}`])) as { Digest: string; Layers: string[]; Architecture: string; Os: string };
      expect(info).toMatchObject({ Digest: manifest.digest, Layers: [layer.digest], Architecture: 'amd64', Os: 'linux' });
    }
    const config = JSON.parse(run('skopeo', ['inspect', '--config', `oci:${root}:docker.io/library/busybox:1.0`])) as { rootfs: { diff_ids: string[] } };
    expect(config.rootfs.diff_ids).toEqual([diffId]);
  });

  it('umoci lists the tags and unpacks the image', () => {
    const tags = run('umoci', ['ls', '--layout', root]).trim().split('\n').sort();
    expect(tags).toEqual(['127.0.0.1:5000/test/busybox:1.0', 'docker.io/library/busybox:1.0']);
    const bundle = join(work, 'bundle');
    run('umoci', ['unpack', '--image', `${root}:127.0.0.1:5000/test/busybox:1.0`, bundle]);
    expect(readFileSync(join(bundle, 'rootfs', 'etc', 'hostname'), 'utf8')).toBe('strata\n');
    expect(readFileSync(join(bundle, 'rootfs', 'bin', 'busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    expect(run(join(bundle, 'rootfs', 'bin', 'busybox'), ['echo', 'unpacked'])).toBe('unpacked\n');
  });

  it('strata reads an image that skopeo copied into the store, and unpacks it', async () => {
    run('skopeo', ['copy', '--quiet', `oci:${root}:127.0.0.1:5000/test/busybox:1.0`, `oci:${join(work, 'copy')}:x`]);
    run('skopeo', ['copy', '--quiet', '--dest-compress-format', 'gzip', `oci:${join(work, 'copy')}:x`, `oci:${root}:docker.io/library/copied:2`]);
    const copied = await store.resolve('copied:2');
    const walk = await store.imageBlobs(copied);
    expect(walk.missing).toEqual([]);
    expect([...walk.blobs.keys()]).toContain(layer.digest);
    expect((await store.images()).map((i) => i.ref)).toEqual([
      '127.0.0.1:5000/test/busybox:1.0',
      'docker.io/library/busybox:1.0',
      'docker.io/library/copied:2',
    ]);
    const snap = await store.snapshots.unpack({ layer, diffId: parseDiffId(diffId) });
    expect(readFileSync(join(snap.path, 'bin', 'busybox')).equals(readFileSync('/bin/busybox'))).toBe(true);
    expect(existsSync(join(snap.path, 'bin', 'sh'))).toBe(true);
    expect((await verifyStore(store)).problems).toEqual([]);
  });

  it('a blob corrupted on disk is refused by digest', async () => {
    const victim = join(root, 'blobs', 'sha256', layer.digest.slice(7));
    const bytes = readFileSync(victim);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    writeFileSync(victim, bytes);
    await expect(store.readBlob(layer.digest)).rejects.toMatchObject({ code: 'CACHE_INTEGRITY', expected: layer.digest, found: digestOf(bytes) });
    // Never served again: the damaged copy is in quarantine.
    await expect(store.getBlob(layer.digest)).rejects.toMatchObject({ code: 'CACHE_BLOB_NOT_FOUND' });
    const report = await verifyStore(store);
    expect(report.problems.map((p) => `${p.kind} ${p.subject}`)).toEqual(
      expect.arrayContaining(['missing-blob docker.io/library/busybox:1.0', 'missing-blob 127.0.0.1:5000/test/busybox:1.0']),
    );
    // skopeo agrees the layout no longer holds the layer.
    expect(spawnSync('skopeo', ['copy', '--quiet', `oci:${root}:docker.io/library/busybox:1.0`, `oci:${join(work, 'copy2')}:y`]).status).not.toBe(0);
  });
});
