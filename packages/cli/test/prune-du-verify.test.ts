import { mkdtempSync, rmSync, utimesSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex, makeCacheKey, MediaType, parseDiffId, digestOf, Store, diskUsage, verifyStore } from '@strata/cache';
import { main } from '../src/index.js';
import { formatBytes, parseDuration, parseSize } from '../src/commands/prune.js';
import { memoryIo } from './memory-io.js';

describe('size, duration and byte formats', () => {
  it.each([
    ['0', 0],
    ['512', 512],
    ['10GB', 10 * 1024 ** 3],
    ['512m', 512 * 1024 ** 2],
    ['1.5KiB', 1536],
  ])('parseSize(%p) = %p', (text, bytes) => expect(parseSize(text)).toBe(bytes));
  it.each(['', 'ten', '10XB', '-1'])('parseSize rejects %p', (text) => expect(parseSize(text)).toBeUndefined());
  it.each([
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['90s', 90_000],
    ['7d', 604_800_000],
  ])('parseDuration(%p) = %p', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '24', 'h', '1h junk'])('parseDuration rejects %p', (text) => expect(parseDuration(text)).toBeUndefined());
  it('formats bytes like docker', () => {
    expect([0, 999, 1234, 34_500_000, 2e12].map(formatBytes)).toEqual(['0B', '999B', '1.2kB', '34.5MB', '2.0TB']);
  });
});

describe('strata du / prune / verify', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    root = mkdtempSync('/dev/shm/strata-cli-');
    env = { STRATA_ROOT: root };
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function seed(): Promise<{ store: Store; stray: string; cached: string }> {
    const store = await Store.open(root);
    const layer = await store.putBlob('layer');
    const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf('tar')] } }, MediaType.ociConfig);
    const manifest = await store.putJson({ schemaVersion: 2, config, layers: [{ mediaType: MediaType.ociLayerGzip, ...layer }] }, MediaType.ociManifest);
    await store.tag('app:1', manifest);
    const cacheBlob = await store.putBlob('cached layer');
    await store.putCacheRecord(makeCacheKey('step'), {
      layer: { mediaType: MediaType.ociLayerGzip, digest: cacheBlob.digest, size: cacheBlob.size, diffId: parseDiffId(digestOf('x')) },
    });
    const stray = await store.putBlob('stray bytes');
    // Age every blob past prune's grace period.
    const old = new Date(Date.now() - 3_600_000);
    for (const name of readdirSync(join(root, 'blobs', 'sha256'))) utimesSync(join(root, 'blobs', 'sha256', name), old, old);
    return { store, stray: stray.digest, cached: cacheBlob.digest };
  }

  it('du prints usage by kind', async () => {
    await seed();
    const io = memoryIo({ env });
    await expect(main(['du'], io)).resolves.toBe(0);
    expect(io.out()).toMatch(/^TYPE\s+COUNT\s+SIZE\n/);
    expect(io.out()).toMatch(/\nImages\s+1\s+\S+B\n/);
    expect(io.out()).toMatch(/\nBuild cache\s+1\s+\S+B\n/);
    expect(io.out()).toMatch(/\nUnreferenced\s+1\s+11B\n/);
    const json = memoryIo({ env });
    await expect(main(['du', '--json'], json)).resolves.toBe(0);
    expect(JSON.parse(json.out())).toMatchObject({ root, images: { count: 1 }, cache: { count: 1 }, unreferenced: { count: 1, size: 11 } });
  });

  it('prune removes unreferenced blobs, --all the cache too', async () => {
    const { store, stray, cached } = await seed();
    const io = memoryIo({ env });
    await expect(main(['prune'], io)).resolves.toBe(0);
    expect(io.out()).toContain('Deleted 0 cache records, 1 blob, 0 snapshots\n');
    expect(io.out()).toContain('Total reclaimed space: 11B\n');
    expect(await store.statBlob(stray as never)).toBeUndefined();
    expect(await store.statBlob(cached as never)).toBeDefined();
    const all = memoryIo({ env });
    await expect(main(['prune', '--all', '--json'], all)).resolves.toBe(0);
    expect(JSON.parse(all.out())).toMatchObject({ removed: { records: 1, blobs: 1 } });
    await expect(store.resolve('app:1')).resolves.toBeDefined();
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('prune honours --keep-storage and --filter until', async () => {
    const { store } = await seed();
    const io = memoryIo({ env });
    await expect(main(['prune', '--filter', 'until=24h', '--keep-storage', '1GB', '--dry-run'], io)).resolves.toBe(0);
    expect(io.out()).toContain('Would delete 0 cache records, 1 blob');
    expect((await diskUsage(store)).blobs.count).toBe(5);
    const tight = memoryIo({ env });
    await expect(main(['prune', '--keep-storage', '0'], tight)).resolves.toBe(0);
    expect(tight.out()).toContain('Deleted 1 cache record, 2 blobs');
  });

  it('prune rejects bad options with a usage exit code', async () => {
    for (const args of [['prune', '--keep-storage', 'lots'], ['prune', '--filter', 'label=x'], ['prune', '--filter', 'until=soon'], ['prune', 'extra']]) {
      const io = memoryIo({ env });
      await expect(main(args, io)).resolves.toBe(2);
      expect(io.err()).toMatch(/^strata prune: /);
    }
  });

  it('verify reports a clean store and exits 0', async () => {
    await seed();
    const io = memoryIo({ env });
    await expect(main(['verify'], io)).resolves.toBe(0);
    expect(io.out()).toMatch(/^Checked 5 blobs \(\S+\): the store is consistent\n$/);
  });

  it('verify finds a corrupted blob, exits 1, and --repair fixes it', async () => {
    const { cached } = await seed();
    writeFileSync(join(root, 'blobs', 'sha256', digestHex(cached as never)), 'rotten');
    const io = memoryIo({ env });
    await expect(main(['verify'], io)).resolves.toBe(1);
    expect(io.out()).toContain(`problem   corrupt-blob  ${cached}`);
    expect(io.out()).toContain("Run 'strata verify --repair'");
    const fix = memoryIo({ env });
    await expect(main(['verify', '--repair'], fix)).resolves.toBe(0);
    expect(fix.out()).toContain(`repaired  corrupt-blob  ${cached}`);
    expect(fix.out()).toContain('repaired  record-missing-layer');
    const again = memoryIo({ env });
    await expect(main(['verify', '--json'], again)).resolves.toBe(0);
    expect(JSON.parse(again.out())).toMatchObject({ ok: true, problems: [] });
  });

  it('reports store errors by code', async () => {
    writeFileSync(join(root, 'index.json'), 'not json');
    const io = memoryIo({ env });
    await expect(main(['du'], io)).resolves.toBe(1);
    expect(io.err()).toContain('strata du: CACHE_CORRUPT_INDEX');
    expect(io.err()).toContain('hint: Run `strata verify --repair`');
  });
});
