// Images into the store from files: a docker-archive (`docker save`, skopeo
// docker-archive:), an OCI archive (oci-archive:, `strata save --format oci`),
// either of them gzip-compressed, or an OCI layout folder. Every blob is
// verified while it is read (against its file name, the manifest's descriptor,
// or the config's diff IDs); names are tagged only after every image of the
// source is complete, so a damaged file tags nothing and leaves no partial blob.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { digestHex, isDigest, parseDigest, type Digest } from '../digest.js';
import { cacheError, CacheErrors, errnoCode, isCacheError } from '../errors.js';
import { isIndexMediaType, isManifestMediaType, MediaType, REF_NAME_ANNOTATION, type Descriptor, type ImageConfig, type Index, type Manifest } from '../oci.js';
import { normalizeReference } from '../reference.js';
import type { Store } from '../store.js';
import { ArchiveErrors } from './errors.js';
import { CONTAINERD_NAME_ANNOTATION } from './export.js';
import { collect, isGzip, isZstd } from './tar-io.js';

export interface ImportOptions {
  /**
   * The name for images the source does not name, or names only by a tag
   * (an OCI layout's `ref.name` of `latest`): `REPO` (the tag is kept, default
   * latest) or `REPO:TAG`.
   */
  readonly name?: string;
}

/** An image that was loaded and tagged. */
export interface LoadedImage {
  /** The full normalized name it is tagged under. */
  readonly name: string;
  /** What the tag points at (a manifest, or an index). */
  readonly descriptor: Descriptor;
}

export type ArchiveKind = 'docker-archive' | 'oci-archive';

export interface ImportResult {
  readonly kind: ArchiveKind | 'oci-layout';
  readonly images: readonly LoadedImage[];
}

/** Entries up to this size are kept in memory while an archive is read; bigger ones stream into the store. */
const BUFFER_LIMIT = 4 * 1024 * 1024;
const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

type ArchiveEntry =
  | { readonly kind: 'buffer'; readonly data: Buffer }
  | { readonly kind: 'blob'; readonly digest: Digest; readonly size: number; readonly head: Buffer };

function entryName(name: string): string {
  return name.replace(/^(?:\.?\/)+/, '');
}

function integrityToDigestError(source: string, entry: string, error: unknown): unknown {
  if (isCacheError(error) && error.code === 'CACHE_INTEGRITY') {
    return cacheError(ArchiveErrors.digest, [source, entry, error.expected ?? '?', error.found ?? '?'], { cause: error });
  }
  return error;
}

/** Chunks of a tar entry, remembering the first bytes (to tell gzip from tar). */
async function* tapped(entry: AsyncIterable<Uint8Array>, head: { bytes: Buffer }): AsyncGenerator<Uint8Array> {
  for await (const chunk of entry) {
    if (head.bytes.length < 4) head.bytes = Buffer.concat([head.bytes, Buffer.from(chunk)]).subarray(0, 4);
    yield chunk;
  }
}

async function drain(entry: AsyncIterable<unknown>): Promise<void> {
  for await (const _chunk of entry) {
    // discard
  }
}

/** Reads every file of a tar: small ones into memory, the rest into the store (verified when named by digest). */
async function readArchiveEntries(store: Store, file: string): Promise<Map<string, ArchiveEntry>> {
  const first = Buffer.alloc(2);
  const handle = await open(file, 'r').catch((error: unknown) => {
    throw cacheError(ArchiveErrors.invalid, [file, (error as Error).message], { cause: error, path: file });
  });
  try {
    await handle.read(first, 0, 2, 0);
  } finally {
    await handle.close();
  }
  // tar-stream is loaded when an archive is first read, not when the CLI starts
  const { extract: tarExtract } = await import('tar-stream');
  const raw = createReadStream(file);
  const input: Readable = isGzip(first) ? raw.pipe(createGunzip()) : raw;
  if (input !== raw) raw.on('error', (error) => input.destroy(error));
  const extract = tarExtract();
  input.on('error', (error) => extract.destroy(error));
  input.pipe(extract as unknown as NodeJS.WritableStream);
  const entries = new Map<string, ArchiveEntry>();
  try {
    for await (const tarEntry of extract) {
      const entry = tarEntry as unknown as AsyncIterable<Uint8Array>;
      const header = tarEntry.header;
      const name = entryName(header.name);
      const type = header.type;
      if ((type !== 'file' && type !== 'contiguous-file') || name === '') {
        await drain(entry);
        continue;
      }
      const size = header.size;
      // a gzip bomb shows here as an entry bigger than any layer may be
      if (size > store.maxLayerSize) throw cacheError(CacheErrors.layerTooLarge, [store.maxLayerSize]);
      const blobMatch = BLOB_PATH.exec(name);
      if (blobMatch !== null) {
        const expected = { digest: parseDigest(`sha256:${blobMatch[1] ?? ''}`), size };
        const head = { bytes: Buffer.alloc(0) };
        try {
          await store.putBlob(tapped(entry, head), { expected });
        } catch (error) {
          throw integrityToDigestError(file, name, error);
        }
        await drain(entry);
        entries.set(name, { kind: 'blob', digest: expected.digest, size, head: head.bytes });
      } else if (size <= BUFFER_LIMIT) {
        entries.set(name, { kind: 'buffer', data: await collect(entry) });
      } else {
        const head = { bytes: Buffer.alloc(0) };
        const put = await store.putBlob(tapped(entry, head));
        entries.set(name, { kind: 'blob', digest: put.digest, size: put.size, head: head.bytes });
      }
    }
  } catch (error) {
    raw.destroy();
    if (isCacheError(error)) throw error;
    throw cacheError(ArchiveErrors.invalid, [file, (error as Error).message], { cause: error, path: file });
  }
  return entries;
}

