// Whole images between a registry and the local store (@strata/cache):
// pullImage resolves a reference (platform selection for indexes), downloads
// the blobs the store lacks, verified, into atomic store writes, then tags the
// manifest; pushImage sends an image's blobs (HEAD check, mount, upload) and
// then its manifest.
import type { Readable } from 'node:stream';
import {
  exportForm, formatReference, formatRepository, isCacheError, isIndexMediaType, parseDigest,
  type Descriptor, type Digest, type Manifest, type Platform, type Reference, type Store,
} from '@strata/cache';
import { downloadBlob, pushBlobs, type BlobSource, type PushBlobResult } from './blobs.js';
import type { RegistryClient } from './client.js';
import { registryError, registryErrorWithHint, RegistryErrors } from './errors.js';
import { parseManifest } from './manifest.js';
import { parseReference } from './reference.js';

export interface PullImageOptions {
  readonly client: RegistryClient;
  /** Platform to pick from an index; default: this host's. */
  readonly platform?: Platform;
}

export interface PullImageResult {
  readonly reference: Reference;
  /** The name the image is tagged under in the store. */
  readonly name: string;
  /** The platform manifest stored and tagged. */
  readonly descriptor: Descriptor;
  /** The index the reference named, when it named one. */
  readonly indexDigest?: Digest;
  /** Blobs downloaded, and blobs the store already had. */
  readonly downloaded: number;
  readonly present: number;
}

/**
 * A digest a registry's document names, checked to be one the store can hold:
 * sha256 (a sha512 one is CACHE_INVALID_DIGEST).
 */
function storeDigest(digest: Digest): Digest {
  return parseDigest(digest);
}

/**
 * Pulls one image into the store and tags it with the reference (its tag, or
 * `repo@<digest>` for digest references) and records its repo digest. Blobs
 * are verified while they stream and written atomically by the store: a
 * failure stores nothing of the failed blob and tags nothing.
 */
export async function pullImage(store: Store, reference: string | Reference, options: PullImageOptions): Promise<PullImageResult> {
  const { client } = options;
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const resolved = await client.resolveImage(ref, options.platform === undefined ? {} : { platform: options.platform });
  const manifest = resolved.manifest;
  const blobs = [manifest.manifest.config, ...manifest.manifest.layers];
  let downloaded = 0;
  let present = 0;
  // The first failure ends the pull: blobs not started yet are not fetched, downloads in flight are cut
  // (their streams destroyed, so the store drops their temp files), and the pull rejects only once they
  // have settled: nothing of it still runs, or writes into the store, after it returns.
  let failure: { error: unknown } | undefined;
  const inFlight = new Set<Readable>();
  const cancelled = (): Error => Object.assign(new Error(`pull of ${formatRepository(ref)} cancelled: another blob failed`), { code: 'PULL_CANCELLED' });
  await Promise.allSettled(
    blobs.map((blob) =>
      client.limit(async () => {
        if (failure !== undefined) return;
        const expected = { digest: storeDigest(blob.digest), size: blob.size };
        if (await store.hasBlob(expected.digest)) {
          present++;
          client.onEvent({ type: 'blob-present', registry: ref.registry, repository: ref.repository, digest: blob.digest, size: blob.size });
          return;
        }
        // the store hashes what it writes and refuses a mismatch: the stream only counts bytes
        await downloadBlob(client, ref, blob, async (stream) => {
          if (failure !== undefined) {
            stream.destroy();
            throw cancelled();
          }
          inFlight.add(stream);
          try {
            return await store.putBlob(stream, { expected });
          } catch (error) {
            if (failure !== undefined) throw cancelled();
            if (isCacheError(error) && error.code === 'CACHE_INTEGRITY') {
              const what = `blob ${blob.digest} from ${formatRepository(ref)}`;
              throw registryError(RegistryErrors.digestMismatch, [what, blob.digest, error.found ?? 'other content'], { cause: error, retryable: true });
            }
            throw error;
          } finally {
            inFlight.delete(stream);
          }
        }, { verify: false });
        downloaded++;
      }).catch((error: unknown) => {
        if (failure === undefined) {
          failure = { error };
          for (const stream of inFlight) stream.destroy(cancelled());
        }
        throw error;
      }),
    ),
  );
  if (failure !== undefined) throw failure.error;
  await store.putBlob(manifest.bytes, { expected: { digest: storeDigest(manifest.digest), size: manifest.bytes.length } });
  const entry = resolved.index?.index.manifests.find((m) => m.digest === manifest.digest);
  const descriptor: Descriptor = {
    mediaType: manifest.mediaType,
    digest: storeDigest(manifest.digest),
    size: manifest.bytes.length,
    ...(entry?.platform !== undefined ? { platform: entry.platform } : {}),
  };
  // a digest reference is named by the digest asked for (an index's, when it named one), as docker names it
  const name = ref.tag !== undefined
    ? formatReference({ registry: ref.registry, repository: ref.repository, tag: ref.tag })
    : `${formatRepository(ref)}@${ref.digest ?? manifest.digest}`;
  const tagged = await store.tag(name, descriptor);
  // RepoDigests: what the registry serves under this repository (the index, for a multi-platform tag)
  await store.addRepoDigests(descriptor.digest, [`${formatRepository(ref)}@${resolved.index?.digest ?? manifest.digest}`]);
  return {
    reference: ref,
    name: tagged,
    descriptor,
    ...(resolved.index !== undefined ? { indexDigest: resolved.index.digest } : {}),
    downloaded,
    present,
  };
}

