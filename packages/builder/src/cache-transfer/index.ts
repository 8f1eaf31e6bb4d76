export { parseCacheExport, parseCacheImport, describeLocation, type CacheLocation, type CacheExportSpec, type CacheImportSpec } from './spec.js';
export {
  CACHE_ARTIFACT_TYPE,
  CACHE_CONFIG_MEDIA_TYPE,
  CACHE_MOUNT_MEDIA_TYPE,
  CACHE_FORMAT,
  CACHE_SOURCES_MEDIA_TYPE,
  CACHE_SOURCES_FORMAT,
  encodeArtifact,
  decodeArtifactConfig,
  decodeSourceListings,
  sourcesDescriptorOf,
} from './artifact.js';
export type { CacheArtifactConfig, MountEntry, EncodedArtifact } from './artifact.js';
export type { CacheEndpoint, BlobOutcome } from './endpoint.js';
export type { CacheExportResult } from './export.js';
