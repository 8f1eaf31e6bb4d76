import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { digestOf, type Digest } from '../digest.js';
import { cacheError, CacheErrors } from '../errors.js';
import type { BlobStat, ContentStore, GetBlobOptions, PutBlobOptions, PutBlobResult, BlobSource } from './content-store.js';
import { chunksOf, discardSource } from './source.js';

/** A ContentStore in memory, for tests of code that stores blobs. Same contract as the disk store. */
export class MemoryContentStore implements ContentStore {
  readonly #blobs = new Map<Digest, { data: Buffer; mtimeMs: number }>();

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<PutBlobResult> {
    const expected = options.expected;
    if (expected !== undefined) {
      const have = this.#blobs.get(expected.digest);
      if (have !== undefined && (expected.size === undefined || expected.size === have.data.length)) {
        discardSource(source);
        have.mtimeMs = Date.now();
        return { digest: expected.digest, size: have.data.length, written: false };
      }
    }
    const parts: Buffer[] = [];
    const hash = createHash('sha256');
    for await (const chunk of chunksOf(source)) {
      hash.update(chunk);
      parts.push(Buffer.from(chunk));
    }
    const data = Buffer.concat(parts);
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    if (expected !== undefined && (digest !== expected.digest || (expected.size !== undefined && expected.size !== data.length))) {
      throw cacheError(CacheErrors.integrity, [expected.digest, digest, expected.size, data.length], { expected: expected.digest, found: digest });
    }
    const existing = this.#blobs.get(digest);
    this.#blobs.set(digest, { data, mtimeMs: Date.now() });
    return { digest, size: data.length, written: existing === undefined };
  }

  async readBlob(digest: Digest, options: GetBlobOptions = {}): Promise<Buffer> {
    const blob = this.#blobs.get(digest);
    if (blob === undefined) throw cacheError(CacheErrors.blobNotFound, [digest]);
    const found = digestOf(blob.data);
    if (found !== digest || (options.size !== undefined && options.size !== blob.data.length)) {
      if (found !== digest) this.#blobs.delete(digest);
      throw cacheError(CacheErrors.integrity, [digest, found, options.size, blob.data.length], { expected: digest, found });
    }
    return Buffer.from(blob.data);
  }

  async getBlob(digest: Digest, options: GetBlobOptions = {}): Promise<Readable> {
    return Readable.from([await this.readBlob(digest, options)]);
  }

  async statBlob(digest: Digest): Promise<BlobStat | undefined> {
    const blob = this.#blobs.get(digest);
    return blob === undefined ? undefined : { size: blob.data.length, mtimeMs: blob.mtimeMs };
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return this.#blobs.has(digest);
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    return this.#blobs.delete(digest);
  }

  async listBlobs(): Promise<Digest[]> {
    return [...this.#blobs.keys()].sort();
  }

  /** Test hook: replaces a blob's bytes without changing its name, as disk corruption would. */
  corruptForTesting(digest: Digest, data: Uint8Array): void {
    this.#blobs.set(digest, { data: Buffer.from(data), mtimeMs: Date.now() });
  }
}
