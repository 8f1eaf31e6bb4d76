import type { Readable } from 'node:stream';
import type { Digest } from '../digest.js';

/** Bytes to store: a buffer, a string (UTF-8), a Node stream or any async iterable of chunks. */
export type BlobSource = Uint8Array | string | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

export interface BlobInfo {
  readonly digest: Digest;
  readonly size: number;
}

export interface PutBlobOptions {
  /**
   * What the caller knows the bytes must hash to (a descriptor from a registry).
   * When a blob with this digest is already stored the source is not read;
   * otherwise a mismatch throws CACHE_INTEGRITY and nothing is stored.
   */
  readonly expected?: { readonly digest: Digest; readonly size?: number };
}

export interface PutBlobResult extends BlobInfo {
  /** False when the blob was already in the store. */
  readonly written: boolean;
}

export interface GetBlobOptions {
  /** The size the caller's descriptor gives; a different size is CACHE_INTEGRITY. */
  readonly size?: number;
}

export interface BlobStat {
  readonly size: number;
  /** Last write or last re-put: what prune's grace period looks at. */
  readonly mtimeMs: number;
}

/**
 * Content-addressed blob storage. Two implementations share this contract
 * (and its test suite): the disk store inside an OCI layout, and a memory
 * store for tests of code built on top.
 */
export interface ContentStore {
  putBlob(source: BlobSource, options?: PutBlobOptions): Promise<PutBlobResult>;
  /** A stream of the blob's bytes that fails with CACHE_INTEGRITY at its end when they do not match the digest. */
  getBlob(digest: Digest, options?: GetBlobOptions): Promise<Readable>;
  /** The whole blob, verified. */
  readBlob(digest: Digest, options?: GetBlobOptions): Promise<Buffer>;
  statBlob(digest: Digest): Promise<BlobStat | undefined>;
  hasBlob(digest: Digest): Promise<boolean>;
  deleteBlob(digest: Digest): Promise<boolean>;
  listBlobs(): Promise<Digest[]>;
}