/** The name of an index entry: containerd's full name, a full ref.name, or the fallback with ref.name as its tag. */
function nameOfEntry(source: string, what: string, annotations: Readonly<Record<string, string>> | undefined, fallback: string | undefined): string {
  const full = annotations?.[CONTAINERD_NAME_ANNOTATION];
  if (full !== undefined) return normalizeReference(full);
  const refName = annotations?.[REF_NAME_ANNOTATION];
  if (refName !== undefined && /[/:@]/.test(refName)) return normalizeReference(refName);
  if (fallback === undefined) throw cacheError(ArchiveErrors.unnamed, [source, refName === undefined ? what : `${what} (tagged only '${refName}')`]);
  return withTag(fallback, refName);
}

function withTag(name: string, tag: string | undefined): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  if (last.includes(':') || last.includes('@') || tag === undefined) return normalizeReference(name);
  return normalizeReference(`${name}:${tag}`);
}

function parseJson<T>(source: string, name: string, data: Buffer): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (error) {
    throw cacheError(ArchiveErrors.invalid, [source, `${name} is not JSON`], { cause: error });
  }
}

function checkIndex(source: string, name: string, value: unknown): Index {
  const index = value as Partial<Index> | null;
  if (typeof index !== 'object' || index === null || !Array.isArray(index.manifests) || !index.manifests.every((d) => isDigest(d?.digest) && typeof d.size === 'number')) {
    throw cacheError(ArchiveErrors.invalid, [source, `${name} is not an OCI index`]);
  }
  return index as Index;
}

function checkLayoutVersion(source: string, data: Buffer | undefined): void {
  if (data === undefined) throw cacheError(ArchiveErrors.incomplete, [source, 'the oci-layout file']);
  const layout = parseJson<{ imageLayoutVersion?: unknown }>(source, 'oci-layout', data);
  if (layout.imageLayoutVersion !== '1.0.0') throw cacheError(ArchiveErrors.invalid, [source, `unsupported imageLayoutVersion ${String(layout.imageLayoutVersion)}`]);
}

/** Tags the entries of an OCI index whose blobs are all in the store; all are checked before any is tagged. */
async function tagIndexEntries(store: Store, source: string, index: Index, options: ImportOptions): Promise<LoadedImage[]> {
  const plan: LoadedImage[] = [];
  for (const [i, entry] of index.manifests.entries()) {
    const what = `image ${i + 1} (${entry.digest})`;
    const name = nameOfEntry(source, what, entry.annotations, options.name);
    const graph = await store.imageBlobs(entry);
    if (graph.missing.length > 0) throw cacheError(ArchiveErrors.incomplete, [source, `blob ${graph.missing[0] ?? ''} of ${what}`]);
    if (isIndexMediaType(entry.mediaType) && graph.configs.length === 0) throw cacheError(ArchiveErrors.incomplete, [source, `every platform image of ${what}`]);
    const { annotations: _annotations, ...descriptor } = entry;
    plan.push({ name, descriptor: { ...descriptor, digest: parseDigest(entry.digest) } });
  }
  if (plan.length === 0) throw cacheError(ArchiveErrors.incomplete, [source, 'any image (its index.json is empty)']);
  const loaded: LoadedImage[] = [];
  for (const item of plan) loaded.push({ name: await store.tag(item.name, item.descriptor), descriptor: item.descriptor });
  return loaded;
}