export interface PushImageOptions {
  readonly client: RegistryClient;
  /** The store name to push; default: the destination reference itself. */
  readonly source?: string;
  /**
   * Repositories on the destination registry that may hold the blobs (for a
   * cross-repository mount), all blobs or per blob.
   */
  readonly mountFrom?: readonly string[] | ((digest: Digest) => readonly string[]);
  /**
   * Layer compression of what is pushed (default gzip): the registry gets the
   * image's export form (@strata/cache `exportForm`: uncompressed layers
   * compressed, once, remembered in the store); the stored image is unchanged.
   */
  readonly compression?: 'gzip' | 'zstd';
  /** Convert every layer not in `compression` too (zstd → gzip, gzip → zstd), not only uncompressed ones. */
  readonly force?: boolean;
}

export interface PushImageResult {
  readonly reference: Reference;
  /** Digest of the manifest (or index) pushed under the tag. */
  readonly digest: Digest;
  readonly size: number;
  readonly mediaType: string;
  /** Per blob: exists, mounted or uploaded. */
  readonly blobs: readonly PushBlobResult[];
}

function storeSource(store: Store, d: Descriptor): BlobSource {
  const digest = storeDigest(d.digest);
  return { digest: d.digest, size: d.size, open: () => streamOf(store, digest) };
}

/** An async iterable over a store blob, opened lazily (BlobSource.open is synchronous). */
async function* streamOf(store: Store, digest: Digest): AsyncGenerator<Uint8Array> {
  const stream = await store.getBlob(digest);
  for await (const chunk of stream) yield chunk as Uint8Array;
}

async function pushManifestBlobs(
  store: Store,
  ref: Reference,
  manifest: Manifest,
  options: PushImageOptions,
): Promise<PushBlobResult[]> {
  const descriptors = [manifest.config, ...manifest.layers];
  for (const d of descriptors) {
    if (!(await store.hasBlob(storeDigest(d.digest)))) {
      throw registryErrorWithHint(RegistryErrors.blobUnknown, ['the local store', d.digest],
        'The local image is incomplete; pull or rebuild it, or run `strata verify`.');
    }
  }
  const mount = options.mountFrom;
  return pushBlobs(options.client, ref, descriptors.map((d) => storeSource(store, d)), (source) => ({
    mountFrom: mount === undefined ? [] : typeof mount === 'function' ? mount(source.digest) : mount,
  }));
}

/**
 * Pushes an image from the store: blobs first (skipping those the registry
 * has, mounting where it can), then the manifest under the reference's tag.
 * An index pushes each of its platform manifests by digest first. The
 * image's repo digest (`repo@<digest pushed>`) is recorded in the store.
 */
export async function pushImage(store: Store, reference: string | Reference, options: PushImageOptions): Promise<PushImageResult> {
  const { client } = options;
  const ref = typeof reference === 'string' ? parseReference(reference) : reference;
  const top = await store.resolve(options.source ?? formatReference(ref));
  // the registry gets the export form: built (uncompressed) layers compressed, once; the same bytes at every push
  const exported = await exportForm(store, top, { compression: options.compression ?? 'gzip', force: options.force === true });
  // a compressed layer may be in the registry under the repository of an image that holds its uncompressed source
  const mount = options.mountFrom;
  const mountFrom = typeof mount !== 'function' ? mount : (digest: Digest): readonly string[] => {
    const source = exported.sources.get(digest);
    return source === undefined ? mount(digest) : [...new Set([...mount(digest), ...mount(source)])];
  };
  options = { ...options, ...(mountFrom === undefined ? {} : { mountFrom }) };
  const bytes = await store.readBlob(exported.descriptor.digest);
  const document = parseManifest(bytes, { what: options.source ?? formatReference(ref), contentType: exported.descriptor.mediaType });
  const results: PushBlobResult[] = [];
  if (document.kind === 'index' || isIndexMediaType(exported.descriptor.mediaType)) {
    if (document.kind !== 'index') throw registryError(RegistryErrors.invalidManifest, [formatReference(ref), 'index expected']);
    for (const child of document.index.manifests) {
      const childBytes = await store.readBlob(storeDigest(child.digest));
      const childDoc = parseManifest(childBytes, { what: child.digest, contentType: child.mediaType });
      if (childDoc.kind !== 'manifest') throw registryError(RegistryErrors.invalidManifest, [child.digest, 'nested indexes are not pushed']);
      results.push(...(await pushManifestBlobs(store, ref, childDoc.manifest, options)));
      await client.putManifest(ref, childBytes, childDoc.mediaType, child.digest);
    }
  } else {
    results.push(...(await pushManifestBlobs(store, ref, document.manifest, options)));
  }
  const digest = await client.putManifest(ref, bytes, document.mediaType);
  // RepoDigests name what the registry has (the export form's digest), under the stored image
  await store.addRepoDigests(top.digest, [`${formatRepository(ref)}@${digest}`]);
  return { reference: ref, digest, size: bytes.length, mediaType: document.mediaType, blobs: results };
}
