import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempName, type Store } from '@strata/cache';
import type { LayerIndex } from '../layer/layer-index.js';
import type { KnownFile } from '../layer/scan.js';
import { writeLayer, type PreviousLayer } from '../layer/write-layer.js';
import type { LayerInfo } from './state.js';

/** A committed layer, and what its snapshot holds. */
export interface CommittedLayer {
  readonly layer: LayerInfo;
  readonly entries: number;
  /** Bytes of regular files. */
  readonly contentBytes: number;
  /** Where each entry lies in the blob (kept beside the snapshot for the step's next incremental run). */
  readonly index?: LayerIndex;
}

export interface CommitOptions {
  readonly sourceDateEpoch?: number;
  readonly signal?: AbortSignal;
  /** The last version of this layer (an incremental COPY): its unchanged runs are copied out of its blob. */
  readonly previous?: PreviousLayer;
  /** Files the step wrote and knows the facts (and bytes) of (see WriteLayerOptions.known). */
  readonly known?: (path: string) => KnownFile | undefined;
}

/**
 * Turns a step's upper directory into a layer blob in the store, in one
 * pass: the tar is written into the store's tmp folder while its diffID is
 * taken, and the store takes the file by rename. Layers are stored uncompressed
 * (`application/vnd.oci.image.layer.v1.tar`, digest = diffID): a build never
 * compresses; push, save, --output and --cache-to compress when they need to
 * (`@strata/cache`'s compressed views, remembered per blob). Returns
 * undefined when the directory holds no change (the step adds no layer).
 */
export async function commitLayer(store: Store, upperDir: string, options: CommitOptions = {}): Promise<CommittedLayer | undefined> {
  // the store's tmp folder: the store takes the file by rename, and a sweep removes it after a crash
  const file = join(store.paths.tmp, tempName('layer'));
  const written = await writeLayer(upperDir, {
    output: file,
    compression: 'none',
    ...(options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.previous === undefined ? {} : { previous: options.previous }),
    ...(options.known === undefined ? {} : { known: options.known }),
  });
  if (written.empty) {
    await rm(file, { force: true });
    return undefined;
  }
  const put = await store.putBlobFile(file, { digest: written.digest, size: written.size });
  const { mediaType, diffId, entries, contentBytes, index } = written;
  return { layer: { descriptor: { mediaType, digest: put.digest, size: put.size }, diffId }, entries, contentBytes, ...(index === undefined ? {} : { index }) };
}
