// What the image verbs need to know about a stored image: its manifest and
// config (for an index, one platform's), its size, the names it has.
import { parseDigest, type Digest } from '../digest.js';
import { cacheError } from '../errors.js';
import { isIndexMediaType, type Descriptor, type ImageConfig, type Index, type Manifest, type Platform } from '../oci.js';
import { formatReference, formatRepository, parseReference } from '../reference.js';
import type { Store } from '../store.js';
import { ArchiveErrors } from './errors.js';

/**
 * Picks one manifest from an index's entries (only those whose manifest is in
 * the store are offered). Undefined: none fits. Default: the first.
 */
export type PlatformChooser = (candidates: readonly Descriptor[]) => Descriptor | undefined;

export interface ReadImageOptions {
  readonly choose?: PlatformChooser;
  /** Says which platform the chooser wanted, for the error when none fits. */
  readonly wanted?: string;
  /** The name the caller used, for messages. */
  readonly name?: string;
}

/** One stored image, resolved through an index to a single platform. */
export interface StoredImage {
  /** The descriptor that was resolved: the tag's, possibly an index. */
  readonly top: Descriptor;
  /** The image manifest's descriptor (equal to `top` unless `top` is an index). */
  readonly descriptor: Descriptor;
  readonly manifest: Manifest;
  readonly configDigest: Digest;
  readonly config: ImageConfig;
  /** Sum of the layer blobs' sizes, as stored (compressed). */
  readonly size: number;
}

function platformText(p: Platform | undefined): string {
  if (p === undefined) return 'unknown platform';
  return p.variant === undefined ? `${p.os}/${p.architecture}` : `${p.os}/${p.architecture}/${p.variant}`;
}

/** Reads an image's manifest and config; an index goes through `choose`. Throws CACHE_PLATFORM_NOT_FOUND. */
export async function readImage(store: Store, top: Descriptor, options: ReadImageOptions = {}): Promise<StoredImage> {
  let descriptor = top;
  if (isIndexMediaType(top.mediaType)) {
    const index = await store.readImageIndex(top.digest);
    const present: Descriptor[] = [];
    for (const child of index.manifests) {
      if (isIndexMediaType(child.mediaType)) continue;
      if ((await store.statBlob(parseDigest(child.digest))) !== undefined) present.push(child);
    }
    const chosen = options.choose === undefined ? present[0] : options.choose(present);
    if (chosen === undefined) {
      const have = present.length === 0 ? 'no platform in the store' : present.map((d) => platformText(d.platform)).join(', ');
      throw cacheError(ArchiveErrors.noPlatform, [options.name ?? top.digest, options.wanted ?? 'any platform', have]);
    }
    descriptor = chosen;
  }
  const manifest = await store.readManifest(descriptor.digest);
  const configDigest = parseDigest(manifest.config.digest);
  const config = await store.readConfig(configDigest);
  const size = manifest.layers.reduce((n, l) => n + l.size, 0);
  return { top, descriptor, manifest, configDigest, config, size };
}

/** The parent index of a multi-platform tag, if `top` is one. */
export async function readIndexOf(store: Store, top: Descriptor): Promise<Index | undefined> {
  return isIndexMediaType(top.mediaType) ? store.readImageIndex(top.digest) : undefined;
}

/**
 * docker's short form of a normalized name: `docker.io/library/busybox:latest`
 * → `busybox:latest`, `docker.io/me/app:1` → `me/app:1`; other registries stay.
 */
export function familiarName(name: string): string {
  return formatReference(parseReference(name), { familiar: true });
}

/** `repository` and `tag` (or digest) of a name, docker-style familiar repository. */
export function splitName(name: string): { repository: string; tag: string | undefined; digest: string | undefined } {
  const ref = parseReference(name);
  return { repository: formatRepository(ref, { familiar: true }), tag: ref.tag, digest: ref.digest };
}

export interface ImageSummary {
  /** Full normalized names (tags) of this image; one entry per tag. */
  readonly name: string;
  readonly image: StoredImage;
}

/**
 * Every tagged image with its manifest and config (an index resolved through
 * `choose`). Tags whose blobs are missing are skipped and reported in `broken`.
 */
export async function listImages(store: Store, options: { choose?: PlatformChooser } = {}): Promise<{ images: ImageSummary[]; broken: { name: string; error: unknown }[] }> {
  const images: ImageSummary[] = [];
  const broken: { name: string; error: unknown }[] = [];
  for (const tagged of await store.images()) {
    try {
      const image = await readImage(store, tagged.descriptor, { ...(options.choose === undefined ? {} : { choose: options.choose }), name: tagged.ref });
      images.push({ name: tagged.ref, image });
    } catch (error) {
      broken.push({ name: tagged.ref, error });
    }
  }
  return { images, broken };
}
