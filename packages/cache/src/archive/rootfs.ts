// `docker import`: a root filesystem tar becomes a one-layer image.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import type { DiffId, Digest } from '../digest.js';
import { cacheError, CacheErrors, isCacheError } from '../errors.js';
import { MediaType, type ContainerConfig, type Descriptor, type ImageConfig, type Manifest, type Platform } from '../oci.js';
import type { Store } from '../store.js';
import { ArchiveErrors } from './errors.js';
import { isGzip, isTarHeader } from './tar-io.js';

export interface ImportRootfsOptions {
  readonly platform: Platform;
  /** The runtime config (what `--change` lines set); default empty. */
  readonly config?: ContainerConfig;
  /** Tag the image under this name. */
  readonly name?: string;
  /** The image's creation time (default now). */
  readonly created?: Date;
  /** The history comment; docker writes `Imported from -` (or the URL it read). */
  readonly comment?: string;
  readonly author?: string;
}

export interface ImportRootfsResult {
  readonly descriptor: Descriptor;
  readonly configDigest: Digest;
  readonly diffId: DiffId;
  /** The full normalized name, when `name` was given. */
  readonly name?: string;
}

/** The first bytes of a file (fewer if it is shorter). */
async function readHead(file: string, length: number): Promise<Buffer> {
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw cacheError(ArchiveErrors.invalid, [file, (error as Error).message], { cause: error, path: file });
  });
  try {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Stores a root filesystem tar (uncompressed, or gzip: its uncompressed bytes
 * are the layer) as one gzip layer whose diff ID is the sha256 of the
 * uncompressed tar, with a config for `platform`, and tags it if named.
 * Throws CACHE_ARCHIVE_INVALID when the file is not a tar.
 */
export async function importRootfs(store: Store, file: string, options: ImportRootfsOptions): Promise<ImportRootfsResult> {
  const head = await readHead(file, 512);
  const gzip = isGzip(head);
  if (!gzip && !isTarHeader(head)) throw cacheError(ArchiveErrors.invalid, [file, 'it is not a tar file (nor a gzip-compressed one)']);
  const hash = createHash('sha256');
  let tarHead = Buffer.alloc(0);
  let total = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      total += chunk.length;
      if (total > store.maxLayerSize) {
        callback(cacheError(CacheErrors.layerTooLarge, [store.maxLayerSize]));
        return;
      }
      if (tarHead.length < 512) tarHead = Buffer.concat([tarHead, chunk]).subarray(0, 512);
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const source = createReadStream(file);
  const stages: Readable[] = [source];
  if (gzip) stages.push(createGunzip());
  stages.push(hasher, createGzip());
  let last: Readable = source;
  for (const stage of stages.slice(1)) {
    const from = last;
    from.on('error', (error) => stage.destroy(error));
    last = from.pipe(stage as unknown as NodeJS.WritableStream) as unknown as Readable;
  }
  let layer;
  try {
    layer = await store.putBlob(last);
  } catch (error) {
    source.destroy();
    if (isCacheError(error)) throw error;
    throw cacheError(ArchiveErrors.invalid, [file, (error as Error).message], { cause: error, path: file });
  }
  if (gzip && !isTarHeader(tarHead)) throw cacheError(ArchiveErrors.invalid, [file, 'its uncompressed content is not a tar file']);
  const diffId = `sha256:${hash.digest('hex')}` as DiffId;
  const created = (options.created ?? new Date()).toISOString();
  const p = options.platform;
  const config: ImageConfig = {
    architecture: p.architecture,
    ...(options.author === undefined ? {} : { author: options.author }),
    config: options.config ?? {},
    created,
    history: [{ created, comment: options.comment ?? 'Imported from -' }],
    os: p.os,
    ...(p.variant === undefined ? {} : { variant: p.variant }),
    rootfs: { type: 'layers', diff_ids: [diffId] },
  };
  const configDescriptor = await store.putJson(config, MediaType.ociConfig);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: layer.digest, size: layer.size }],
  };
  const stored = await store.putJson(manifest, MediaType.ociManifest);
  const descriptor: Descriptor = { ...stored, platform: { architecture: p.architecture, os: p.os, ...(p.variant === undefined ? {} : { variant: p.variant }) } };
  const name = options.name === undefined ? undefined : await store.tag(options.name, descriptor);
  return { descriptor, configDigest: configDescriptor.digest, diffId, ...(name === undefined ? {} : { name }) };
}
