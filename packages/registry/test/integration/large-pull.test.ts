// pullImage of layers large enough (>= 4 MiB) for the store to hash and write
// them on its worker thread: faults mid-body are retried from the start, a
// corrupted copy is never committed, and what is stored is the registry's bytes.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestHex, parseDigest, Store } from '@strata/cache';
import { parseReference, pullImage, RegistryClient, type RegistryEvent } from '@strata/registry';
import { startFaultProxy, type FaultProxy } from '../../../../tests/support/fault-proxy.js';
import { startRegistry, type TestRegistry } from '../../../../tests/support/registry.js';
import { makeImage, pushTestImage } from '../support/images.js';

jest.setTimeout(60_000);

let registry: TestRegistry;
let proxy: FaultProxy;
let dir: string;
const image = makeImage({ layerSizes: [6 * 1024 * 1024, 5 * 1024 * 1024 + 333, 4096] });

function client(events: RegistryEvent[] = []): RegistryClient {
  return new RegistryClient({ credentials: async () => undefined, onEvent: (e) => events.push(e), retries: 2, baseDelayMs: 5, maxDelayMs: 10 });
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy({ target: registry.url });
  dir = await mkdtemp(join(tmpdir(), 'strata-registry-large-'));
  await pushTestImage(client(), parseReference(`${registry.host}/large/img:1`), image);
});

afterEach(() => proxy.clearFaults());

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function expectStored(store: Store): Promise<void> {
  for (const layer of image.layers) {
    const file = join(store.paths.root, 'blobs', 'sha256', digestHex(parseDigest(layer.descriptor.digest)));
    expect((await readFile(file)).equals(layer.data)).toBe(true);
  }
  expect(await readdir(store.paths.tmp)).toEqual([]);
}

describe('pullImage of large layers', () => {
  it('stores the layers byte for byte', async () => {
    const store = await Store.open(join(dir, 'plain'));
    const events: RegistryEvent[] = [];
    const result = await pullImage(store, `${registry.host}/large/img:1`, { client: client(events) });
    expect(result.downloaded).toBe(4);
    await expectStored(store);
    // progress as the bytes arrive, ending at each layer's size
    for (const layer of image.layers) {
      const progress = events.flatMap((e) => (e.type === 'blob-progress' && e.digest === layer.descriptor.digest ? [e.complete] : []));
      expect(progress.at(-1)).toBe(layer.data.length);
      if (layer.data.length > 2 << 20) expect(progress.length).toBeGreaterThan(2);
    }
  });

  it('retries a layer whose body was corrupted, and stores the right bytes', async () => {
    const store = await Store.open(join(dir, 'corrupt-once'));
    const layer = image.layers[0]!;
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: new RegExp(`/blobs/${layer.descriptor.digest}$`), times: 1 });
    const events: RegistryEvent[] = [];
    await pullImage(store, `${proxy.host}/large/img:1`, { client: client(events) });
    expect(events.some((e) => e.type === 'request-retry' && /does not match its digest/.test(e.reason))).toBe(true);
    await expectStored(store);
  });

  it('retries a layer cut off mid-body', async () => {
    const store = await Store.open(join(dir, 'reset-body'));
    const layer = image.layers[1]!;
    proxy.addFault({ fault: 'reset-body', method: 'GET', path: new RegExp(`/blobs/${layer.descriptor.digest}$`), times: 1 });
    const events: RegistryEvent[] = [];
    await pullImage(store, `${proxy.host}/large/img:1`, { client: client(events) });
    expect(proxy.requests.some((r) => r.fault === 'reset-body')).toBe(true);
    expect(events.some((e) => e.type === 'request-retry')).toBe(true);
    await expectStored(store);
  });

  it('stores nothing of a large layer that keeps arriving corrupted, and tags nothing', async () => {
    const store = await Store.open(join(dir, 'corrupt-always'));
    const layer = image.layers[0]!;
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: new RegExp(`/blobs/${layer.descriptor.digest}$`) });
    await expect(pullImage(store, `${proxy.host}/large/img:1`, { client: client() })).rejects.toMatchObject({ code: 'REGISTRY_DIGEST_MISMATCH' });
    expect(await store.hasBlob(parseDigest(layer.descriptor.digest))).toBe(false);
    expect(await store.images()).toEqual([]);
    expect(await readdir(store.paths.tmp)).toEqual([]);
  });

  it('a failed pull is over when it rejects: no download of it still runs or starts afterwards', async () => {
    const store = await Store.open(join(dir, 'over'));
    const layer = image.layers[0]!;
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: new RegExp(`/blobs/${layer.descriptor.digest}$`) });
    // one download at a time: the other blobs wait in the queue when the first fails
    const oneAtATime = new RegistryClient({ credentials: async () => undefined, retries: 2, baseDelayMs: 5, maxDelayMs: 10, concurrency: 1 });
    await expect(pullImage(store, `${proxy.host}/large/img:1`, { client: oneAtATime })).rejects.toMatchObject({ code: 'REGISTRY_DIGEST_MISMATCH' });
    const seen = proxy.requests.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(proxy.requests.length).toBe(seen);
    expect(await readdir(store.paths.tmp)).toEqual([]);
  });

  it('a failure cuts the downloads in flight: the pull rejects without waiting for a slow layer', async () => {
    const store = await Store.open(join(dir, 'cut'));
    const [slow, failing] = [image.layers[0]!, image.layers[1]!];
    // ~6 MiB in 64 KiB chunks at 50 ms each would take ~5 s
    proxy.addFault({ fault: 'slow', delayMs: 50, method: 'GET', path: new RegExp(`/blobs/${slow.descriptor.digest}$`) });
    proxy.addFault({ fault: 'status-500', method: 'GET', path: new RegExp(`/blobs/${failing.descriptor.digest}$`) });
    const events: RegistryEvent[] = [];
    await expect(pullImage(store, `${proxy.host}/large/img:1`, { client: client(events) })).rejects.toMatchObject({ code: 'REGISTRY_HTTP_ERROR' });
    // the slow layer was cut part way, not waited for
    const slowProgress = events.flatMap((e) => (e.type === 'blob-progress' && e.digest === slow.descriptor.digest ? [e.complete] : []));
    expect(slowProgress.at(-1) ?? 0).toBeLessThan(slow.data.length);
    expect(events.some((e) => e.type === 'blob-downloaded' && e.digest === slow.descriptor.digest)).toBe(false);
    expect(await store.hasBlob(parseDigest(slow.descriptor.digest))).toBe(false);
    expect(await readdir(store.paths.tmp)).toEqual([]);
  });
});
