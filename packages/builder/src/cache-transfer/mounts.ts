import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { exportLayers, extractLayer, rememberedLayer, type Store } from '@strata/cache';
import { commitLayer } from '../image/commit.js';
import { writeLayer } from '../layer/write-layer.js';
import type { MountEntry } from './artifact.js';
import type { CacheEndpoint } from './endpoint.js';

async function isEmptyOrAbsent(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
}

/** A sink that keeps nothing: the tar is only hashed. */
function discard(): Writable {
  return new Writable({ write: (_chunk, _encoding, callback) => callback() });
}

/**
 * Packs a RUN --mount=type=cache folder into a gzip tar blob in the store
 * (the layer writer's deterministic tar: an unchanged folder gives the same
 * digest, so exporting it again uploads nothing). The tar is hashed first
 * without being kept: an unchanged folder finds its gzip blob through the
 * store's remembered conversions and writes and compresses nothing. Otherwise
 * the tar goes into the store uncompressed (as a build step's layer does) and is compressed as every export
 * compresses (@strata/cache `exportLayers`, remembered). Undefined for an empty folder.
 */
export async function packMount(store: Store, id: string, dir: string): Promise<MountEntry | undefined> {
  if (await isEmptyOrAbsent(dir)) return undefined;
  const hashed = await writeLayer(dir, { output: discard(), compression: 'none' });
  if (hashed.empty) return undefined;
  const known = await rememberedLayer(store, hashed.diffId, hashed.diffId, 'gzip');
  if (known !== undefined) return { id, digest: known.digest, size: known.size };
  // the folder may have changed since: what is stored is what this second pass writes
  const committed = await commitLayer(store, dir);
  if (committed === undefined) return undefined;
  const [exported] = await exportLayers(store, [committed.layer], { compression: 'gzip' });
  const blob = (exported as NonNullable<typeof exported>).descriptor;
  return { id, digest: blob.digest, size: blob.size };
}

/**
 * Restores an exported cache mount into its folder when the folder is absent
 * or empty (a warm local cache is never overwritten): download into the
 * store, extract beside the folder with the store's safe extractor, rename.
 */
export async function restoreMount(store: Store, endpoint: CacheEndpoint, entry: MountEntry, dir: string): Promise<boolean> {
  if (!(await isEmptyOrAbsent(dir))) return false;
  const descriptor = { mediaType: 'application/vnd.strata.cache.mount.v1.tar+gzip', digest: entry.digest, size: entry.size };
  if (!(await store.hasBlob(entry.digest))) await endpoint.fetchInto(store, descriptor);
  const staging = `${dir}.import-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await extractLayer(await store.getBlob(entry.digest), true, staging);
    await rmdir(dir).catch(() => undefined);
    await rename(staging, dir);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return true;
}