interface DockerManifestEntry {
  readonly Config: string;
  readonly RepoTags?: readonly string[] | null;
  readonly Layers: readonly string[];
}

async function diffIdOf(store: Store, blob: { digest: Digest; size: number; head: Buffer }): Promise<{ diffId: string; mediaType: string }> {
  if (isZstd(blob.head)) throw cacheError(ArchiveErrors.unsupported, [`layer ${blob.digest} is zstd-compressed; strata loads uncompressed and gzip layers`]);
  if (!isGzip(blob.head)) return { diffId: blob.digest, mediaType: MediaType.ociLayer };
  const hash = createHash('sha256');
  let total = 0;
  for await (const chunk of (await store.getBlob(blob.digest, { size: blob.size })).pipe(createGunzip())) {
    total += (chunk as Buffer).length;
    if (total > store.maxLayerSize) throw cacheError(CacheErrors.layerTooLarge, [store.maxLayerSize]);
    hash.update(chunk as Buffer);
  }
  return { diffId: `sha256:${hash.digest('hex')}`, mediaType: MediaType.ociLayerGzip };
}

/** Loads the images of a docker-archive's manifest.json; layers stay as the archive has them (uncompressed or gzip). */
async function loadDockerArchive(store: Store, source: string, entries: Map<string, ArchiveEntry>, manifestData: Buffer, options: ImportOptions): Promise<LoadedImage[]> {
  const list = parseJson<DockerManifestEntry[]>(source, 'manifest.json', manifestData);
  if (!Array.isArray(list) || !list.every((e) => typeof e?.Config === 'string' && Array.isArray(e.Layers) && e.Layers.every((l) => typeof l === 'string'))) {
    throw cacheError(ArchiveErrors.invalid, [source, 'manifest.json is not a docker-archive manifest (Config and Layers expected)']);
  }
  if (list.length === 0) throw cacheError(ArchiveErrors.incomplete, [source, 'any image (manifest.json is empty)']);
  const stored = async (name: string): Promise<{ digest: Digest; size: number; head: Buffer }> => {
    const entry = entries.get(entryName(name));
    if (entry === undefined) throw cacheError(ArchiveErrors.incomplete, [source, `the file ${name} that manifest.json names`]);
    if (entry.kind === 'blob') return entry;
    const put = await store.putBlob(entry.data);
    return { digest: put.digest, size: put.size, head: entry.data.subarray(0, 4) };
  };
  const plan: { names: string[]; descriptor: Descriptor }[] = [];
  for (const [i, item] of list.entries()) {
    const configEntry = entries.get(entryName(item.Config));
    if (configEntry === undefined) throw cacheError(ArchiveErrors.incomplete, [source, `the config ${item.Config}`]);
    const configBytes = configEntry.kind === 'buffer' ? configEntry.data : await store.readBlob(configEntry.digest);
    const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
    const named = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(item.Config);
    if (named !== null && `sha256:${named[1] ?? ''}` !== configDigest) {
      throw cacheError(ArchiveErrors.digest, [source, item.Config, `sha256:${named[1] ?? ''}`, configDigest]);
    }
    const config = parseJson<Partial<ImageConfig>>(source, item.Config, configBytes);
    const diffIds = config.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== item.Layers.length) {
      throw cacheError(ArchiveErrors.invalid, [source, `${item.Config} lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${item.Layers.length} layers`]);
    }
    const layers: Descriptor[] = [];
    for (const [j, layerName] of item.Layers.entries()) {
      const blob = await stored(layerName);
      const { diffId, mediaType } = await diffIdOf(store, blob);
      if (diffId !== diffIds[j]) throw cacheError(ArchiveErrors.digest, [source, layerName, diffIds[j] ?? '?', diffId]);
      layers.push({ mediaType, digest: blob.digest, size: blob.size });
    }
    const configPut = await store.putBlob(configBytes);
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configPut.digest, size: configPut.size },
      layers,
    };
    const descriptor = await store.putJson(manifest, MediaType.ociManifest);
    const platform = config.architecture !== undefined && config.os !== undefined
      ? { architecture: config.architecture, os: config.os, ...(config.variant === undefined ? {} : { variant: config.variant }) }
      : undefined;
    const tags = item.RepoTags ?? [];
    const names = tags.length > 0 ? tags.map((t) => normalizeReference(t)) : [];
    if (names.length === 0) {
      if (options.name === undefined) throw cacheError(ArchiveErrors.unnamed, [source, `image ${i + 1} (config ${configDigest})`]);
      names.push(withTag(options.name, undefined));
    }
    plan.push({ names, descriptor: { ...descriptor, ...(platform === undefined ? {} : { platform }) } });
  }
  const loaded: LoadedImage[] = [];
  for (const item of plan) {
    for (const name of item.names) loaded.push({ name: await store.tag(name, item.descriptor), descriptor: item.descriptor });
  }
  return loaded;
}

