// Push and pull against the real reference registry (no auth), with skopeo as
// the oracle.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestOf } from '@strata/cache';
import {
  fetchBlob, headBlob, parsePlatform, parseReference, pushBlob, bufferSource, RegistryClient,
  type RegistryEvent,
} from '@strata/registry';
import { startRegistry, type TestRegistry } from '../../../../tests/support/registry.js';
import { makeImage, makeIndex, pushTestImage } from '../support/images.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(60_000);

let registry: TestRegistry;
let workDir: string;

beforeAll(async () => {
  registry = await startRegistry({ auth: 'none' });
  workDir = await mkdtemp(join(tmpdir(), 'strata-registry-test-'));
});

afterAll(async () => {
  await registry?.stop();
  await rm(workDir, { recursive: true, force: true });
});

function client(events: RegistryEvent[] = [], options: { chunkSize?: number; fetch?: typeof fetch } = {}): RegistryClient {
  return new RegistryClient({ onEvent: (e) => events.push(e), credentials: async () => undefined, ...options });
}

/** A fetch that records method and content-range of each request. */
function recordingFetch(log: string[]): typeof fetch {
  return (input, init) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    log.push(`${init?.method ?? 'GET'}${headers['content-range'] ? ` ${headers['content-range']}` : ''}`);
    return fetch(input, init);
  };
}

const pushed = (events: RegistryEvent[], outcome: string): string[] =>
  events.flatMap((e) => (e.type === 'blob-pushed' && e.outcome === outcome ? [e.digest] : []));

async function skopeoInspect(ref: string, raw = false): Promise<string> {
  const args = ['--insecure-policy', 'inspect', '--tls-verify=false', ...(raw ? ['--raw'] : []), `docker://${ref}`];
  return (await execFileAsync('skopeo', args)).stdout;
}

describe('push', () => {
  const image = makeImage({ layerSizes: [3000, 70_000, 1] });
  const events: RegistryEvent[] = [];

  it('pushes blobs and a manifest that skopeo reads back', async () => {
    const ref = parseReference(`${registry.host}/strata/app:v1`);
    const results = await pushTestImage(client(events), ref, image);
    expect(results.map((r) => r.outcome)).toEqual(['uploaded', 'uploaded', 'uploaded', 'uploaded']);
    const info = JSON.parse(await skopeoInspect(`${registry.host}/strata/app:v1`)) as { Digest: string; Layers: string[]; Architecture: string };
    expect(info.Digest).toBe(image.manifestDigest);
    expect(info.Layers).toEqual(image.layers.map((l) => l.descriptor.digest));
    expect(info.Architecture).toBe('amd64');
    expect(await skopeoInspect(`${registry.host}/strata/app:v1`, true)).toBe(image.manifestBytes.toString('utf8'));
    const uploads = events.filter((e) => e.type === 'blob-progress' && e.direction === 'upload' && e.complete === e.total);
    expect(new Set(uploads.map((e) => (e.type === 'blob-progress' ? e.digest : '')))).toEqual(
      new Set([image.config, ...image.layers].map((b) => b.descriptor.digest)),
    );
  });

  it('skopeo copies the pushed image to an OCI layout byte for byte', async () => {
    const layout = join(workDir, 'copy-back');
    await execFileAsync('skopeo', ['--insecure-policy', 'copy', '--src-tls-verify=false', `docker://${registry.host}/strata/app:v1`, `oci:${layout}:v1`]);
    for (const b of [image.config, ...image.layers]) {
      const bytes = await readFile(join(layout, 'blobs', 'sha256', b.descriptor.digest.slice('sha256:'.length)));
      expect(bytes.equals(b.data)).toBe(true);
    }
    const manifest = await readFile(join(layout, 'blobs', 'sha256', image.manifestDigest.slice('sha256:'.length)));
    expect(manifest.equals(image.manifestBytes)).toBe(true);
  });

  it('uploads no blob the second time', async () => {
    const again: RegistryEvent[] = [];
    const results = await pushTestImage(client(again), parseReference(`${registry.host}/strata/app:v1`), image);
    expect(results.map((r) => r.outcome)).toEqual(['exists', 'exists', 'exists', 'exists']);
    expect(pushed(again, 'uploaded')).toEqual([]);
    expect(again.filter((e) => e.type === 'blob-progress')).toEqual([]);
  });

  it('mounts blobs into another repository of the same registry', async () => {
    const mountEvents: RegistryEvent[] = [];
    const ref = parseReference(`${registry.host}/strata/other:v1`);
    const results = await pushTestImage(client(mountEvents), ref, image, { mountFrom: ['strata/app'] });
    expect(results.map((r) => r.outcome)).toEqual(['mounted', 'mounted', 'mounted', 'mounted']);
    expect(results.every((r) => r.from === 'strata/app')).toBe(true);
    expect(pushed(mountEvents, 'uploaded')).toEqual([]);
    expect(mountEvents.filter((e) => e.type === 'blob-progress')).toEqual([]);
    const info = JSON.parse(await skopeoInspect(`${registry.host}/strata/other:v1`)) as { Digest: string };
    expect(info.Digest).toBe(image.manifestDigest);
  });

  it('falls back to an upload when the mount source lacks the blob', async () => {
    const data = Buffer.from('only here');
    const digest = digestOf(data);
    const result = await pushBlob(client(), { registry: registry.host, repository: 'strata/fallback' }, bufferSource(data, digest), {
      mountFrom: ['strata/does-not-exist'],
    });
    expect(result.outcome).toBe('uploaded');
    expect(await headBlob(client(), { registry: registry.host, repository: 'strata/fallback' }, digest)).toEqual({ size: data.length });
  });

  it('uploads in chunks when the blob is larger than chunkSize', async () => {
    const big = makeImage({ layerSizes: [300_000], format: 'docker' });
    const events2: RegistryEvent[] = [];
    const ref = parseReference(`${registry.host}/strata/chunked:v1`);
    const log: string[] = [];
    await pushTestImage(client(events2, { chunkSize: 64 * 1024, fetch: recordingFetch(log) }), ref, big);
    const layer = big.layers[0];
    if (layer === undefined) throw new Error('no layer');
    const patches = log.filter((l) => l.startsWith('PATCH'));
    expect(patches.length).toBe(Math.ceil(layer.data.length / (64 * 1024)));
    expect(patches[0]).toBe(`PATCH 0-${64 * 1024 - 1}`);
    expect(patches[patches.length - 1]).toBe(`PATCH ${(patches.length - 1) * 64 * 1024}-${layer.data.length - 1}`);
    const back = await fetchBlob(client(), ref, layer.descriptor);
    expect(back.equals(layer.data)).toBe(true);
    const info = JSON.parse(await skopeoInspect(`${registry.host}/strata/chunked:v1`)) as { Digest: string };
    expect(info.Digest).toBe(big.manifestDigest);
  });
});

