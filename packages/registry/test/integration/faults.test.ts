// Faults injected between the client and the real registry: retries succeed,
// or the client fails with a clear error and nothing is committed.
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Descriptor } from '@strata/cache';
import { downloadBlob, fetchBlob, headBlob, parseReference, RegistryClient, type RegistryEvent } from '@strata/registry';
import { startFaultProxy, type FaultProxy } from '../../../../tests/support/fault-proxy.js';
import { freePort, startRegistry, type TestRegistry } from '../../../../tests/support/registry.js';
import { makeImage, pushTestImage, type TestImage } from '../support/images.js';

jest.setTimeout(60_000);

let registry: TestRegistry;
let proxy: FaultProxy;
let workDir: string;
let image: TestImage;
let layer: Descriptor;

function client(events: RegistryEvent[] = [], options: { chunkSize?: number; idleTimeoutMs?: number } = {}): RegistryClient {
  return new RegistryClient({
    credentials: async () => undefined,
    onEvent: (e) => events.push(e),
    retries: 3,
    baseDelayMs: 5,
    maxDelayMs: 20,
    ...options,
  });
}

const retries = (events: RegistryEvent[]): RegistryEvent[] => events.filter((e) => e.type === 'request-retry');

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy({ target: registry.url });
  workDir = await mkdtemp(join(tmpdir(), 'strata-faults-'));
  image = makeImage({ layerSizes: [200_000] });
  const first = image.layers[0];
  if (first === undefined) throw new Error('no layer');
  layer = first.descriptor;
  await pushTestImage(client(), parseReference(`${registry.host}/faults/base:v1`), image);
});

afterEach(() => proxy.clearFaults());

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(workDir, { recursive: true, force: true });
});

const viaProxy = (name: string): ReturnType<typeof parseReference> => parseReference(`${proxy.host}/faults/${name}`);

