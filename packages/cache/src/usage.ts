import { statSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { chainIdsOf, isDigest, type ChainId, type DiffId, type Digest } from './digest.js';
import { errnoCode, isCacheError } from './errors.js';
import type { StoredRecord } from './records.js';
import type { SnapshotInfo } from './snapshots.js';
import type { Store } from './store.js';
import type { TaggedImage } from './refs.js';

export interface UsageBucket {
  readonly count: number;
  readonly size: number;
}

/** Disk usage by kind. A blob shared by several kinds is counted once, in the first that applies. */
export interface DiskUsage {
  /** Tagged images (count = tags) and the blobs they reach. */
  readonly images: UsageBucket;
  /** Cache records (count = records) and the layer blobs only they reference. */
  readonly cache: UsageBucket;
  /** Unpacked layers. */
  readonly snapshots: UsageBucket;
  /** Blobs that nothing references: prune removes them. */
  readonly unreferenced: UsageBucket;
  /** Blobs moved aside by a failed verification. */
  readonly quarantine: UsageBucket;
  /** Every blob in blobs/sha256. */
  readonly blobs: UsageBucket;
  readonly total: number;
}

/** What the store holds and what references what: computed once, used by du, prune and verify. */
export interface StoreInventory {
  readonly images: TaggedImage[];
  /** Blob sizes and modification times by digest (files in blobs/sha256). */
  readonly blobs: Map<Digest, { size: number; mtimeMs: number }>;
  /** Blobs reachable from tags. */
  readonly imageBlobs: Set<Digest>;
  /** Chain IDs of every tagged image's layer stacks. */
  readonly imageChains: Set<ChainId>;
  /** Manifests or configs that a tag needs but that are missing or damaged. */
  readonly missingByRef: Map<string, Digest[]>;
  /** Every blob each tag reaches. */
  readonly blobsByRef: Map<string, Digest[]>;
  readonly records: StoredRecord[];
  readonly damagedRecords: string[];
  readonly snapshots: SnapshotInfo[];
  readonly damagedSnapshots: string[];
}

export async function statBlobs(dir: string): Promise<Map<Digest, { size: number; mtimeMs: number }>> {
  const names = (await readdir(dir)).filter((n) => isDigest(`sha256:${n}`));
  const out = new Map<Digest, { size: number; mtimeMs: number }>();
  // stat(2) on a cached inode costs microseconds, less than a thread-pool round trip:
  // call it directly, yielding to the event loop between batches.
  for (let i = 0; i < names.length; i += 1000) {
    for (const name of names.slice(i, i + 1000)) {
      const s = statSync(join(dir, name), { throwIfNoEntry: false });
      if (s !== undefined) out.set(`sha256:${name}` as Digest, { size: s.size, mtimeMs: s.mtimeMs });
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  return out;
}

export async function inventory(store: Store): Promise<StoreInventory> {
  const images = await store.images();
  const blobs = await statBlobs(store.paths.blobs);
  const imageBlobs = new Set<Digest>();
  const imageChains = new Set<ChainId>();
  const missingByRef = new Map<string, Digest[]>();
  const blobsByRef = new Map<string, Digest[]>();
  for (const image of images) {
    const walk = await store.imageBlobs(image.descriptor);
    blobsByRef.set(image.ref, [...walk.blobs.keys()]);
    for (const digest of walk.blobs.keys()) imageBlobs.add(digest);
    const missing = [...walk.missing];
    for (const digest of walk.blobs.keys()) if (!blobs.has(digest) && !missing.includes(digest)) missing.push(digest);
    for (const config of walk.configs) {
      try {
        const parsed = await store.readConfig(config);
        const diffIds = (parsed.rootfs?.diff_ids ?? []).filter((d): d is DiffId => isDigest(d));
        for (const chain of chainIdsOf(diffIds)) imageChains.add(chain);
      } catch (error) {
        if (!isCacheError(error)) throw error;
        if (!missing.includes(config)) missing.push(config);
      }
    }
    if (missing.length > 0) missingByRef.set(image.ref, missing);
  }
  const { records, damaged: damagedRecords } = await store.records.list();
  const { snapshots, damaged: damagedSnapshots } = await store.snapshots.list();
  return { images, blobs, imageBlobs, imageChains, missingByRef, blobsByRef, records, damagedRecords, snapshots, damagedSnapshots };
}

async function folderUsage(dir: string): Promise<UsageBucket> {
  let count = 0;
  let size = 0;
  try {
    for (const name of await readdir(dir)) {
      const s = await stat(join(dir, name)).catch(() => undefined);
      if (s === undefined) continue;
      count += 1;
      size += s.size;
    }
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw error;
  }
  return { count, size };
}

/** Disk usage of the store by kind. */
export async function diskUsage(store: Store): Promise<DiskUsage> {
  const i = await inventory(store);
  let imageSize = 0;
  for (const digest of i.imageBlobs) imageSize += i.blobs.get(digest)?.size ?? 0;
  const cacheBlobs = new Set<Digest>();
  let cacheSize = 0;
  for (const { record, size } of i.records) {
    cacheSize += size;
    const digest = record.layer?.digest;
    if (digest !== undefined && !i.imageBlobs.has(digest) && !cacheBlobs.has(digest)) {
      cacheBlobs.add(digest);
      cacheSize += i.blobs.get(digest)?.size ?? 0;
    }
  }
  let unreferencedCount = 0;
  let unreferencedSize = 0;
  let allSize = 0;
  for (const [digest, { size }] of i.blobs) {
    allSize += size;
    if (!i.imageBlobs.has(digest) && !cacheBlobs.has(digest)) {
      unreferencedCount += 1;
      unreferencedSize += size;
    }
  }
  const snapshots = { count: i.snapshots.length, size: i.snapshots.reduce((n, s) => n + s.size, 0) };
  const quarantine = await folderUsage(store.paths.quarantine);
  return {
    images: { count: i.images.length, size: imageSize },
    cache: { count: i.records.length, size: cacheSize },
    snapshots,
    unreferenced: { count: unreferencedCount, size: unreferencedSize },
    quarantine,
    blobs: { count: i.blobs.size, size: allSize },
    total: allSize + i.records.reduce((n, r) => n + r.size, 0) + snapshots.size + quarantine.size,
  };
}
