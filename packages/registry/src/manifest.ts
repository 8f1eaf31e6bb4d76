// Manifest and index documents as a registry serves them: Docker schema 2
// (manifest and list) and OCI (manifest and index), told apart by media type,
// checked, with platform selection. The types and media types are
// @strata/cache's.
import { digestOf, isIndexMediaType, isManifestMediaType, isOciDigest, MediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform } from '@strata/cache';
import { registryError, RegistryErrors } from './errors.js';
import { formatPlatform, normalizePlatform, platformScore } from './platform.js';

/** Every manifest media type strata asks for (the Accept header of a manifest GET). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
];

/** The largest manifest strata reads (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/** A manifest as fetched: exact bytes (digests are over these), parsed form and kind. */
export type ManifestDocument =
  | { readonly kind: 'manifest'; readonly mediaType: string; readonly digest: Digest; readonly bytes: Buffer; readonly manifest: Manifest }
  | { readonly kind: 'index'; readonly mediaType: string; readonly digest: Digest; readonly bytes: Buffer; readonly index: Index };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkDescriptor(value: unknown, what: string, where: string): Descriptor {
  if (!isObject(value)) throw registryError(RegistryErrors.invalidManifest, [what, `${where} is not an object`]);
  if (typeof value.mediaType !== 'string') throw registryError(RegistryErrors.invalidManifest, [what, `${where}.mediaType is missing`]);
  if (!isOciDigest(value.digest)) throw registryError(RegistryErrors.invalidManifest, [what, `${where}.digest is not a digest`]);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw registryError(RegistryErrors.invalidManifest, [what, `${where}.size is not a byte count`]);
  }
  if (value.platform !== undefined) {
    const p = value.platform;
    if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string') {
      throw registryError(RegistryErrors.invalidManifest, [what, `${where}.platform needs os and architecture`]);
    }
  }
  return value as unknown as Descriptor;
}

/**
 * Parses manifest bytes. The media type comes from the document, else the
 * response's Content-Type, else its shape. Throws REGISTRY_INVALID_MANIFEST or
 * REGISTRY_UNSUPPORTED_MEDIA_TYPE (schema 1).
 */
export function parseManifest(bytes: Buffer, options: { contentType?: string; what?: string; digest?: Digest } = {}): ManifestDocument {
  const what = options.what ?? 'document';
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw registryError(RegistryErrors.invalidManifest, [what, 'it is not JSON'], { cause: error });
  }
  if (!isObject(json)) throw registryError(RegistryErrors.invalidManifest, [what, 'it is not a JSON object']);
  const contentType = options.contentType?.split(';')[0]?.trim();
  let mediaType = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  if (mediaType === undefined && contentType !== undefined && (isIndexMediaType(contentType) || isManifestMediaType(contentType))) {
    mediaType = contentType;
  }
  if (json.schemaVersion === 1 || mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed) {
    throw registryError(RegistryErrors.unsupportedMediaType, [what, mediaType ?? MediaType.dockerSchema1]);
  }
  if (mediaType === undefined) {
    if (Array.isArray(json.manifests)) mediaType = MediaType.ociIndex;
    else if (isObject(json.config)) mediaType = MediaType.ociManifest;
    else throw registryError(RegistryErrors.invalidManifest, [what, 'it has no mediaType, config or manifests']);
  }
  if (json.schemaVersion !== 2) throw registryError(RegistryErrors.invalidManifest, [what, 'schemaVersion is not 2']);
  const digest = options.digest ?? digestOf(bytes);

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw registryError(RegistryErrors.invalidManifest, [what, 'manifests is not a list']);
    json.manifests.forEach((m, i) => checkDescriptor(m, what, `manifests[${i}]`));
    return { kind: 'index', mediaType, digest, bytes, index: json as unknown as Index };
  }
  if (isManifestMediaType(mediaType)) {
    checkDescriptor(json.config, what, 'config');
    if (!Array.isArray(json.layers)) throw registryError(RegistryErrors.invalidManifest, [what, 'layers is not a list']);
    json.layers.forEach((l, i) => checkDescriptor(l, what, `layers[${i}]`));
    return { kind: 'manifest', mediaType, digest, bytes, manifest: json as unknown as Manifest };
  }
  throw registryError(RegistryErrors.unsupportedMediaType, [what, mediaType]);
}

/** Serializes a manifest or index to the exact bytes to push, and their digest. */
export function encodeManifest(document: Manifest | Index): { bytes: Buffer; digest: Digest; mediaType: string } {
  const bytes = Buffer.from(JSON.stringify(document));
  const mediaType = document.mediaType ?? ('manifests' in document ? MediaType.ociIndex : MediaType.ociManifest);
  return { bytes, digest: digestOf(bytes), mediaType };
}

/** True for index entries that are not runnable images (buildkit attestations, unknown/unknown). */
function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown')
  );
}

/** The platforms an index offers, formatted, attestations left out. */
export function indexPlatforms(index: Index): string[] {
  return index.manifests
    .filter((m) => m.platform !== undefined && !isAttestation(m))
    .map((m) => formatPlatform(normalizePlatform(m.platform as Platform)));
}

/**
 * Picks the index entry for a platform: exact variant first, then the first
 * compatible entry in index order. Throws REGISTRY_NO_MATCHING_PLATFORM listing
 * the platforms the index has.
 */
export function selectPlatform(index: Index, wanted: Platform, reference = 'the image'): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const entry of index.manifests) {
    if (entry.platform === undefined || isAttestation(entry) || !isManifestMediaType(entry.mediaType)) continue;
    const score = platformScore(wanted, entry.platform);
    if (score > bestScore) {
      best = entry;
      bestScore = score;
    }
  }
  if (best === undefined) {
    throw registryError(RegistryErrors.noMatchingPlatform, [reference, formatPlatform(normalizePlatform(wanted)), indexPlatforms(index)]);
  }
  return best;
}
