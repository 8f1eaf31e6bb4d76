import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { finished, Readable, Transform, type TransformCallback } from 'node:stream';
import ssri from 'ssri';
import { digestFromHex, digestHex, isDigest, type Digest } from '../digest.js';
import { cacheError, CacheErrors, diskFullOr, errnoCode, type CacheError } from '../errors.js';
import { fsyncDir, markUsed, tempName } from '../fs-util.js';
import type { BlobInfo, BlobStat, ContentStore, GetBlobOptions, PutBlobOptions, PutBlobResult, BlobSource } from './content-store.js';
import { openBlobWriter, type BlobWriter } from './blob-writer.js';
import { chunksOf, discardSource, isBufferSource } from './source.js';

/** Events the disk store reports; the Store forwards them to its `onEvent`. */
export type ContentEvent =
  | { readonly type: 'blob-written'; readonly digest: Digest; readonly size: number }
  | { readonly type: 'blob-quarantined'; readonly digest: Digest; readonly found: string; readonly path: string };

export interface DiskContentStoreOptions {
  /** blobs/sha256 */
  readonly blobs: string;
  /** Temp folder on the same filesystem. */
  readonly tmp: string;
  /** Where blobs that fail verification are moved. */
  readonly quarantine: string;
  readonly onEvent?: (event: ContentEvent) => void;
}

const BATCH = 1 << 20;
/** Stream writes of at least this many expected bytes are hashed and written by a worker thread (blob-writer.ts). */
const WORKER_MIN = 4 << 20;

/**
 * Blobs as files named by their hex digest. Writes go to a temp file that is
 * hashed while written (a large stream's on a worker thread: blob-writer.ts),
 * checked against the expected digest, fsynced and renamed into place (then
 * the folder is fsynced); reads are hashed as they stream and a mismatch
 * moves the file to quarantine so that it is never served again.
 */
export class DiskContentStore implements ContentStore {
  readonly #opts: DiskContentStoreOptions;

  constructor(options: DiskContentStoreOptions) {
    this.#opts = options;
  }