describe('pull', () => {
  const amd64 = makeImage({ platform: { os: 'linux', architecture: 'amd64' } });
  const arm64 = makeImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const armv7 = makeImage({ platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });

  beforeAll(async () => {
    const c = client();
    for (const image of [amd64, arm64, armv7]) {
      await pushTestImage(c, parseReference(`${registry.host}/strata/multi@${image.manifestDigest}`), image);
    }
    const index = makeIndex([amd64, arm64, armv7]);
    await c.putManifest(parseReference(`${registry.host}/strata/multi:latest`), index.bytes, index.mediaType);
    const list = makeIndex([amd64, arm64], 'docker');
    await c.putManifest(parseReference(`${registry.host}/strata/multi:list`), list.bytes, list.mediaType);
  });

  it('resolves a tag to a single-platform manifest and reads its blobs verified', async () => {
    const ref = parseReference(`${registry.host}/strata/multi@${arm64.manifestDigest}`);
    const resolved = await client().resolveImage(ref);
    expect(resolved.index).toBeUndefined();
    expect(resolved.manifest.digest).toBe(arm64.manifestDigest);
    const events: RegistryEvent[] = [];
    const config = await fetchBlob(client(events), ref, resolved.manifest.manifest.config);
    expect(config.equals(arm64.config.data)).toBe(true);
    expect(events.some((e) => e.type === 'blob-downloaded' && e.digest === arm64.config.descriptor.digest)).toBe(true);
  });

  it.each([
    ['linux/arm64', 'arm64'],
    ['linux/arm64/v8', 'arm64'],
    ['linux/amd64', 'amd64'],
    ['linux/arm/v7', 'arm'],
    ['linux/arm', 'arm'],
  ])('selects %s from an OCI index', async (platform, architecture) => {
    const resolved = await client().resolveImage(parseReference(`${registry.host}/strata/multi`), { platform: parsePlatform(platform) });
    const wanted = { amd64, arm64, arm: armv7 }[architecture as 'amd64' | 'arm64' | 'arm'];
    expect(resolved.manifest.digest).toBe(wanted.manifestDigest);
    expect(resolved.index?.kind).toBe('index');
  });

  it('selects linux/arm64 from a Docker manifest list', async () => {
    const resolved = await client().resolveImage(parseReference(`${registry.host}/strata/multi:list`), { platform: parsePlatform('linux/arm64') });
    expect(resolved.manifest.digest).toBe(arm64.manifestDigest);
    expect(resolved.index?.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
  });

  it('names the platforms an index has when none matches', async () => {
    await expect(
      client().resolveImage(parseReference(`${registry.host}/strata/multi:list`), { platform: parsePlatform('linux/s390x') }),
    ).rejects.toMatchObject({
      code: 'REGISTRY_NO_MATCHING_PLATFORM',
      message: expect.stringContaining('linux/amd64, linux/arm64') as unknown,
    });
  });

  it('fails with REGISTRY_MANIFEST_UNKNOWN for a missing tag', async () => {
    await expect(client().getManifest(parseReference(`${registry.host}/strata/multi:nope`))).rejects.toMatchObject({
      code: 'REGISTRY_MANIFEST_UNKNOWN',
      message: expect.stringContaining('strata/multi:nope') as unknown,
    });
  });

  it('HEADs manifests and reports absent ones as undefined', async () => {
    const head = await client().headManifest(parseReference(`${registry.host}/strata/multi:latest`));
    expect(head?.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(await client().headManifest(parseReference(`${registry.host}/strata/multi:absent`))).toBeUndefined();
  });

  it('lists tags', async () => {
    expect((await client().listTags({ registry: registry.host, repository: 'strata/multi' })).sort()).toEqual(['latest', 'list']);
  });

  it('pings the registry', async () => {
    expect(await client().ping(registry.host)).toEqual({ auth: 'none', apiVersion: 'registry/2.0' });
  });
});
