import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isCacheKey, MediaType, parseDigest, type CacheRecord, type Descriptor, type Digest, type Manifest, type SourceListing } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';

/**
 * The build cache as an OCI artifact: an image manifest whose artifactType
 * says "strata build cache", whose config blob carries the cache records, and
 * whose layers are the records' layer blobs (plus, with mounts=true, one tar
 * per RUN --mount=type=cache folder, and one JSON blob with the COPY/ADD
 * source listings the records name, so that a miss on the importing machine
 * can name the changed file). Any registry that stores OCI manifests
 * stores it; skopeo/crane copy it like an image.
 */
export const CACHE_ARTIFACT_TYPE = 'application/vnd.strata.cache.v1+json';
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.strata.cache.config.v1+json';
/** A cache mount folder as a gzip tar. */
export const CACHE_MOUNT_MEDIA_TYPE = 'application/vnd.strata.cache.mount.v1.tar+gzip';
export const CACHE_FORMAT = 'strata.cache.v1';
/**
 * The source listings blob: `{format, sources: {<sources digest>: listing}}`
 * as gzip JSON (a 2000-file listing is ~88 KB of JSON, ~27 KB gzipped: path
 * names compress, the per-path digests do not).
 * A layer of its own, with its own format version, rather than a field of the
 * config: the config stays small (every importing build reads it), readers
 * that predate it ignore a layer they do not know, and an artifact without it
 * (written before listings were exported) imports as before, its misses
 * saying only "sources changed".
 */
export const CACHE_SOURCES_MEDIA_TYPE = 'application/vnd.strata.cache.sources.v1.json+gzip';
/** Listings larger than this, unpacked, are not read (a blob is verified by digest, not by what it unpacks to). */
const SOURCES_MAX_BYTES = 256 << 20;
export const CACHE_SOURCES_FORMAT = 'strata.cache.sources.v1';

/** A RUN --mount=type=cache folder in the artifact. */
export interface MountEntry {
  /** The mount's id (its target when no id was given). */
  readonly id: string;
  readonly digest: Digest;
  readonly size: number;
}

/** The config blob: the records (in build order) and the cache mounts. */
export interface CacheArtifactConfig {
  readonly format: typeof CACHE_FORMAT;
  readonly records: readonly CacheRecord[];
  readonly mounts?: readonly MountEntry[];
}

export interface EncodedArtifact {
  readonly config: { readonly descriptor: Descriptor; readonly bytes: Buffer };
  readonly manifest: { readonly descriptor: Descriptor; readonly bytes: Buffer; readonly value: Manifest };
  /** Layer blobs the manifest lists that come from the store: record layers, then mount tars. */
  readonly blobs: readonly Descriptor[];
  /** The source listings blob (the manifest's last layer), when a record names a listing that was given. */
  readonly sources?: { readonly descriptor: Descriptor; readonly bytes: Buffer; readonly count: number };
}

function sha256(bytes: Buffer): Digest {
  return parseDigest(`sha256:${createHash('sha256').update(bytes).digest('hex')}`);
}

/** The listings blob for the records' sources digests (each once, sorted: the same listings give the same bytes). */
function encodeSources(records: readonly CacheRecord[], listings: ReadonlyMap<string, SourceListing>): EncodedArtifact['sources'] {
  const digests = [...new Set(records.flatMap((r) => (r.inputs?.sources !== undefined && listings.has(r.inputs.sources) ? [r.inputs.sources] : [])))].sort();
  if (digests.length === 0) return undefined;
  const sources: Record<string, SourceListing> = {};
  for (const d of digests) sources[d] = listings.get(d) as SourceListing;
  // level 9 and no name/mtime in the header: the same listings give the same bytes (with the same zlib)
  const bytes = gzipSync(JSON.stringify({ format: CACHE_SOURCES_FORMAT, sources }), { level: 9 });
  return { descriptor: { mediaType: CACHE_SOURCES_MEDIA_TYPE, digest: sha256(bytes), size: bytes.length }, bytes, count: digests.length };
}

/**
 * Serializes records (and mount tars, and the source listings the records
 * name) into the config blob, listings blob and manifest. The same input gives
 * the same bytes.
 */
