export { Store, type StoreEvent, type StoreOptions } from './store.js';
export {
  chainIdOf,
  chainIdsOf,
  digestFromHex,
  digestHex,
  digestAlgorithm,
  digestOf,
  isDigest,
  isOciDigest,
  parseChainId,
  DigestTap,
  parseDiffId,
  parseDigest,
  type ChainId,
  type DiffId,
  type Digest,
  type DigestAlgorithm,
} from './digest.js';
export { CacheError, CacheErrors, cacheError, diskFullOr, isCacheError, type CacheErrorCode, type ErrorRule } from './errors.js';
export {
  MediaType,
  REF_NAME_ANNOTATION,
  isIndexMediaType,
  isManifestMediaType,
  type ContainerConfig,
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type Index,
  type KnownMediaType,
  type Manifest,
  type Platform,
} from './oci.js';
export { defaultStoreRoot, storePaths, type StorePaths } from './layout.js';
export {
  DEFAULT_TAG,
  DOCKER_HUB,
  checkReference,
  formatReference,
  formatRepository,
  normalizeReference,
  parseReference,
  type FormatReferenceOptions,
  type ParseReferenceOptions,
  type Reference,
} from './reference.js';
export { normalizeRepoDigest } from './repo-digests.js';
export type { TaggedImage } from './refs.js';
export {
  isCacheKey,
  makeCacheKey,
  parseCacheKey,
  type CacheKey,
  type CacheRecord,
  type CacheRecordInput,
  type KeyInputs,
  type SourceListing,
  type LayerRecord,
  type RemoteSource,
  type StoredRecord,
} from './records.js';
export { ContentMemo, RACY_NS, factsOf, hashFileContent, pruneMemoTables, type MemoPruneResult, type FileFacts, type HashFileOptions, type HashFileResult, type MemoOptions } from './memo.js';
export type { BlobInfo, BlobSource, BlobStat, ContentStore, GetBlobOptions, PutBlobOptions, PutBlobResult } from './content/content-store.js';
export { DiskContentStore, type ContentEvent } from './content/disk.js';
export { openBlobWriter, type BlobWriter } from './content/blob-writer.js';
export { MemoryContentStore } from './content/memory.js';
export { tempName } from './fs-util.js';
export { acquireLock, withLock, type LockHandle, type LockOptions } from './lock.js';
export { cacheMountDir, holdCacheMount, type CacheMountHold, type CacheMountSharing, type HoldCacheMountOptions } from './cache-mount-holds.js';
export {
  ContainerStore,
  type ContainerProcess,
  type ContainerRecord,
  type ContainerStatus,
  type ContainerVolume,
  type NewContainer,
} from './containers.js';
export { SNAPSHOT_LAYER_INDEX, SNAPSHOT_OVERLAY_MARK, SnapshotStore, type AdoptOptions, type SnapshotInfo, type UnpackOptions } from './snapshots.js';
export {
  DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, LAYER_MEDIA_TYPES, createCompressor, createDecompressor, layerCompressionOf,
  type Compressor, type CompressorOptions, type LayerCompression,
} from './compression/compress.js';
export { parallelGzipAvailable } from './compression/parallel-gzip.js';
export {
  EXPORT_CONCURRENCY, RECOMPRESS_KEY_TAG, conversionKey, exportForm, exportLayers, rememberedLayer,
  type ExportCompression, type ExportForm, type ExportFormOptions, type LayerExport, type StoredLayer,
} from './compression/export-form.js';
export { isTarHeader } from './archive/tar-io.js';
export { DEFAULT_MAX_LAYER_SIZE, extractLayer, maxLayerSizeFromEnv, safeEntryPath, type ExtractOptions, type Unpacked } from './unpack.js';
export { DEFAULT_GRACE_MS, pruneStore, type PruneOptions, type PruneResult } from './gc.js';
export { diskUsage, type DiskUsage, type UsageBucket } from './usage.js';
export { forEachLimit, limiter } from './concurrency.js';
export { verifyStore, type VerifyOptions, type VerifyProblem, type VerifyProblemKind, type VerifyResult } from './verify.js';
export {
  ArchiveErrors, CONTAINERD_NAME_ANNOTATION, exportImages, familiarName, importArchive, importImages, importLayout, importRootfs,
  listImages, readImage, readIndexOf, saveImages, splitName,
  type ArchiveFormat, type ArchiveKind, type ExportImage, type ExportOptions, type ImageSummary, type ImportOptions, type ImportResult,
  type ImportRootfsOptions, type ImportRootfsResult, type LoadedImage, type PlatformChooser, type ReadImageOptions, type SavedImage, type StoredImage,
} from './archive/index.js';