describe('retries', () => {
  it('retries 500s and succeeds', async () => {
    proxy.addFault({ fault: 'status-500', method: 'HEAD', path: /\/blobs\//, times: 2 });
    const events: RegistryEvent[] = [];
    const results = await pushTestImage(client(events), viaProxy('five-hundred:v1'), makeImage({ layerSizes: [10] }));
    expect(results.every((r) => r.outcome === 'uploaded')).toBe(true);
    expect(retries(events).filter((e) => e.type === 'request-retry' && e.reason === 'HTTP 500')).toHaveLength(2);
  });

  it('retries 429 (Retry-After) on a manifest PUT', async () => {
    proxy.addFault({ fault: 'status-429', method: 'PUT', path: /\/manifests\//, times: 1 });
    const events: RegistryEvent[] = [];
    const pushed = makeImage({ layerSizes: [10] });
    await pushTestImage(client(events), viaProxy('too-many:v1'), pushed);
    expect(retries(events).map((e) => (e.type === 'request-retry' ? e.reason : ''))).toEqual(['HTTP 429']);
    expect((await client().headManifest(parseReference(`${registry.host}/faults/too-many:v1`)))?.digest).toBe(pushed.manifestDigest);
  });

  it('restarts an upload whose connection was reset', async () => {
    proxy.addFault({ fault: 'reset', method: 'PUT', path: /\/blobs\/uploads\//, times: 1 });
    const events: RegistryEvent[] = [];
    const pushed = makeImage({ layerSizes: [50_000] });
    await pushTestImage(client(events), viaProxy('reset-upload:v1'), pushed);
    expect(retries(events).length).toBeGreaterThanOrEqual(1);
    const repo = { registry: registry.host, repository: 'faults/reset-upload' };
    for (const b of [pushed.config, ...pushed.layers]) {
      expect(await headBlob(client(), repo, b.descriptor.digest)).toEqual({ size: b.data.length });
    }
  });

  it('restarts a chunked upload whose PATCH failed', async () => {
    proxy.addFault({ fault: 'status-500', method: 'PATCH', times: 1 });
    const events: RegistryEvent[] = [];
    const pushed = makeImage({ layerSizes: [100_000] });
    await pushTestImage(client(events, { chunkSize: 16 * 1024 }), viaProxy('reset-patch:v1'), pushed);
    expect(proxy.requests.filter((r) => r.fault === 'status-500' && r.method === 'PATCH')).toHaveLength(1);
    const layerBlob = pushed.layers[0];
    if (layerBlob === undefined) throw new Error('no layer');
    const back = await fetchBlob(client(), { registry: registry.host, repository: 'faults/reset-patch' }, layerBlob.descriptor);
    expect(back.equals(layerBlob.data)).toBe(true);
  });

  it('retries a download reset before the response', async () => {
    proxy.addFault({ fault: 'reset', method: 'GET', path: /\/blobs\/sha256:/, times: 1 });
    const events: RegistryEvent[] = [];
    const data = await fetchBlob(client(events), viaProxy('base'), layer);
    expect(data.equals(image.layers[0]?.data ?? Buffer.alloc(0))).toBe(true);
    expect(retries(events).length).toBeGreaterThanOrEqual(1);
  });

  it('retries a download cut off in the middle of the body', async () => {
    proxy.addFault({ fault: 'reset-body', method: 'GET', path: /\/blobs\/sha256:/, times: 1 });
    const events: RegistryEvent[] = [];
    const data = await fetchBlob(client(events), viaProxy('base'), layer);
    expect(data.equals(image.layers[0]?.data ?? Buffer.alloc(0))).toBe(true);
    expect(proxy.requests.some((r) => r.fault === 'reset-body')).toBe(true);
    expect(retries(events).length).toBeGreaterThanOrEqual(1);
  });

  it('retries a corrupted download and gets the right bytes', async () => {
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: /\/blobs\/sha256:/, times: 1 });
    const events: RegistryEvent[] = [];
    const data = await fetchBlob(client(events), viaProxy('base'), layer);
    expect(data.equals(image.layers[0]?.data ?? Buffer.alloc(0))).toBe(true);
    expect(retries(events).some((e) => e.type === 'request-retry' && /does not match its digest/.test(e.reason))).toBe(true);
  });

  it('gives up on a request that gets no answer and retries it', async () => {
    proxy.addFault({ fault: 'hang', method: 'GET', path: /\/manifests\/v1$/, times: 1 });
    const events: RegistryEvent[] = [];
    const doc = await client(events, { idleTimeoutMs: 300 }).getManifest(viaProxy('base:v1'));
    expect(doc.digest).toBe(image.manifestDigest);
    expect(retries(events).some((e) => e.type === 'request-retry' && /within 300 ms/.test(e.reason))).toBe(true);
  });

  it('restarts an upload that gets no answer', async () => {
    proxy.addFault({ fault: 'hang', method: 'PUT', path: /\/blobs\/uploads\//, times: 1 });
    const events: RegistryEvent[] = [];
    const pushed = makeImage({ layerSizes: [1000] });
    await pushTestImage(client(events, { idleTimeoutMs: 300 }), viaProxy('hang-upload:v1'), pushed);
    expect(proxy.requests.filter((r) => r.fault === 'hang' && r.method === 'PUT')).toHaveLength(1);
    expect(retries(events).length).toBeGreaterThanOrEqual(1);
    expect((await client().headManifest(parseReference(`${registry.host}/faults/hang-upload:v1`)))?.digest).toBe(pushed.manifestDigest);
  });

  it('completes slow transfers', async () => {
    proxy.addFault({ fault: 'slow', method: 'GET', path: /\/blobs\/sha256:/, delayMs: 5 });
    const data = await fetchBlob(client(), viaProxy('base'), layer);
    expect(data.equals(image.layers[0]?.data ?? Buffer.alloc(0))).toBe(true);
  });
});

describe('failures', () => {
  it('fails with REGISTRY_DIGEST_MISMATCH and commits nothing when every copy is corrupt', async () => {
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: /\/blobs\/sha256:/ });
    const dir = join(workDir, 'store');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    // a consumer that writes to a temp file and renames only after the stream ended cleanly
    let attempt = 0;
    const write = async (stream: NodeJS.ReadableStream): Promise<void> => {
      const tmp = join(dir, `.tmp-${attempt++}`);
      try {
        await pipeline(stream, createWriteStream(tmp));
        await rename(tmp, join(dir, layer.digest));
      } finally {
        await rm(tmp, { force: true });
      }
    };
    const events: RegistryEvent[] = [];
    await expect(downloadBlob(client(events), viaProxy('base'), layer, write)).rejects.toMatchObject({
      code: 'REGISTRY_DIGEST_MISMATCH',
      message: expect.stringContaining(layer.digest) as unknown,
    });
    expect(attempt).toBe(4);
    expect(await readdir(dir)).toEqual([]);
    expect(events.some((e) => e.type === 'blob-downloaded')).toBe(false);
  });

  it('detects a corrupted manifest fetched by digest', async () => {
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: /\/manifests\/sha256:/ });
    await expect(client().getManifest(parseReference(`${proxy.host}/faults/base@${image.manifestDigest}`))).rejects.toMatchObject({
      code: 'REGISTRY_DIGEST_MISMATCH',
    });
  });

  it('gives up on persistent 500s with REGISTRY_HTTP_ERROR after the configured retries', async () => {
    proxy.addFault({ fault: 'status-500', method: 'GET', path: /\/manifests\/v1$/ });
    const before = proxy.requests.length;
    await expect(client().getManifest(viaProxy('base:v1'))).rejects.toMatchObject({ code: 'REGISTRY_HTTP_ERROR', status: 500 });
    expect(proxy.requests.slice(before).filter((r) => r.fault === 'status-500')).toHaveLength(4);
  });

  it('reports a registry nobody listens on as REGISTRY_CONNECTION_FAILED', async () => {
    const port = await freePort();
    await expect(client().getManifest(parseReference(`127.0.0.1:${port}/x/y:z`))).rejects.toMatchObject({
      code: 'REGISTRY_CONNECTION_FAILED',
    });
  });

  it('leaves downloaded bytes identical to the source after all the faults', async () => {
    const bytes = await fetchBlob(client(), viaProxy('base'), layer);
    const original = image.layers[0]?.data;
    expect(original && bytes.equals(original)).toBe(true);
    expect((await readFile(join(registry.storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', layer.digest.slice(7, 9), layer.digest.slice(7), 'data'))).equals(bytes)).toBe(true);
  });
});