/**
 * Loads a docker-archive or an OCI archive (told apart by their contents; a
 * gzip-compressed file too) into the store and tags its images. Throws
 * CACHE_ARCHIVE_INVALID, _DIGEST, _INCOMPLETE, _UNNAMED or _UNSUPPORTED.
 */
export async function importArchive(store: Store, file: string, options: ImportOptions = {}): Promise<ImportResult> {
  const entries = await readArchiveEntries(store, file);
  const buffered = (name: string): Buffer | undefined => {
    const entry = entries.get(name);
    return entry?.kind === 'buffer' ? entry.data : undefined;
  };
  const indexData = buffered('index.json');
  const manifestData = buffered('manifest.json');
  if (indexData !== undefined && entries.has('oci-layout')) {
    checkLayoutVersion(file, buffered('oci-layout'));
    const index = checkIndex(file, 'index.json', parseJson(file, 'index.json', indexData));
    return { kind: 'oci-archive', images: await tagIndexEntries(store, file, index, options) };
  }
  if (manifestData !== undefined) return { kind: 'docker-archive', images: await loadDockerArchive(store, file, entries, manifestData, options) };
  throw cacheError(ArchiveErrors.invalid, [file, 'it has neither manifest.json (docker-archive) nor oci-layout and index.json (OCI archive)']);
}

/** Copies one blob (and what it references) from a layout folder into the store, verified. */
async function copyFromLayout(store: Store, dir: string, d: Descriptor, inIndex: boolean, seen: Set<string>): Promise<void> {
  if (seen.has(d.digest)) return;
  seen.add(d.digest);
  const digest = parseDigest(d.digest);
  const path = join(dir, 'blobs', 'sha256', digestHex(digest));
  const present = await stat(path).then(() => true, (error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  });
  if (!present) {
    if (await store.hasBlob(digest)) {
      // already stored: still walk it below
    } else if (inIndex) {
      return; // an index may hold only some platforms
    } else {
      throw cacheError(ArchiveErrors.incomplete, [dir, `blob ${digest}`]);
    }
  } else {
    try {
      await store.putBlob(createReadStream(path), { expected: { digest, size: d.size } });
    } catch (error) {
      throw integrityToDigestError(dir, `blobs/sha256/${digestHex(digest)}`, error);
    }
  }
  if (isIndexMediaType(d.mediaType)) {
    const index = await store.readImageIndex(digest);
    for (const child of index.manifests ?? []) await copyFromLayout(store, dir, child, true, seen);
  } else if (isManifestMediaType(d.mediaType)) {
    const manifest = await store.readManifest(digest);
    for (const child of [manifest.config, ...(manifest.layers ?? [])]) await copyFromLayout(store, dir, child, false, seen);
  }
}

/** Loads the images of an OCI image layout folder (its index.json entries) into the store and tags them. */
export async function importLayout(store: Store, dir: string, options: ImportOptions = {}): Promise<ImportResult> {
  const read = async (name: string): Promise<Buffer | undefined> => readFile(join(dir, name)).catch((error: unknown) => {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  });
  checkLayoutVersion(dir, await read('oci-layout'));
  const indexData = await read('index.json');
  if (indexData === undefined) throw cacheError(ArchiveErrors.incomplete, [dir, 'index.json']);
  const index = checkIndex(dir, 'index.json', parseJson(dir, 'index.json', indexData));
  const seen = new Set<string>();
  for (const entry of index.manifests) await copyFromLayout(store, dir, entry, false, seen);
  return { kind: 'oci-layout', images: await tagIndexEntries(store, dir, index, options) };
}

/** Loads an OCI layout folder or an archive file, whichever `path` is. */
export async function importImages(store: Store, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  const facts = await stat(path).catch((error: unknown) => {
    throw cacheError(ArchiveErrors.invalid, [path, (error as Error).message], { cause: error, path });
  });
  return facts.isDirectory() ? importLayout(store, path, options) : importArchive(store, path, options);
}