export function encodeArtifact(records: readonly CacheRecord[], mounts: readonly MountEntry[] = [], listings: ReadonlyMap<string, SourceListing> = new Map()): EncodedArtifact {
  const config: CacheArtifactConfig = { format: CACHE_FORMAT, records, ...(mounts.length === 0 ? {} : { mounts }) };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha256(configBytes), size: configBytes.length };
  const blobs: Descriptor[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (r.layer === undefined || seen.has(r.layer.digest)) continue;
    seen.add(r.layer.digest);
    blobs.push({ mediaType: r.layer.mediaType, digest: r.layer.digest, size: r.layer.size });
  }
  for (const m of mounts) {
    if (seen.has(m.digest)) continue;
    seen.add(m.digest);
    blobs.push({ mediaType: CACHE_MOUNT_MEDIA_TYPE, digest: m.digest, size: m.size, annotations: { 'dev.strata.cache.mount.id': m.id } });
  }
  const sources = encodeSources(records, listings);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: CACHE_ARTIFACT_TYPE,
    config: configDescriptor,
    layers: sources === undefined ? blobs : [...blobs, sources.descriptor],
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return {
    config: { descriptor: configDescriptor, bytes: configBytes },
    manifest: { descriptor: { mediaType: MediaType.ociManifest, digest: sha256(bytes), size: bytes.length, artifactType: CACHE_ARTIFACT_TYPE }, bytes, value: manifest },
    blobs,
    ...(sources === undefined ? {} : { sources }),
  };
}

/** Checks a fetched manifest is a strata cache artifact; returns its config descriptor. */
export function artifactConfigOf(manifest: Manifest, source: string): Descriptor {
  if (manifest.artifactType !== CACHE_ARTIFACT_TYPE && manifest.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw buildError(BuildErrors.cacheArtifact, [source, `it is not a strata build cache (artifactType ${manifest.artifactType ?? 'none'}, config ${manifest.config.mediaType})`]);
  }
  return manifest.config;
}

/** Parses the config blob; records that do not look like records are dropped (a miss, never a wrong hit). */
export function decodeArtifactConfig(bytes: Buffer, source: string): CacheArtifactConfig {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw buildError(BuildErrors.cacheArtifact, [source, 'its config is not JSON'], { cause: error });
  }
  const v = value as Partial<CacheArtifactConfig> | null;
  if (typeof v !== 'object' || v === null || v.format !== CACHE_FORMAT || !Array.isArray(v.records)) {
    throw buildError(BuildErrors.cacheArtifact, [source, `its config is not ${CACHE_FORMAT}`]);
  }
  const records = v.records.filter((r): r is CacheRecord => typeof r === 'object' && r !== null && isCacheKey((r as CacheRecord).key) && typeof (r as CacheRecord).createdAt === 'string');
  const mounts = Array.isArray(v.mounts) ? v.mounts.filter((m): m is MountEntry => typeof m?.id === 'string' && typeof m.digest === 'string' && typeof m.size === 'number') : [];
  return { format: CACHE_FORMAT, records, mounts };
}

/** The listings blob of an artifact manifest, or undefined (an artifact written before listings were exported). */
export function sourcesDescriptorOf(manifest: Manifest): Descriptor | undefined {
  return manifest.layers.find((l) => l.mediaType === CACHE_SOURCES_MEDIA_TYPE);
}

/**
 * Parses the listings blob. It only explains misses, so a blob of another
 * format version, one that does not unpack, or entries that are not listings, read as no listings (the
 * miss then says "sources changed"), never as an error.
 */
export function decodeSourceListings(bytes: Buffer): Map<string, SourceListing> {
  const out = new Map<string, SourceListing>();
  let value: { format?: unknown; sources?: unknown };
  try {
    value = JSON.parse(gunzipSync(bytes, { maxOutputLength: SOURCES_MAX_BYTES }).toString('utf8')) as { format?: unknown; sources?: unknown };
  } catch {
    return out;
  }
  if (typeof value !== 'object' || value === null || value.format !== CACHE_SOURCES_FORMAT || typeof value.sources !== 'object' || value.sources === null) return out;
  for (const [digest, listing] of Object.entries(value.sources as Record<string, unknown>)) {
    if (typeof listing !== 'object' || listing === null || Array.isArray(listing)) continue;
    if (Object.values(listing).every((v) => typeof v === 'string')) out.set(digest, listing as SourceListing);
  }
  return out;
}
