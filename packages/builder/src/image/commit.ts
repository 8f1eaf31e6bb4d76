import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Store } from '@strata/cache';
import { writeLayer } from '../layer/write-layer.js';
import type { LayerInfo } from './state.js';

export interface CommitOptions {
  readonly compression?: 'gzip' | 'zstd';
  readonly sourceDateEpoch?: number;
  /** A scratch folder on the store's filesystem for the compressed tar. */
  readonly workDir: string;
}

/**
 * Turns a step's upper directory into a layer blob in the store. Returns
 * undefined when the directory holds no change (the step adds no layer).
 */
export async function commitLayer(store: Store, upperDir: string, id: string, options: CommitOptions): Promise<LayerInfo | undefined> {
  const file = join(options.workDir, `${id}.layer`);
  try {
    const layer = await writeLayer(upperDir, {
      output: file,
      compression: options.compression ?? 'gzip',
      ...(options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }),
    });
    if (layer.empty) return undefined;
    const put = await store.putBlob(createReadStream(file), { expected: { digest: layer.digest, size: layer.size } });
    return { descriptor: { mediaType: layer.mediaType, digest: put.digest, size: put.size }, diffId: layer.diffId };
  } finally {
    await rm(file, { force: true });
  }
}
