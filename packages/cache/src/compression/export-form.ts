/**
 * Export forms: an image as it leaves the store. A build stores its layers
 * uncompressed (digest = diff ID) and never compresses; push, save and cache
 * export need compressed layers, so they ask for the image's export form: the
 * same config (the same image ID) with every uncompressed layer compressed
 * (gzip by default; with `force`, every layer not already in the asked-for
 * compression converted, BuildKit's `force-compression=true`), in a new
 * manifest (and for an index, new child manifests and a new index) written to
 * the store's blobs, untagged.
 *
 * A conversion happens once: it is remembered as a cache record keyed
 * `strata.recompress.v1` + source blob digest + compression, whose layer is
 * the compressed blob (the format the builder's recompress step wrote, so its
 * records still hit). A second push or save finds the record and the blob and
 * compresses nothing; the compressed bytes, hence the manifest digest, are the
 * same every time (cross-repository mounts and RepoDigests stay true). Prune
 * drops these records least-recently-used first, like build records; a
 * conversion made again gives the same bytes (the compressors are
 * deterministic for a given zlib / zstd version).
 *
 * Writes go through the store's atomic putBlob and the record is written only
 * after its blob: a process killed mid-compression leaves a temp file the
 * next open sweeps, nothing else.
 */
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { limiter } from '../concurrency.js';
import { DigestTap, type DiffId, type Digest } from '../digest.js';
import { cacheError, CacheErrors } from '../errors.js';
import { isIndexMediaType, MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { makeCacheKey, type CacheKey } from '../records.js';
import type { Store } from '../store.js';
import { createCompressor, createDecompressor, LAYER_MEDIA_TYPES, layerCompressionOf, type LayerCompression } from './compress.js';

/** The key tag of remembered conversions (unchanged from the builder's recompress records). */
export const RECOMPRESS_KEY_TAG = 'strata.recompress.v1';

/** A compression an export can ask for. */
export type ExportCompression = 'gzip' | 'zstd';

/**
 * Layers converted at once. Each gzip already deflates 1 MiB blocks on
 * libuv's pool (parallel-gzip.ts) and zstd runs -T0, so two layers keep two
 * cores busy while one of them is reading or writing (bench/README.md,
 * "Export compression").
 */
export const EXPORT_CONCURRENCY = 2;

export interface ExportFormOptions {
  /** The compression of converted layers (default gzip). */
  readonly compression?: ExportCompression;
  /** Convert every layer not in `compression` (zstd → gzip, gzip → zstd), not only uncompressed ones. */
  readonly force?: boolean;
  /** Layers converted at once (default EXPORT_CONCURRENCY). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  /** The zstd command (default `zstd` on PATH). */
  readonly zstdCommand?: string;
}

/** A layer as an image has it: its blob, and the diff ID its config gives. */
export interface StoredLayer {
  readonly descriptor: Descriptor;
  readonly diffId: DiffId;
}

/** What an export did with one layer blob. */
export interface LayerExport {
  /** The layer as stored. */
  readonly source: Descriptor;
  /** The layer as exported: the source itself when kept. */
  readonly descriptor: Descriptor;
  /** `kept`: exported as stored; `reused`: a remembered conversion; `converted`: compressed now. */
  readonly outcome: 'kept' | 'reused' | 'converted';
}

export interface ExportForm {
  /** The export form's manifest or index; the descriptor given when no layer needed converting. */
  readonly descriptor: Descriptor;
  /** Every layer of the image (of every platform stored, for an index), each source blob once; a manifest's in its order. */
  readonly layers: readonly LayerExport[];
  /** Exported layer digest → the stored blob it was made from, for the layers that changed. */
  readonly sources: ReadonlyMap<Digest, Digest>;
}

/** The cache key that remembers the conversion of blob `source` to `compression`. */
export function conversionKey(source: Digest, compression: ExportCompression): CacheKey {
  return makeCacheKey(JSON.stringify([RECOMPRESS_KEY_TAG, source, compression]));
}

/**
 * The remembered conversion of blob `source` (whose tar has `diffId`) to
 * `compression`, when its record and compressed blob are both in the store;
 * the source blob itself need not be (a caller that can hash a tar without
 * storing it asks first).
 */
export async function rememberedLayer(store: Store, source: Digest, diffId: DiffId, compression: ExportCompression): Promise<Descriptor | undefined> {
  const known = (await store.getCacheRecord(conversionKey(source, compression)))?.layer;
  if (known === undefined || known.diffId !== diffId || layerCompressionOf(known.mediaType) !== compression) return undefined;
  if (!(await store.hasBlob(known.digest))) return undefined;
  return { mediaType: LAYER_MEDIA_TYPES[compression], digest: known.digest, size: known.size };
}

/** The compression a layer is converted from, or undefined when it is exported as stored. */
function conversionOf(layer: Descriptor, to: ExportCompression, force: boolean): LayerCompression | undefined {
  // foreign and non-distributable layers are not ours to rewrite
  if (layer.urls !== undefined || /foreign|nondistributable/.test(layer.mediaType)) return undefined;
  const from = layerCompressionOf(layer.mediaType);
  if (from === undefined || from === to) return undefined;
  return from === 'none' || force ? from : undefined;
}

/**
 * Decompresses, checks the diff ID and compresses into the store in one
 * pass; the store's putBlob writes a temp file and renames it into place.
 */
async function convertBlob(store: Store, layer: StoredLayer, from: LayerCompression, to: ExportCompression, options: ExportFormOptions): Promise<{ digest: Digest; size: number }> {
  options.signal?.throwIfAborted();
  const tools = options.zstdCommand === undefined ? {} : { zstdCommand: options.zstdCommand };
  const source = await store.getBlob(layer.descriptor.digest, { size: layer.descriptor.size });
  const unpack = createDecompressor(from, tools);
  const pack = createCompressor(to, tools);
  const tar = new DigestTap();
  const out = new PassThrough({ highWaterMark: 4 << 20 });
  const flowing = Promise.all([
    pipeline([source, unpack.stream, tar, pack.stream, out], options.signal === undefined ? {} : { signal: options.signal }),
    unpack.done,
    pack.done,
  ]);
  const stored = store.putBlob(out);
  // a failed write stops the reading side too (and the reverse, through the pipeline)
  stored.catch((error: unknown) => out.destroy(error as Error));
  const [flow, put] = await Promise.allSettled([flowing, stored]);
  if (flow.status === 'rejected') throw flow.reason;
  if (put.status === 'rejected') throw put.reason;
  const diffId = tar.digest();
  if (diffId !== layer.diffId) throw cacheError(CacheErrors.integrity, [layer.diffId, diffId], { expected: layer.diffId, found: diffId });
  return { digest: put.value.digest, size: put.value.size };
}

/** Converts layers with a shared limit, each source blob once. */
class Converter {
  readonly #store: Store;
  readonly #options: ExportFormOptions;
  readonly #to: ExportCompression;
  readonly #limit: <T>(task: () => Promise<T>) => Promise<T>;
  readonly #started = new Map<Digest, Promise<LayerExport>>();
  /** Set when a conversion failed: those still waiting for a slot give up. */
  #failed = false;

  constructor(store: Store, options: ExportFormOptions) {
    this.#store = store;
    this.#options = options;
    this.#to = options.compression ?? 'gzip';
    const concurrency = options.concurrency ?? EXPORT_CONCURRENCY;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw cacheError(CacheErrors.invalidArgument, [`export concurrency must be a whole number >= 1, not ${concurrency}`]);
    this.#limit = limiter(concurrency);
  }

  get to(): ExportCompression {
    return this.#to;
  }

  /** True when `layer` is exported as another blob. */
  converts(layer: Descriptor): boolean {
    return conversionOf(layer, this.#to, this.#options.force === true) !== undefined;
  }

  /** The layer's export (OCI media types for converted layers). */
  layer(layer: StoredLayer): Promise<LayerExport> {
    let pending = this.#started.get(layer.descriptor.digest);
    if (pending === undefined) {
      pending = this.#export(layer);
      pending.catch(() => {
        this.#failed = true;
      });
      this.#started.set(layer.descriptor.digest, pending);
    }
    return pending;
  }

  get exports(): Promise<LayerExport[]> {
    return Promise.all(this.#started.values());
  }

  /** Waits for every conversion started to finish or fail (their temp files closed). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#started.values());
  }

  async #export(layer: StoredLayer): Promise<LayerExport> {
    const source = layer.descriptor;
    const from = conversionOf(source, this.#to, this.#options.force === true);
    if (from === undefined) return { source, descriptor: source, outcome: 'kept' };
    // an uncompressed blob is its own diff ID: a config that says otherwise names another layer
    if (from === 'none' && layer.diffId !== source.digest) {
      throw cacheError(CacheErrors.integrity, [layer.diffId, source.digest], { expected: layer.diffId, found: source.digest });
    }
    const mediaType = LAYER_MEDIA_TYPES[this.#to];
    const store = this.#store;
    return this.#limit(async () => {
      if (this.#failed) throw cacheError(CacheErrors.internal, ['an export was abandoned after another layer failed']);
      const known = await rememberedLayer(store, source.digest, layer.diffId, this.#to);
      if (known !== undefined) return { source, descriptor: known, outcome: 'reused' };
      const blob = await convertBlob(store, layer, from, this.#to, this.#options);
      // only now, with the blob in place: a record never names a blob that is not stored
      await store.putCacheRecord(conversionKey(source.digest, this.#to), { layer: { mediaType, digest: blob.digest, size: blob.size, diffId: layer.diffId } });
      return { source, descriptor: { mediaType, ...blob }, outcome: 'converted' };
    });
  }
}

/** docker's media type of a layer in `compression` (docker schema 2 has no zstd). */
function dockerLayerType(compression: LayerCompression): string {
  return compression === 'gzip' ? MediaType.dockerLayerGzip : 'application/vnd.docker.image.rootfs.diff.tar';
}

/** The export form of one image manifest, or undefined when every layer exports as stored. */
async function exportManifest(store: Store, converter: Converter, descriptor: Descriptor): Promise<Descriptor | undefined> {
  const manifest = await store.readManifest(descriptor.digest);
  const layers = manifest.layers ?? [];
  let config: ImageConfig | undefined;
  const diffIdOf = async (i: number, layer: Descriptor): Promise<DiffId> => {
    if (layerCompressionOf(layer.mediaType) === 'none') return layer.digest as DiffId;
    config ??= await store.readConfig(manifest.config.digest);
    const diffId = config.rootfs?.diff_ids?.[i];
    if (diffId === undefined || config.rootfs.diff_ids.length !== layers.length) {
      throw cacheError(CacheErrors.invalidArgument, [`${descriptor.digest}: its config lists ${config.rootfs?.diff_ids?.length ?? 0} diff IDs for ${layers.length} layers`]);
    }
    return diffId;
  };
  if (!layers.some((l) => converter.converts(l))) return undefined;
  const diffIds: DiffId[] = [];
  for (const [i, layer] of layers.entries()) diffIds.push(await diffIdOf(i, layer));
  const exported = await Promise.all(layers.map((layer, i) => converter.layer({ descriptor: layer, diffId: diffIds[i] as DiffId })));
  // docker schema 2 keeps its own media types; a docker image asked for in zstd becomes an OCI image (config unchanged)
  const docker = (manifest.mediaType ?? descriptor.mediaType) === MediaType.dockerManifest;
  const toOci = docker && converter.to === 'zstd';
  const next: Manifest = {
    ...manifest,
    ...(toOci ? { mediaType: MediaType.ociManifest, config: { ...manifest.config, mediaType: MediaType.ociConfig } } : {}),
    layers: exported.map((e, i) => {
      const original = layers[i] as Descriptor;
      const compression = layerCompressionOf(e.descriptor.mediaType) ?? 'none';
      let mediaType = e.outcome === 'kept' ? original.mediaType : e.descriptor.mediaType;
      if (docker && !toOci && e.outcome !== 'kept') mediaType = dockerLayerType(compression);
      if (toOci && mediaType.startsWith('application/vnd.docker.') && !mediaType.includes('foreign')) mediaType = LAYER_MEDIA_TYPES[compression];
      return { ...original, mediaType, digest: e.descriptor.digest, size: e.descriptor.size };
    }),
  };
  const mediaType = toOci ? MediaType.ociManifest : descriptor.mediaType;
  const written = await store.putJson(next, mediaType);
  return { ...descriptor, mediaType, digest: written.digest, size: written.size };
}

async function exportDescriptor(store: Store, converter: Converter, descriptor: Descriptor): Promise<Descriptor | undefined> {
  if (!isIndexMediaType(descriptor.mediaType)) return exportManifest(store, converter, descriptor);
  const index = await store.readImageIndex(descriptor.digest);
  const children = await Promise.all(
    index.manifests.map(async (child) => {
      // an index may hold only some of its platforms: the others are listed as they are
      if ((await store.statBlob(child.digest)) === undefined) return undefined;
      return exportDescriptor(store, converter, child);
    }),
  );
  if (children.every((c) => c === undefined)) return undefined;
  const next: Index = { ...index, manifests: index.manifests.map((child, i) => children[i] ?? child) };
  const written = await store.putJson(next, descriptor.mediaType);
  return { ...descriptor, digest: written.digest, size: written.size };
}

function summary(descriptor: Descriptor, layers: readonly LayerExport[]): ExportForm {
  const sources = new Map<Digest, Digest>();
  for (const l of layers) if (l.outcome !== 'kept') sources.set(l.descriptor.digest, l.source.digest);
  return { descriptor, layers, sources };
}

/**
 * The export form of a stored image (a manifest, or an index and the
 * manifests of it that are stored): see the top of this file. Layers convert
 * `concurrency` at a time; the config, hence the image ID, does not change.
 */
export async function exportForm(store: Store, descriptor: Descriptor, options: ExportFormOptions = {}): Promise<ExportForm> {
  const converter = new Converter(store, options);
  let exported: Descriptor | undefined;
  try {
    exported = await exportDescriptor(store, converter, descriptor);
  } catch (error) {
    // let conversions already running settle (their temp files closed) before reporting
    await converter.settled();
    throw error;
  }
  return summary(exported ?? descriptor, await converter.exports);
}

/**
 * Export forms of single layers (the records of a cache export), each source
 * blob once, `concurrency` at a time; converted layers get OCI media types.
 * The result is in the order given.
 */
export async function exportLayers(store: Store, layers: readonly StoredLayer[], options: ExportFormOptions = {}): Promise<LayerExport[]> {
  const converter = new Converter(store, options);
  try {
    return await Promise.all(layers.map((l) => converter.layer(l)));
  } catch (error) {
    await converter.settled();
    throw error;
  }
}

