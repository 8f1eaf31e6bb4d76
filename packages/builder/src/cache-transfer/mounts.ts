import { createReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { extractLayer, type Store } from '@strata/cache';
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

/**
 * Packs a RUN --mount=type=cache folder into a gzip tar blob in the store
 * (the layer writer's deterministic tar: an unchanged folder gives the same
 * digest, so exporting it again uploads nothing). Undefined for an empty folder.
 */
export async function packMount(store: Store, id: string, dir: string, workDir: string): Promise<MountEntry | undefined> {
  if (await isEmptyOrAbsent(dir)) return undefined;
  const file = join(workDir, `mount-${process.pid}-${Buffer.from(id).toString('hex').slice(0, 32)}.tar.gz`);
  await mkdir(workDir, { recursive: true });
  try {
    const layer = await writeLayer(dir, { output: file, compression: 'gzip' });
    if (layer.empty) return undefined;
    const put = await store.putBlob(createReadStream(file), { expected: { digest: layer.digest, size: layer.size } });
    return { id, digest: put.digest, size: put.size };
  } finally {
    await rm(file, { force: true });
  }
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
