// Images out of the store as one tar: a docker-archive (manifest.json,
// repositories, <config>.json, gzip <digest>.tar.gz layers: what `docker
// load` reads) or an OCI archive (an OCI image layout in a tar). Both hold
// the images' export forms (../compression/export-form.ts): the store keeps
// built layers uncompressed, an archive gets them compressed, and the
// compressed copies are remembered for the next save or push.
import { open, rename, unlink } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pack } from 'tar-stream';
import { layerCompressionOf } from '../compression/compress.js';
import { exportForm, type ExportCompression } from '../compression/export-form.js';
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
  /**
   * OCI archive: the compression uncompressed layers get (default gzip).
   * A docker-archive's layers are always gzip (what `docker load` reads).
   */
  readonly compression?: ExportCompression;
  /** OCI archive: convert every layer not in `compression` too (zstd → gzip, gzip → zstd), as `--output ...,compression=` asks. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
}

/** What an archive holds of one image given: its export form. */
export interface SavedImage {
  readonly name?: string;
  /** The manifest or index as written (the export form: compressed layers, the same config). */
  readonly descriptor: Descriptor;
}

/** containerd's (and docker's) annotation with the full image name in an OCI archive. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** A verified stream of a stored blob, as chunks. */
function blobChunks(store: Store, digest: Digest, size: number): () => Promise<AsyncIterable<Uint8Array>> {
  return async () => (await store.getBlob(digest, { size })) as AsyncIterable<Uint8Array>;
}

/**
 * The images as the archive holds them: export forms, each stored image
 * converted once. A docker-archive holds one platform of an index (chosen
 * here, before anything is compressed) and only gzip or uncompressed layers.
 */
async function exportForms(store: Store, images: readonly ExportImage[], options: ExportOptions): Promise<SavedImage[]> {
  const done = new Map<string, Promise<Descriptor>>();
  const docker = options.format === 'docker';
  const form = (descriptor: Descriptor): Promise<Descriptor> => {
    let pending = done.get(descriptor.digest);
    if (pending === undefined) {
      pending = exportForm(store, descriptor, {
        compression: docker ? 'gzip' : (options.compression ?? 'gzip'),
        force: docker || options.force === true,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      }).then((f) => f.descriptor);
      done.set(descriptor.digest, pending);
    }
    return pending;
  };
  const out: SavedImage[] = [];
  for (const item of images) {
    let descriptor = item.descriptor;
    if (docker && isIndexMediaType(descriptor.mediaType)) {
      descriptor = (await readImage(store, descriptor, {
        ...(options.choose === undefined ? {} : { choose: options.choose }),
        ...(options.wanted === undefined ? {} : { wanted: options.wanted }),
        ...(item.name === undefined ? {} : { name: item.name }),
      })).descriptor;
    }
    const exported = await form(descriptor);
    out.push({ ...(item.name === undefined ? {} : { name: item.name }), descriptor: exported });
  }
  return out;
}

/** The name of a layer file in a docker-archive: gzip as `<digest>.tar.gz`, uncompressed as `<diff ID>.tar`. */
function dockerLayerName(layer: Descriptor, diffId: string): string {
  return layerCompressionOf(layer.mediaType) === 'none' ? `${digestHex(parseDigest(diffId))}.tar` : `${digestHex(layer.digest)}.tar.gz`;
}

async function writeDockerArchive(store: Store, images: readonly SavedImage[], options: ExportOptions, pack: Pack): Promise<void> {
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
        const compression = layerCompressionOf(layer.mediaType);
        // the export form has gzip layers, and uncompressed ones only where it keeps them as stored (non-distributable)
        if (compression !== 'gzip' && compression !== 'none') {
          throw cacheError(ArchiveErrors.unsupported, [`layer ${layer.digest} has media type ${layer.mediaType}; a docker-archive needs uncompressed or gzip layers (try --format oci)`]);
        }
        if (compression === 'none' && layer.digest !== diffId) throw cacheError(CacheErrors.integrity, [diffId, layer.digest], { expected: diffId, found: layer.digest });
        const layerName = dockerLayerName(layer, diffId);
        layers.push(layerName);
        if (written.has(layerName)) continue;
        await addEntry(pack, layerName, { size: layer.size, chunks: blobChunks(store, parseDigest(layer.digest), layer.size) });
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
      if (tag !== undefined && top !== undefined) (repositories[repository] ??= {})[tag] = top.replace(/\.tar(\.gz)?$/, '');
    }
  }
  await addEntry(pack, 'manifest.json', Buffer.from(JSON.stringify(entries)));
  await addEntry(pack, 'repositories', Buffer.from(JSON.stringify(repositories)));
}

async function writeOciArchive(store: Store, images: readonly SavedImage[], pack: Pack): Promise<void> {
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
 * Streams images from the store as a tar archive: their export forms, whose
 * layers are compressed first (once: the conversion is remembered). Every
 * blob is verified as it is read; a failure fails the stream. An image named
 * twice is written once (docker format: one manifest.json entry with both
 * RepoTags). `onSaved` is told what the archive holds before its first byte.
 */
export function exportImages(store: Store, images: readonly ExportImage[], options: ExportOptions, onSaved?: (saved: SavedImage[]) => void): Readable {
  return Readable.from(archiveChunks(store, images, options, onSaved), { objectMode: false });
}

/** The archive's bytes; tar-stream is loaded here, when an archive is written, not when the CLI starts. */
async function* archiveChunks(store: Store, images: readonly ExportImage[], options: ExportOptions, onSaved?: (saved: SavedImage[]) => void): AsyncGenerator<Uint8Array> {
  const saved = await exportForms(store, images, options);
  onSaved?.(saved);
  const { pack: tarPack } = await import('tar-stream');
  const pack = tarPack();
  const write = options.format === 'docker' ? writeDockerArchive(store, saved, options, pack) : writeOciArchive(store, saved, pack);
  write.then(
    () => pack.finalize(),
    (error: unknown) => pack.destroy(error as Error),
  );
  yield* pack as AsyncIterable<Uint8Array>;
}

/**
 * Writes `exportImages` to a file atomically: a temp file beside it, renamed
 * over `file` only when the whole archive is written and synced. Returns what
 * the archive holds (the export forms' descriptors, in the order given).
 */
export async function saveImages(store: Store, images: readonly ExportImage[], file: string, options: ExportOptions): Promise<SavedImage[]> {
  const tmp = join(dirname(file), `.${basename(file)}.${tempName('save')}`);
  let saved: SavedImage[] = [];
  try {
    const out = createWriteStream(tmp, { flags: 'wx' });
    await pipeline(exportImages(store, images, options, (s) => (saved = s)), out);
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
  return saved;
}