  /** The file that holds a blob. */
  blobPath(digest: Digest): string {
    return join(this.#opts.blobs, digestHex(digest));
  }

  async putBlob(source: BlobSource, options: PutBlobOptions = {}): Promise<PutBlobResult> {
    const expected = options.expected;
    if (expected !== undefined) {
      const have = await this.statBlob(expected.digest);
      if (have !== undefined && (expected.size === undefined || expected.size === have.size)) {
        discardSource(source);
        await this.#touch(expected.digest);
        return { digest: expected.digest, size: have.size, written: false };
      }
    }
    const tmp = join(this.#opts.tmp, tempName('blob'));
    const handle = await open(tmp, 'wx', 0o644).catch((error: unknown) => Promise.reject(diskFullOr(error, this.#opts.blobs)));
    let digest: Digest;
    let size = 0;
    let writing: Promise<void> | undefined;
    // a large stream (a layer download) is hashed and written by a worker thread, off this one
    const writer = !isBufferSource(source) && expected?.size !== undefined && expected.size >= WORKER_MIN
      ? await openBlobWriter(tmp)
      : undefined;
    try {
      const hash = createHash('sha256');
      if (isBufferSource(source)) {
        const data = typeof source === 'string' ? Buffer.from(source, 'utf8') : source;
        hash.update(data);
        size = data.length;
        await writeAll(handle, [data]);
      } else if (writer !== undefined) {
        if (source instanceof Readable) {
          size = await pump(source, writer);
        } else {
          for await (const chunk of chunksOf(source)) {
            size += chunk.length;
            const full = writer.write(chunk);
            if (full !== undefined) await full;
          }
        }
      } else {
        let batch: Uint8Array[] = [];
        let batched = 0;
        try {
          for await (const chunk of chunksOf(source)) {
            hash.update(chunk);
            size += chunk.length;
            batch.push(chunk);
            batched += chunk.length;
            if (batched >= BATCH) {
              // one write in flight while the next batch is read: the source (a download) keeps flowing
              if (writing !== undefined) await writing;
              writing = writeAll(handle, batch);
              writing.catch(() => undefined);
              batch = [];
              batched = 0;
            }
          }
        } finally {
          // settle the write in flight before going on (or before the handle is closed on failure)
          if (writing !== undefined) await writing;
        }
        if (batch.length > 0) await writeAll(handle, batch);
      }
      let hex: string;
      if (writer !== undefined) {
        const written = await writer.end();
        if (written.size !== size) throw cacheError(CacheErrors.internal, [`the blob writer thread wrote ${written.size} of ${size} bytes to ${tmp}`]);
        hex = written.hex;
      } else {
        hex = hash.digest('hex');
      }
      digest = `sha256:${hex}` as Digest;
      if (expected !== undefined && (digest !== expected.digest || (expected.size !== undefined && expected.size !== size))) {
        throw cacheError(CacheErrors.integrity, [expected.digest, digest, expected.size, size], { expected: expected.digest, found: digest });
      }
      await handle.sync();
    } catch (error) {
      writer?.abort();
      await handle.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw diskFullOr(error, this.#opts.blobs);
    }
    await handle.close();
    const final = this.blobPath(digest);
    const existed = (await stat(final).catch(() => undefined)) !== undefined;
    // Renamed over an existing copy too: the bytes just hashed are known good, the old file may not be.
    try {
      await rename(tmp, final);
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
    await fsyncDir(this.#opts.blobs);
    if (!existed) this.#opts.onEvent?.({ type: 'blob-written', digest, size });
    return { digest, size, written: !existed };
  }

  /**
   * Stores a file the caller wrote and hashed itself (a layer tar the builder
   * streamed through sha256), without reading it again: the file, which must
   * be in the store's tmp folder, is fsynced and renamed into place. A blob
   * already stored wins and the file is removed.
   */
  async putBlobFile(file: string, known: BlobInfo): Promise<PutBlobResult> {
    const final = this.blobPath(known.digest);
    try {
      const have = await this.statBlob(known.digest);
      if (have !== undefined && have.size === known.size) {
        await this.#touch(known.digest);
        return { digest: known.digest, size: have.size, written: false };
      }
      const handle = await open(file, 'r+');
      try {
        const facts = await handle.stat();
        // the caller wrote the file and says what it wrote: another size is a bug, not damage to quarantine
        if (facts.size !== known.size) throw cacheError(CacheErrors.internal, [`${file} holds ${facts.size} bytes, not the ${known.size} of ${known.digest}`]);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(file, final);
    } catch (error) {
      throw diskFullOr(error, this.#opts.blobs);
    } finally {
      await unlink(file).catch(() => undefined);
    }
    await fsyncDir(this.#opts.blobs);
    this.#opts.onEvent?.({ type: 'blob-written', digest: known.digest, size: known.size });
    return { digest: known.digest, size: known.size, written: true };
  }

  async getBlob(digest: Digest, options: GetBlobOptions = {}): Promise<Readable> {
    const path = this.blobPath(digest);
    const handle = await this.#openBlob(digest);
    let facts;
    try {
      facts = await handle.stat();
    } catch (error) {
      await handle.close();
      throw error;
    }
    const { ino, size } = facts;
    const hash = createHash('sha256');
    let seen = 0;
    const check = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        hash.update(chunk);
        seen += chunk.length;
        callback(null, chunk);
      },
      flush: (callback: TransformCallback) => {
        const found = `sha256:${hash.digest('hex')}`;
        if (found === digest && (options.size === undefined || options.size === seen)) {
          callback();
          return;
        }
        const fail = (error: CacheError) => callback(error);
        if (found !== digest) {
          this.#quarantine(digest, path, ino, found).then(
            () => fail(integrityError(digest, found, options.size, seen)),
            () => fail(integrityError(digest, found, options.size, seen)),
          );
        } else {
          fail(integrityError(digest, found, options.size, seen));
        }
      },
    });
    const source = handle.createReadStream({ highWaterMark: size > BATCH ? BATCH : 64 * 1024 });
    source.on('error', (error) => check.destroy(error));
    // a reader that stops early (a refused layer) destroys `check`: the file handle closes with it
    check.on('close', () => source.destroy());
    return source.pipe(check);
  }

  async readBlob(digest: Digest, options: GetBlobOptions = {}): Promise<Buffer> {
    const path = this.blobPath(digest);
    // blocking calls: the documents read whole (manifests, configs) are small, and a build reads several
    // per step; four thread-pool round trips each cost more than the reads (a no-op rebuild waited on them)
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw cacheError(CacheErrors.blobNotFound, [digest], { cause: error });
      throw error;
    }
    let data: Buffer;
    let ino: number;
    try {
      ino = fstatSync(fd).ino;
      data = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
    const integrity = ssri.fromHex(digestHex(digest), 'sha256');
    try {
      ssri.checkData(data, integrity, { error: true });
    } catch (cause) {
      // ssri's EINTEGRITY becomes the cause of CACHE_INTEGRITY.
      const found = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      await this.#quarantine(digest, path, ino, found);
      throw integrityError(digest, found, options.size, data.length, cause);
    }
    if (options.size !== undefined && options.size !== data.length) throw integrityError(digest, digest, options.size, data.length);
    return data;
  }

  async statBlob(digest: Digest): Promise<BlobStat | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { size: s.size, mtimeMs: s.mtimeMs };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return (await this.statBlob(digest)) !== undefined;
  }

  async deleteBlob(digest: Digest): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  async listBlobs(): Promise<Digest[]> {
    const names = await readdir(this.#opts.blobs);
    return names.filter((name) => isDigest(`sha256:${name}`)).map(digestFromHex).sort();
  }

  /**
   * Moves a blob that failed verification aside, unless the file under its
   * name is no longer the one that was read (another writer replaced it).
   */
  async #quarantine(digest: Digest, path: string, ino: number, found: string): Promise<void> {
    const current = await stat(path).catch(() => undefined);
    if (current === undefined || current.ino !== ino) return;
    const dest = join(this.#opts.quarantine, `${digestHex(digest)}.${Date.now()}.${found.slice(7, 19)}`);
    await rename(path, dest);
    await fsyncDir(this.#opts.blobs);
    this.#opts.onEvent?.({ type: 'blob-quarantined', digest, found, path: dest });
  }

  async #openBlob(digest: Digest): Promise<FileHandle> {
    try {
      return await open(this.blobPath(digest), 'r');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') throw cacheError(CacheErrors.blobNotFound, [digest], { cause: error });
      throw error;
    }
  }

  /** Marks a blob used (prune's grace period reads its mtime), at most once a minute: a no-op rebuild writes nothing. */
  async #touch(digest: Digest): Promise<void> {
    markUsed(this.blobPath(digest));
  }
}

function integrityError(expected: string, found: string, expectedSize: number | undefined, foundSize: number, cause?: unknown): CacheError {
  return cacheError(CacheErrors.integrity, [expected, found, expectedSize, foundSize], { expected, found, ...(cause === undefined ? {} : { cause }) });
}

/**
 * Feeds a stream's chunks to a blob writer as they arrive ('data' events: no
 * promise or iterator step a chunk), pausing it while the writer is full;
 * resolves the byte count once the stream ended and the writer took every
 * chunk. On a failure the stream is destroyed.
 */
function pump(stream: Readable, writer: BlobWriter): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let size = 0;
    let failed = false;
    /** The writer's room for the rest of a chunk, while the stream is paused for it. */
    let room: Promise<void> | undefined;
    const fail = (error: unknown): void => {
      if (failed) return;
      failed = true;
      stream.off('data', onData);
      stream.destroy();
      reject(error);
    };
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      size += bytes.length;
      let full: Promise<void> | undefined;
      try {
        full = writer.write(bytes);
      } catch (error) {
        fail(error);
        return;
      }
      if (full === undefined) return;
      stream.pause();
      room = full.then(() => {
        room = undefined;
        if (!failed) stream.resume();
      });
      room.catch(fail);
    };
    finished(stream, (error) => {
      if (failed) return;
      if (error) {
        fail(error);
        return;
      }
      // the last chunk may still be waiting for room: the end is when the writer has taken it
      void Promise.resolve(room).then(() => {
        if (failed) return;
        failed = true;
        resolve(size);
      }, fail);
    });
    stream.on('data', onData);
    // a stream handed over paused (a download, see @strata/registry's openBlob) flows now
    stream.resume();
  });
}

async function writeAll(handle: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let pending = chunks;
  while (pending.length > 0) {
    const total = pending.reduce((n, c) => n + c.length, 0);
    const { bytesWritten } = await handle.writev(pending);
    if (bytesWritten === total) return;
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const chunk of pending) {
      if (skip >= chunk.length) {
        skip -= chunk.length;
        continue;
      }
      rest.push(skip > 0 ? chunk.subarray(skip) : chunk);
      skip = 0;
    }
    pending = rest;
  }
}
