/**
 * Gives every layer of an image one compression (BuildKit's
 * `compression=zstd,force-compression=true`): layers taken from the cache or
 * from the base image keep whatever compression they were stored with, so an
 * image asked for with zstd layers has its other layers converted here. The
 * diffIDs (hence the config and image ID) do not change; only the blobs and
 * the manifest do.
 *
 * A conversion is remembered as a cache record (`strata.recompress.v1`,
 * source blob digest, compression), so the next build reuses the blob.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { cacheError, CacheErrors, makeCacheKey, type DiffId, type Digest, type Store } from '@strata/cache';
import { createCompressor, LAYER_MEDIA_TYPES, type LayerCompression } from '../layer/compress.js';
import type { ImageState, LayerInfo } from './state.js';

export const RECOMPRESS_KEY_TAG = 'strata.recompress.v1';

/** The compression a layer media type says (`+gzip`, docker's `.tar.gzip`, `+zstd`, or none). */
export function layerCompressionOf(mediaType: string): LayerCompression | undefined {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('layer.v1.tar')) return 'none';
  return undefined;
}

function decompressor(compression: LayerCompression): { stream: Duplex; done: Promise<void> } {
  if (compression === 'gzip') return { stream: createGunzip(), done: Promise.resolve() };
  if (compression === 'none') return { stream: new PassThrough(), done: Promise.resolve() };
  const child = spawn('zstd', ['-q', '-d', '-c'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    if (stderr.length < 4096) stderr += c;
  });
  const stream = Duplex.from({ writable: child.stdin, readable: child.stdout });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`zstd -d: ${stderr.trim() || `exit code ${code}`}`))));
  });
  done.catch(() => undefined);
  return { stream, done };
}

/** Counts and hashes what passes through. */
class Tap extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

async function convertLayer(store: Store, layer: LayerInfo, from: LayerCompression, to: LayerCompression, file: string): Promise<LayerInfo> {
  const unpack = decompressor(from);
  const pack = createCompressor(to, undefined);
  const tar = new Tap();
  const blob = new Tap();
  try {
    await Promise.all([
      pipeline(await store.getBlob(layer.descriptor.digest as Digest, { size: layer.descriptor.size }), unpack.stream, tar, pack.stream, blob, createWriteStream(file, { flags: 'wx' })),
      unpack.done,
      pack.done,
    ]);
    const diffId = tar.digest();
    if (diffId !== layer.diffId) {
      throw cacheError(CacheErrors.integrity, [layer.diffId, diffId], { expected: layer.diffId, found: diffId });
    }
    const digest = blob.digest() as Digest;
    const put = await store.putBlob(createReadStream(file), { expected: { digest, size: blob.size } });
    return { descriptor: { mediaType: LAYER_MEDIA_TYPES[to], digest: put.digest, size: put.size }, diffId: layer.diffId as DiffId };
  } finally {
    await rm(file, { force: true });
  }
}

export interface RecompressOptions {
  /** A scratch folder on the store's filesystem. */
  readonly workDir: string;
  /** Convert only layers in this compression (default: every layer not in `to`). */
  readonly only?: LayerCompression;
}

/** The image with its layers in `to` compression; layers already in it are kept as they are. */
export async function recompressImage(store: Store, image: ImageState, to: 'gzip' | 'zstd', options: RecompressOptions): Promise<ImageState> {
  const { workDir } = options;
  const layers: LayerInfo[] = [];
  let changed = false;
  for (const [i, layer] of image.layers.entries()) {
    const from = layerCompressionOf(layer.descriptor.mediaType);
    if (from === to || from === undefined || (options.only !== undefined && from !== options.only)) {
      layers.push(layer);
      continue;
    }
    const key = makeCacheKey(JSON.stringify([RECOMPRESS_KEY_TAG, layer.descriptor.digest, to]));
    const record = await store.getCacheRecord(key);
    if (record?.layer !== undefined && record.layer.diffId === layer.diffId && (await store.hasBlob(record.layer.digest))) {
      layers.push({ descriptor: { mediaType: record.layer.mediaType, digest: record.layer.digest, size: record.layer.size }, diffId: layer.diffId });
    } else {
      const converted = await convertLayer(store, layer, from, to, join(workDir, `recompress-${i}-${process.pid}-${Date.now()}`));
      await store.putCacheRecord(key, {
        layer: { mediaType: converted.descriptor.mediaType, digest: converted.descriptor.digest as Digest, size: converted.descriptor.size, diffId: layer.diffId as DiffId },
      });
      layers.push(converted);
    }
    changed = true;
  }
  return changed ? { ...image, layers } : image;
}
