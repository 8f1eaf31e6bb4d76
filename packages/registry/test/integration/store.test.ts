// pullImage / pushImage between the real registry and a @strata/cache Store.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDigest, Store } from '@strata/cache';
import {
  parsePlatform, parseReference, pullImage, pushImage, RegistryClient, type RegistryEvent,
} from '@strata/registry';
import { startFaultProxy, type FaultProxy } from '../../../../tests/support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../../../tests/support/registry.js';
import { makeImage, makeIndex, pushTestImage } from '../support/images.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(60_000);

let registry: TestRegistry;
let proxy: FaultProxy;
let dir: string;
const amd64 = makeImage({ platform: { os: 'linux', architecture: 'amd64' }, layerSizes: [5000, 9000] });
const arm64 = makeImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layerSizes: [6000, 7000] });

function client(events: RegistryEvent[] = []): RegistryClient {
  return new RegistryClient({ credentials: async () => undefined, onEvent: (e) => events.push(e), retries: 2, baseDelayMs: 5, maxDelayMs: 10 });
}

async function freshStore(name: string): Promise<Store> {
  return Store.open(join(dir, name));
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy({ target: registry.url });
  dir = await mkdtemp(join(tmpdir(), 'strata-registry-store-'));
  const c = client();
  for (const image of [amd64, arm64]) {
    await pushTestImage(c, parseReference(`${registry.host}/src/multi@${image.manifestDigest}`), image);
  }
  const index = makeIndex([amd64, arm64]);
  await c.putManifest(parseReference(`${registry.host}/src/multi:1.0`), index.bytes, index.mediaType);
});

afterEach(() => proxy.clearFaults());

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('pullImage', () => {
  it('stores the linux/arm64 image of a multi-arch index and tags it', async () => {
    const store = await freshStore('pull-arm64');
    const ref = `${registry.host}/src/multi:1.0`;
    const result = await pullImage(store, ref, { client: client(), platform: parsePlatform('linux/arm64') });
    expect(result.descriptor.digest).toBe(arm64.manifestDigest);
    expect(result.descriptor.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(result.indexDigest).toBe(makeIndex([amd64, arm64]).digest);
    expect(result.downloaded).toBe(3);
    expect(result.name).toBe(ref);
    expect((await store.resolve(ref)).digest).toBe(arm64.manifestDigest);
    for (const blob of [arm64.config, ...arm64.layers]) {
      expect((await store.readBlob(parseDigest(blob.descriptor.digest))).equals(blob.data)).toBe(true);
    }
    expect(await store.hasBlob(parseDigest(amd64.config.descriptor.digest))).toBe(false);
  });

  it('skips blobs the store already has', async () => {
    const store = await freshStore('pull-twice');
    const ref = `${registry.host}/src/multi:1.0`;
    await pullImage(store, ref, { client: client(), platform: parsePlatform('linux/amd64') });
    const events: RegistryEvent[] = [];
    const again = await pullImage(store, ref, { client: client(events), platform: parsePlatform('linux/amd64') });
    expect(again).toMatchObject({ downloaded: 0, present: 3 });
    expect(events.filter((e) => e.type === 'blob-downloaded')).toEqual([]);
  });

  it('tags digest references by repository and manifest digest', async () => {
    const store = await freshStore('pull-digest');
    const result = await pullImage(store, `${registry.host}/src/multi@${amd64.manifestDigest}`, { client: client() });
    expect(result.name).toBe(`${registry.host}/src/multi@${amd64.manifestDigest}`);
    expect(result.indexDigest).toBeUndefined();
  });

  it('stores nothing of a blob that keeps arriving corrupted, and tags nothing', async () => {
    const store = await freshStore('pull-corrupt');
    const layer = arm64.layers[1];
    if (layer === undefined) throw new Error('no layer');
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: new RegExp(`/blobs/${layer.descriptor.digest}$`) });
    const ref = `${proxy.host}/src/multi:1.0`;
    await expect(pullImage(store, ref, { client: client(), platform: parsePlatform('linux/arm64') })).rejects.toMatchObject({
      code: 'REGISTRY_DIGEST_MISMATCH',
    });
    expect(await store.hasBlob(parseDigest(layer.descriptor.digest))).toBe(false);
    expect(await store.images()).toEqual([]);
    expect(await readdir(store.paths.tmp)).toEqual([]);
  });
});

