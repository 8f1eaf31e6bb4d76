/**
 * The catalog of store errors. Codes are stable and documented in the README:
 * callers branch on `code`, never on message text or `instanceof`. Every error
 * this package throws is built from an entry here. Keep entries sorted by code.
 */
export interface ErrorRule<A extends unknown[]> {
  readonly code: string;
  readonly message: (...args: A) => string;
  readonly hint?: string;
}

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint?: string): ErrorRule<A> {
  return hint === undefined ? { code, message } : { code, message, hint };
}

export const CacheErrors = {
  blobNotFound: rule('CACHE_BLOB_NOT_FOUND', (digest: string) => `blob ${digest} is not in the store`,
    'Pull or rebuild the image that needs it; `strata verify` lists images with missing blobs.'),
  compressor: rule('CACHE_COMPRESSOR', (tool: string, detail: string) => `the ${tool} compressor failed: ${detail}`,
    'zstd layers need the zstd command on PATH (apt-get install zstd); gzip needs nothing.'),
  containerAmbiguous: rule('CACHE_CONTAINER_AMBIGUOUS', (prefix: string, count: number) => `the ID prefix '${prefix}' matches ${count} containers`,
    'Give more digits of the ID, or the container\'s name (`strata ps -a` lists both).'),
  containerConflict: rule('CACHE_CONTAINER_CONFLICT', (name: string, id: string) => `the container name "${name}" is already in use by container ${id}`,
    'Choose another --name, or remove that container first (strata rm NAME).'),
  containerNotFound: rule('CACHE_CONTAINER_NOT_FOUND', (word: string) => `no such container: ${word}`,
    '`strata ps -a` lists the containers of this store (STRATA_ROOT).'),
  corruptIndex: rule('CACHE_CORRUPT_INDEX', (path: string, detail: string) => `${path} is not a valid OCI index: ${detail}`,
    'Run `strata verify --repair` to rebuild it from the blobs that are still referenced.'),
  corruptRecord: rule('CACHE_CORRUPT_RECORD', (path: string, detail: string) => `${path} is damaged: ${detail}`,
    'The entry is ignored; `strata verify --repair` removes it.'),
  diskFull: rule('CACHE_DISK_FULL', (path: string) => `no space left on the device that holds ${path}`,
    'Free space: `strata prune` removes what no image uses (`--all` also the build cache); or set STRATA_ROOT to a folder on a larger disk. Nothing half-written was kept.'),
  integrity: rule('CACHE_INTEGRITY', (expected: string, found: string, expectedSize?: number, foundSize?: number) =>
    `content does not match its digest: expected ${expected}${expectedSize === undefined ? '' : ` (${expectedSize} bytes)`}, ` +
    `found ${found}${foundSize === undefined ? '' : ` (${foundSize} bytes)`}`,
    'The damaged copy was moved to the quarantine folder and will not be used again; pull or rebuild to fetch a good copy.'),
  internal: rule('CACHE_INTERNAL', (detail: string) => `internal store error: ${detail}`,
    'This is a bug in strata; please report it.'),
  invalidArgument: rule('CACHE_INVALID_ARGUMENT', (detail: string) => detail),
  invalidCacheKey: rule('CACHE_INVALID_KEY', (key: string) => `'${key}' is not a strata cache key`,
    'Cache keys look like strata.v1:sha256:<64 hex>; make them with makeCacheKey().'),
  invalidDigest: rule('CACHE_INVALID_DIGEST', (value: string) => `'${value}' is not a sha256 digest`,
    'A digest is sha256: followed by 64 lowercase hex characters.'),
  invalidReference: rule('CACHE_INVALID_REFERENCE', (ref: string, detail: string) => `invalid image reference '${ref}': ${detail}`,
    'References look like name[:tag] or registry.example:5000/path/name:tag, in lowercase.'),
  layerInvalid: rule('CACHE_LAYER_INVALID', (detail: string) => `the layer is not a readable tar archive: ${detail}`,
    'The layer blob is damaged or was not written by a container tool; nothing of it was unpacked. Pull or rebuild the image.'),
  layerTooLarge: rule('CACHE_LAYER_TOO_LARGE', (limit: number) => `the layer expands to more than ${limit} bytes (the limit)`,
    'A layer that big is more likely a decompression bomb than a real layer; if it is genuine, raise STRATA_MAX_LAYER_SIZE (bytes, or with a K, M, G or T suffix).'),
  lockTimeout: rule('CACHE_LOCK_TIMEOUT', (lock: string, holder: string) => `timed out waiting for the lock ${lock} held by ${holder}`,
    'Another strata process is using the store; wait for it, or stop it if it hangs.'),
  refNotFound: rule('CACHE_REF_NOT_FOUND', (ref: string) => `no image is tagged ${ref}`,
    'Pull or build it first; names are stored in full (docker.io/library/NAME:TAG).'),
  storeRoot: rule('CACHE_STORE_ROOT', (root: string, detail: string) => `cannot use ${root} as the store: ${detail}`,
    'Set STRATA_ROOT to a writable folder, or fix the permissions of this one.'),
  unsafePath: rule('CACHE_UNSAFE_PATH', (name: string, detail: string) => `layer entry '${name}' ${detail}`,
    'The layer tries to write outside its folder; it was rejected. Do not use layers from this source.'),
  unsupportedMediaType: rule('CACHE_UNSUPPORTED_MEDIA_TYPE', (mediaType: string) => `cannot unpack layers of media type ${mediaType}`,
    'strata unpacks uncompressed and gzip layers.'),
} as const;

/** Every error code this package can throw. */
export type CacheErrorCode = (typeof CacheErrors)[keyof typeof CacheErrors]['code'];

export interface CacheErrorOptions {
  readonly cause?: unknown;
  /** For CACHE_INTEGRITY: what the caller asked for and what the bytes hash to. */
  readonly expected?: string;
  readonly found?: string;
  readonly path?: string;
}

/** The only exception type this package throws. */
export class CacheError extends Error {
  override readonly name = 'CacheError';
  readonly code: string;
  readonly hint: string | undefined;
  readonly expected: string | undefined;
  readonly found: string | undefined;
  readonly path: string | undefined;

  constructor(code: string, message: string, hint?: string, options: CacheErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.expected = options.expected;
    this.found = options.found;
    this.path = options.path;
  }
}

/** Builds a CacheError from a catalog entry. */
export function cacheError<A extends unknown[]>(entry: ErrorRule<A>, args: A, options: CacheErrorOptions = {}): CacheError {
  return new CacheError(entry.code, entry.message(...args), entry.hint, options);
}

/** True for a CacheError, also one thrown by another installed copy of this package. */
export function isCacheError(value: unknown): value is CacheError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === 'CacheError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}

/** The errno code of a Node system error (ENOENT, EEXIST…), if it is one. */
export function errnoCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A write that failed for want of space (ENOSPC, or EDQUOT: a quota) as
 * CACHE_DISK_FULL naming the store folder; other errors unchanged.
 */
export function diskFullOr(error: unknown, path: string): unknown {
  const code = errnoCode(error);
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return error;
  return cacheError(CacheErrors.diskFull, [path], { cause: error, path });
}
