// Images out of the store as one tar: a docker-archive (manifest.json,
// repositories, <config>.json, uncompressed <diffID>.tar layers: what `docker
// load` reads) or an OCI archive (an OCI image layout in a tar).
import { createHash } from 'node:crypto';
import { open, rename, unlink } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Pack } from 'tar-stream';
import { digestHex, digestOf, parseDigest, type Digest } from '../digest.js';
import { cacheError, CacheErrors } from '../errors.js';
import { tempName } from '../fs-util.js';
import { isIndexMediaType, MediaType, REF_NAME_ANNOTATION, type Descriptor, type Index } from '../oci.js';
import { parseReference } from '../reference.js';
import type { Store } from '../store.js';
import { familiarName, readImage, splitName, type PlatformChooser } from './describe.js';
import { ArchiveErrors } from './errors.js';
import { addEntry } from './tar-io.js';

export type ArchiveFormat = 'docker' | 'oci';

/** One image to export: the descriptor a tag points at and the name to record (none for an untagged one). */
export interface ExportImage {
  readonly name?: string;
  readonly descriptor: Descriptor;
}

export interface ExportOptions {
  readonly format: ArchiveFormat;
  /** docker-archive holds one platform per image: which one an index gives (default: the first stored). */
  readonly choose?: PlatformChooser;
  readonly wanted?: string;
}

/** containerd's (and docker's) annotation with the full image name in an OCI archive. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

const UNCOMPRESSED = new Set<string>([MediaType.ociLayer, 'application/vnd.docker.image.rootfs.diff.tar']);
const GZIP = new Set<string>([MediaType.ociLayerGzip, MediaType.dockerLayerGzip, MediaType.dockerForeignLayerGzip]);

/** A verified stream of a stored blob, as chunks. */
function blobChunks(store: Store, digest: Digest, size: number): () => Promise<AsyncIterable<Uint8Array>> {
  return async () => (await store.getBlob(digest, { size })) as AsyncIterable<Uint8Array>;
}

/**
 * Decompresses a gzip layer once into a temp file of the store (the tar entry
 * needs its size before its bytes), hashing the tar on the way for its diff ID.
 */
async function spoolUncompressed(store: Store, layer: Descriptor, path: string): Promise<{ size: number; diffId: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  await pipeline(await store.getBlob(parseDigest(layer.digest), { size: layer.size }), createGunzip(), hasher, createWriteStream(path, { flags: 'wx' }));
  return { size, diffId: `sha256:${hash.digest('hex')}` };
}

async function writeDockerArchive(store: Store, images: readonly ExportImage[], options: ExportOptions, pack: Pack): Promise<void> {
  const entries: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  const byConfig = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const item of images) {
    const image = await readImage(store, item.descriptor, {
      ...(options.choose === undefined ? {} : { choose: options.choose }),
      ...(options.wanted === undefined ? {} : { wanted: options.wanted }),
      ...(item.name === undefined ? {} : { name: item.name }),
    });
    const configName = `${digestHex(image.configDigest)}.json`;
    let entry = byConfig.get(configName);
    if (entry === undefined) {
      if (!written.has(configName)) {
        await addEntry(pack, configName, await store.readBlob(image.configDigest, { size: image.manifest.config.size }));
        written.add(configName);
      }
      const diffIds = image.config.rootfs.diff_ids;
      if (diffIds.length !== image.manifest.layers.length) {
        throw cacheError(ArchiveErrors.unsupported, [`${item.name ?? image.descriptor.digest}: the config lists ${diffIds.length} diff IDs for ${image.manifest.layers.length} layers`]);
      }
      const layers: string[] = [];
      for (const [i, layer] of image.manifest.layers.entries()) {
        const diffId = diffIds[i] as string;
        const layerName = `${digestHex(parseDigest(diffId))}.tar`;
        layers.push(layerName);
        if (written.has(layerName)) continue;
        if (UNCOMPRESSED.has(layer.mediaType)) {
          if (layer.digest !== diffId) throw cacheError(CacheErrors.integrity, [diffId, layer.digest], { expected: diffId, found: layer.digest });
          await addEntry(pack, layerName, { size: layer.size, chunks: blobChunks(store, parseDigest(layer.digest), layer.size) });
        } else if (GZIP.has(layer.mediaType)) {
          const spool = join(store.paths.tmp, tempName('export'));
          try {
            const facts = await spoolUncompressed(store, layer, spool);
            if (facts.diffId !== diffId) throw cacheError(CacheErrors.integrity, [diffId, facts.diffId], { expected: diffId, found: facts.diffId });
            await addEntry(pack, layerName, { size: facts.size, chunks: async () => createReadStream(spool) as AsyncIterable<Uint8Array> });
          } finally {
            await unlink(spool).catch(() => undefined);
          }
        } else {
          throw cacheError(ArchiveErrors.unsupported, [`layer ${layer.digest} has media type ${layer.mediaType}; a docker-archive needs uncompressed or gzip layers (try --format oci)`]);
        }
        written.add(layerName);
      }
      entry = { Config: configName, RepoTags: [], Layers: layers };
      byConfig.set(configName, entry);
      entries.push(entry);
    }
    if (item.name !== undefined && parseReference(item.name).digest === undefined) {
      entry.RepoTags.push(familiarName(item.name));
      const { repository, tag } = splitName(item.name);
      const top = entry.Layers[entry.Layers.length - 1];
      if (tag !== undefined && top !== undefined) (repositories[repository] ??= {})[tag] = top.replace(/\.tar$/, '');
    }
  }
  await addEntry(pack, 'manifest.json', Buffer.from(JSON.stringify(entries)));
  await addEntry(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
}