describe('pushImage', () => {
  let store: Store;
  const local = `${'localhost'}/app/local:built`;

  beforeAll(async () => {
    store = await freshStore('push');
    // pull an image, then name it as a locally built one
    const pulled = await pullImage(store, `${registry.host}/src/multi:1.0`, { client: client(), platform: parsePlatform('linux/amd64') });
    await store.tag(local, pulled.descriptor);
  });

  it('pushes a stored image that skopeo then reads', async () => {
    const events: RegistryEvent[] = [];
    const dest = `${registry.host}/dst/app:v1`;
    const result = await pushImage(store, dest, { client: client(events), source: local });
    expect(result.digest).toBe(amd64.manifestDigest);
    expect(result.blobs.map((b) => b.outcome)).toEqual(['uploaded', 'uploaded', 'uploaded']);
    const { stdout } = await execFileAsync('skopeo', ['--insecure-policy', 'inspect', '--tls-verify=false', `docker://${dest}`]);
    const info = JSON.parse(stdout) as { Digest: string; Layers: string[] };
    expect(info.Digest).toBe(amd64.manifestDigest);
    expect(info.Layers).toEqual(amd64.layers.map((l) => l.descriptor.digest));
  });

  it('uploads nothing the second time', async () => {
    const events: RegistryEvent[] = [];
    const result = await pushImage(store, `${registry.host}/dst/app:v1`, { client: client(events), source: local });
    expect(result.blobs.map((b) => b.outcome)).toEqual(['exists', 'exists', 'exists']);
    expect(events.filter((e) => e.type === 'blob-progress')).toEqual([]);
  });

  it('mounts from a repository that has the blobs', async () => {
    const result = await pushImage(store, `${registry.host}/dst/mounted:v1`, { client: client(), source: local, mountFrom: ['src/multi'] });
    expect(result.blobs.map((b) => b.outcome)).toEqual(['mounted', 'mounted', 'mounted']);
  });

  it('pushes under its own name when no source is given', async () => {
    const name = `${registry.host}/dst/self:v2`;
    const descriptor = await store.resolve(local);
    await store.tag(name, descriptor);
    const result = await pushImage(store, name, { client: client() });
    expect(result.digest).toBe(amd64.manifestDigest);
  });

  it('pushes a multi-platform index with its platform manifests', async () => {
    const indexStore = await freshStore('push-index');
    for (const image of [amd64, arm64]) {
      for (const blob of [image.config, ...image.layers]) await indexStore.putBlob(blob.data);
      await indexStore.putBlob(image.manifestBytes);
    }
    const index = makeIndex([amd64, arm64]);
    await indexStore.putBlob(index.bytes);
    await indexStore.tag('localhost/multi:local', { mediaType: index.mediaType, digest: parseDigest(index.digest), size: index.bytes.length });
    const dest = `${registry.host}/dst/multi:v1`;
    const result = await pushImage(indexStore, dest, { client: client(), source: 'localhost/multi:local' });
    expect(result.digest).toBe(index.digest);
    expect(result.blobs).toHaveLength(6);
    const { stdout } = await execFileAsync('skopeo', ['--insecure-policy', 'inspect', '--raw', '--tls-verify=false', `docker://${dest}`]);
    expect(stdout).toBe(index.bytes.toString('utf8'));
    const resolved = await client().resolveImage(parseReference(dest), { platform: parsePlatform('linux/arm64') });
    expect(resolved.manifest.digest).toBe(arm64.manifestDigest);
  });

  it('fails with a clear error when the store lacks the name', async () => {
    await expect(pushImage(store, `${registry.host}/dst/none:v1`, { client: client() })).rejects.toMatchObject({ code: 'CACHE_REF_NOT_FOUND' });
  });
});
