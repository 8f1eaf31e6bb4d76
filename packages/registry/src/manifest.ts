// Manifest and index documents: Docker schema 2 (manifest and list) and OCI
// (manifest and index), told apart by media type, with platform selection.
import { computeDigest, isDigestString, type DigestString } from './digest.js';
import { registryError, RegistryErrors } from './errors.js';
import { formatPlatform, normalizePlatform, platformScore, type Platform } from './platform.js';

export const MediaTypes = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** Every manifest media type strata asks for (the Accept header of a manifest GET). */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaTypes.ociIndex,
  MediaTypes.dockerManifestList,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifest,
];

/** The largest manifest strata reads (the distribution spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: DigestString;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly platform?: Platform;
  readonly artifactType?: string;
}

export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A manifest as fetched: exact bytes (digests are over these), parsed form and kind. */
export type ManifestDocument =
  | { readonly kind: 'manifest'; readonly mediaType: string; readonly digest: DigestString; readonly bytes: Buffer; readonly manifest: ImageManifest }
  | { readonly kind: 'index'; readonly mediaType: string; readonly digest: DigestString; readonly bytes: Buffer; readonly index: ImageIndex };

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList;
}

export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkDescriptor(value: unknown, what: string, where: string): Descriptor {
  if (!isObject(value)) throw registryError(RegistryErrors.invalidManifest, [what, `${where} is not an object`]);
  if (typeof value.mediaType !== 'string') throw registryError(RegistryErrors.invalidManifest, [what, `${where}.mediaType is missing`]);
  if (!isDigestString(value.digest)) throw registryError(RegistryErrors.invalidManifest, [what, `${where}.digest is not a digest`]);
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
export function parseManifest(bytes: Buffer, options: { contentType?: string; what?: string; digest?: DigestString } = {}): ManifestDocument {
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
  if (json.schemaVersion === 1 || mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    throw registryError(RegistryErrors.unsupportedMediaType, [what, mediaType ?? MediaTypes.dockerSchema1]);
  }
  if (mediaType === undefined) {
    if (Array.isArray(json.manifests)) mediaType = MediaTypes.ociIndex;
    else if (isObject(json.config)) mediaType = MediaTypes.ociManifest;
    else throw registryError(RegistryErrors.invalidManifest, [what, 'it has no mediaType, config or manifests']);
  }
  if (json.schemaVersion !== 2) throw registryError(RegistryErrors.invalidManifest, [what, 'schemaVersion is not 2']);
  const digest = options.digest ?? computeDigest(bytes);

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json.manifests)) throw registryError(RegistryErrors.invalidManifest, [what, 'manifests is not a list']);
    json.manifests.forEach((m, i) => checkDescriptor(m, what, `manifests[${i}]`));
    return { kind: 'index', mediaType, digest, bytes, index: json as unknown as ImageIndex };
  }
  if (isManifestMediaType(mediaType)) {
    checkDescriptor(json.config, what, 'config');
    if (!Array.isArray(json.layers)) throw registryError(RegistryErrors.invalidManifest, [what, 'layers is not a list']);
    json.layers.forEach((l, i) => checkDescriptor(l, what, `layers[${i}]`));
    return { kind: 'manifest', mediaType, digest, bytes, manifest: json as unknown as ImageManifest };
  }
  throw registryError(RegistryErrors.unsupportedMediaType, [what, mediaType]);
}

/** Serializes a manifest or index to the exact bytes to push, and their digest. */
export function encodeManifest(document: ImageManifest | ImageIndex): { bytes: Buffer; digest: DigestString; mediaType: string } {
  const bytes = Buffer.from(JSON.stringify(document));
  const mediaType = document.mediaType ?? ('manifests' in document ? MediaTypes.ociIndex : MediaTypes.ociManifest);
  return { bytes, digest: computeDigest(bytes), mediaType };
}

/** True for index entries that are not runnable images (buildkit attestations, unknown/unknown). */
function isAttestation(descriptor: Descriptor): boolean {
  return (
    descriptor.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' ||
    (descriptor.platform?.os === 'unknown' && descriptor.platform.architecture === 'unknown')
  );
}

/** The platforms an index offers, formatted, attestations left out. */
export function indexPlatforms(index: ImageIndex): string[] {
  return index.manifests
    .filter((m) => m.platform !== undefined && !isAttestation(m))
    .map((m) => formatPlatform(normalizePlatform(m.platform as Platform)));
}

/**
 * Picks the index entry for a platform: exact variant first, then the first
 * compatible entry in index order. Throws REGISTRY_NO_MATCHING_PLATFORM listing
 * the platforms the index has.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform, reference = 'the image'): Descriptor {
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
