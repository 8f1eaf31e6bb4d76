import { PassThrough } from 'node:stream';
import type { Digest, Store } from '@strata/cache';
import { writeLayer } from '../layer/write-layer.js';
import type { LayerInfo } from './state.js';

/** A committed layer, and what its snapshot holds. */
export interface CommittedLayer {
  readonly layer: LayerInfo;
  readonly entries: number;
  /** Bytes of regular files. */
  readonly contentBytes: number;
}

export interface CommitOptions {
  readonly sourceDateEpoch?: number;
  readonly signal?: AbortSignal;
}

/**
 * Turns a step's upper directory into a layer blob in the store, in one
 * pass: the tar is written straight into the store's temp file while its
 * diffID is taken. Layers are stored uncompressed
 * (`application/vnd.oci.image.layer.v1.tar`, digest = diffID): a build never
 * compresses; push, save, --output and --cache-to compress when they need to
 * (`@strata/cache`'s compressed views, remembered per blob). Returns
 * undefined when the directory holds no change (the step adds no layer).
 */
export async function commitLayer(store: Store, upperDir: string, options: CommitOptions = {}): Promise<CommittedLayer | undefined> {
  const pipe = new PassThrough({ highWaterMark: 4 << 20 });
  const written = writeLayer(upperDir, {
    output: pipe,
    compression: 'none',
    ...(options.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: options.sourceDateEpoch }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  const stored = store.putBlob(pipe);
  // both settle before either outcome is used: a failed tar destroys the pipe, which fails the put
  const [layer, put] = await Promise.allSettled([written, stored]);
  if (layer.status === 'rejected') throw layer.reason;
  if (put.status === 'rejected') throw put.reason;
  if (layer.value.empty) return undefined;
  if (put.value.digest !== layer.value.digest) throw new Error(`internal: layer ${layer.value.digest} was stored as ${put.value.digest}`);
  const { mediaType, diffId, entries, contentBytes } = layer.value;
  return { layer: { descriptor: { mediaType, digest: put.value.digest as Digest, size: put.value.size }, diffId }, entries, contentBytes };
}