async function writeOciArchive(store: Store, images: readonly ExportImage[], pack: Pack): Promise<void> {
  const manifests: Descriptor[] = [];
  const written = new Set<string>();
  const blobs: { digest: Digest; size: number; bytes?: Buffer }[] = [];
  for (const item of images) {
    let top: Descriptor = item.descriptor;
    const graph = await store.imageBlobs(top);
    if (graph.missing.length > 0) throw cacheError(CacheErrors.blobNotFound, [graph.missing[0] as string]);
    let replaced: Buffer | undefined;
    if (isIndexMediaType(top.mediaType) && graph.absent.length > 0) {
      // An index with only some platforms stored: the archive gets an index of those.
      const index = await store.readImageIndex(top.digest);
      const kept: Index = { ...index, manifests: index.manifests.filter((d) => !graph.absent.includes(parseDigest(d.digest))) };
      replaced = Buffer.from(JSON.stringify(kept));
      const digest = digestOf(replaced);
      top = { mediaType: top.mediaType, digest, size: replaced.length };
    }
    for (const d of graph.blobs.values()) {
      if (replaced !== undefined && d.digest === item.descriptor.digest) continue;
      if (!written.has(d.digest)) blobs.push({ digest: parseDigest(d.digest), size: d.size });
      written.add(d.digest);
    }
    if (replaced !== undefined && !written.has(top.digest)) {
      blobs.push({ digest: top.digest, size: top.size, bytes: replaced });
      written.add(top.digest);
    }
    const annotations: Record<string, string> = {};
    if (item.name !== undefined) {
      annotations[CONTAINERD_NAME_ANNOTATION] = item.name;
      const tag = parseReference(item.name).tag;
      if (tag !== undefined) annotations[REF_NAME_ANNOTATION] = tag;
    }
    manifests.push({
      mediaType: top.mediaType,
      digest: top.digest,
      size: top.size,
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ...(item.descriptor.platform === undefined ? {} : { platform: item.descriptor.platform }),
    });
  }
  await addEntry(pack, 'oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  for (const blob of blobs) {
    const name = `blobs/sha256/${digestHex(blob.digest)}`;
    await addEntry(pack, name, blob.bytes ?? { size: blob.size, chunks: blobChunks(store, blob.digest, blob.size) });
  }
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  await addEntry(pack, 'index.json', Buffer.from(JSON.stringify(index)));
}

/**
 * Streams images from the store as a tar archive. Every blob is verified as it
 * is read; a failure fails the stream. An image named twice is written once
 * (docker format: one manifest.json entry with both RepoTags).
 */
export function exportImages(store: Store, images: readonly ExportImage[], options: ExportOptions): Readable {
  return Readable.from(archiveChunks(store, images, options), { objectMode: false });
}

/** The archive's bytes; tar-stream is loaded here, when an archive is written, not when the CLI starts. */
async function* archiveChunks(store: Store, images: readonly ExportImage[], options: ExportOptions): AsyncGenerator<Uint8Array> {
  const { pack: tarPack } = await import('tar-stream');
  const pack = tarPack();
  const write = options.format === 'docker' ? writeDockerArchive(store, images, options, pack) : writeOciArchive(store, images, pack);
  write.then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error as Error),
  );
  yield* pack as AsyncIterable<Uint8Array>;
}

/**
 * Writes `exportImages` to a file atomically: a temp file beside it, renamed
 * over `file` only when the whole archive is written and synced.
 */
export async function saveImages(store: Store, images: readonly ExportImage[], file: string, options: ExportOptions): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${tempName('save')}`);
  try {
    const out = createWriteStream(tmp, { flags: 'wx' });
    await pipeline(exportImages(store, images, options), out);
    const handle = await open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}
