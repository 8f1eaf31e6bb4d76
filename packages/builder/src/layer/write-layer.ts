/**
 * writeLayer: a layer directory -> a deterministic, compressed layer tar,
 * streamed once: the tar's sha256 (diffID) is taken before compression and
 * the blob's sha256 (digest) after it, in the same pass that writes the sink.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, readSync, writeSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestTap, type DiffId, type Digest } from '@strata/cache';
import { buildError, BuildError } from '../errors.js';
import { checkLevel, createCompressor, LAYER_MEDIA_TYPES, type LayerCompression } from './compress.js';
import { LayerErrors } from './errors.js';
import { scanLayerDir, type LayerEntry } from './scan.js';
import { BLOCK, encodeHeader, endOfArchive, padding } from './tar-header.js';

export interface WriteLayerOptions {
  /** Where the compressed blob goes: a file path (created or truncated) or a Writable (ended when done). */
  readonly output: string | Writable;
  /** Default gzip. */
  readonly compression?: LayerCompression;
  /** gzip 1-9 (default 1), zstd 1-19 (default 3). */
  readonly level?: number;
  /** When set, no entry's mtime is later than this (seconds since the epoch). */
  readonly sourceDateEpoch?: number;
  readonly signal?: AbortSignal;
  /** The zstd program (default `zstd`, found on PATH). */
  readonly zstdCommand?: string;
}

export interface LayerWriteResult {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids entry). */
  readonly diffId: DiffId;
  /** sha256 of the bytes written to the output. */
  readonly digest: Digest;
  /** Bytes written to the output. */
  readonly size: number;
  /** Bytes of the uncompressed tar. */
  readonly uncompressedSize: number;
  readonly mediaType: string;
  readonly compression: LayerCompression;
  /** Entries in the tar (PAX headers not counted). */
  readonly entries: number;
  /** Bytes of the regular files' contents. */
  readonly contentBytes: number;
  /** True when the directory held nothing: the step adds history with `empty_layer` and no layer. */
  readonly empty: boolean;
  /** Paths a tar cannot carry (sockets), left out. */
  readonly skipped: readonly string[];
}

/** Bytes handed downstream at a time: big enough that per-chunk costs vanish. */
const CHUNK = 1 << 20;

/** Fills fixed-size buffers with the archive and yields each one as it fills. */
class Chunker {
  private buf: Buffer = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  readonly full: Buffer[] = [];
  /** Buffers the consumer is done with (a synchronous consumer hands them back): no allocation, no GC churn. */
  readonly spare: Buffer[] = [];

  put(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const n = Math.min(data.length - offset, CHUNK - this.pos);
      data.copy(this.buf, this.pos, offset, offset + n);
      this.pos += n;
      offset += n;
      if (this.pos === CHUNK) this.rotate();
    }
  }

  zeros(count: number): void {
    let left = count;
    while (left > 0) {
      const n = Math.min(left, CHUNK - this.pos);
      this.buf.fill(0, this.pos, this.pos + n);
      this.pos += n;
      left -= n;
      if (this.pos === CHUNK) this.rotate();
    }
  }

  /** Reads `size` bytes of `fd` straight into the chunk buffers. Returns false when the file ended early. */
  readFrom(fd: number, size: number): boolean {
    let left = size;
    while (left > 0) {
      const n = readSync(fd, this.buf, this.pos, Math.min(left, CHUNK - this.pos), null);
      if (n === 0) return false;
      this.pos += n;
      left -= n;
      if (this.pos === CHUNK) this.rotate();
    }
    return true;
  }

  rest(): Buffer | undefined {
    return this.pos === 0 ? undefined : this.buf.subarray(0, this.pos);
  }

  private rotate(): void {
    this.full.push(this.buf);
    this.buf = this.spare.pop() ?? Buffer.allocUnsafe(CHUNK);
    this.pos = 0;
  }
}

function clamp(mtime: number, sourceDateEpoch: number | undefined): number {
  return sourceDateEpoch !== undefined && mtime > sourceDateEpoch ? sourceDateEpoch : mtime;
}

function copyContent(out: Chunker, entry: LayerEntry): void {
  const source = entry.source as string;
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (cause) {
    throw buildError(LayerErrors.read, [entry.path, (cause as Error).message], { cause });
  }
  try {
    if (!out.readFrom(fd, entry.size)) throw buildError(LayerErrors.changed, [entry.path]);
  } catch (cause) {
    if (cause instanceof BuildError) throw cause;
    throw buildError(LayerErrors.read, [entry.path, (cause as Error).message], { cause });
  } finally {
    closeSync(fd);
  }
}

/**
 * The archive's bytes, in chunks of CHUNK bytes (the last one shorter). With
 * `reuse`, a chunk's buffer is written over once the consumer asks for the
 * next one: for consumers that are done with a chunk when they ask again.
 */
export function* tarChunks(entries: readonly LayerEntry[], sourceDateEpoch: number | undefined, reuse = false): Generator<Buffer> {
  const out = new Chunker();
  for (const entry of entries) {
    out.put(encodeHeader({ ...entry, mtime: clamp(entry.mtime, sourceDateEpoch) }));
    if (entry.type === 'file' && entry.size > 0) {
      copyContent(out, entry);
      out.zeros(padding(entry.size));
    }
    while (out.full.length > 0) {
      const chunk = out.full.shift() as Buffer;
      yield chunk;
      if (reuse) out.spare.push(chunk);
    }
  }
  out.put(endOfArchive());
  while (out.full.length > 0) yield out.full.shift() as Buffer;
  const rest = out.rest();
  if (rest !== undefined) yield rest;
}

function checkOptions(options: WriteLayerOptions): { compression: LayerCompression; level: number | undefined } {
  const compression = options.compression ?? 'gzip';
  if (!(compression in LAYER_MEDIA_TYPES)) throw buildError(LayerErrors.options, [`unknown compression ${JSON.stringify(compression)}`]);
  const epoch = options.sourceDateEpoch;
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0)) {
    throw buildError(LayerErrors.options, [`SOURCE_DATE_EPOCH ${epoch} is not a whole number of seconds >= 0`]);
  }
  return { compression, level: checkLevel(compression, options.level) };
}

/**
 * Writes the layer that `dir` stands for to `options.output`. `dir` is an
 * overlayfs upper directory (whiteouts and opaque directories are translated)
 * or a plain folder; the folder itself is not an entry. Entries are sorted by
 * path bytes; owners are numeric; mtimes are whole seconds, clamped to
 * `sourceDateEpoch` when given; no atime, ctime, uname or gname. The same tree
 * gives the same diffID, and with the same compressor version, the same digest.
 */
export async function writeLayer(dir: string, options: WriteLayerOptions): Promise<LayerWriteResult> {
  const { compression, level } = checkOptions(options);
  const { entries, skipped } = scanLayerDir(dir);
  if (compression === 'none' && typeof options.output === 'string') return writeTarFile(entries, skipped, options.output, options);
  const tarHash = new DigestTap();
  const blobHash = new DigestTap();
  const sink = typeof options.output === 'string' ? createWriteStream(options.output, { flags: 'w' }) : options.output;
  const source = Readable.from(tarChunks(entries, options.sourceDateEpoch), { objectMode: false, highWaterMark: 4 * CHUNK });
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  try {
    if (compression === 'none') {
      await pipeline(source, tarHash, sink, signal);
    } else {
      const compressor = createCompressor(compression, level, options.zstdCommand);
      try {
        await pipeline(source, tarHash, compressor.stream, blobHash, sink, signal);
      } catch (error) {
        // Our own errors (a file that changed, a read that failed) say what happened;
        // otherwise a compressor that failed says why better than the broken pipe it left.
        if (error instanceof BuildError || options.signal?.aborted === true) throw error;
        const failure: unknown = await compressor.done.then(
          () => undefined,
          (e: unknown) => e,
        );
        throw failure ?? error;
      }
      await compressor.done;
    }
  } catch (error) {
    // A failed or aborted write leaves no file behind, and nothing that opens one later.
    if (typeof options.output === 'string') {
      const file = sink as WriteStream;
      if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      await rm(options.output, { force: true });
    }
    throw error;
  }
  const diffId = tarHash.digest() as string as DiffId;
  const digest = compression === 'none' ? (diffId as string as Digest) : blobHash.digest();
  const size = compression === 'none' ? tarHash.size : blobHash.size;
  return result(entries, skipped, { diffId, digest, size, uncompressedSize: tarHash.size, compression });
}

function result(
  entries: readonly LayerEntry[],
  skipped: readonly string[],
  bytes: { diffId: DiffId; digest: Digest; size: number; uncompressedSize: number; compression: LayerCompression },
): LayerWriteResult {
  return {
    ...bytes,
    mediaType: LAYER_MEDIA_TYPES[bytes.compression],
    entries: entries.length,
    contentBytes: entries.reduce((sum, e) => (e.type === 'file' ? sum + e.size : sum), 0),
    empty: entries.length === 0,
    skipped,
  };
}

/** How long writeTarFile writes with blocking calls before it lets the event loop run (signals, progress). */
const YIELD_EVERY_MS = 25;

/**
 * The uncompressed layer into a file: blocking writes from reused buffers,
 * hashed on the way (the build path's layer: no stream plumbing, no garbage
 * per chunk). The caller fsyncs (the store does, when it takes the file).
 */
async function writeTarFile(entries: readonly LayerEntry[], skipped: readonly string[], file: string, options: WriteLayerOptions): Promise<LayerWriteResult> {
  const hash = createHash('sha256');
  let size = 0;
  const fd = openSync(file, 'w', 0o644);
  try {
    let since = performance.now();
    for (const chunk of tarChunks(entries, options.sourceDateEpoch, true)) {
      hash.update(chunk);
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
      size += chunk.length;
      if (performance.now() - since >= YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (options.signal?.aborted === true) throw options.signal.reason;
        since = performance.now();
      }
    }
  } catch (error) {
    closeSync(fd);
    await rm(file, { force: true });
    throw error;
  }
  closeSync(fd);
  const diffId = `sha256:${hash.digest('hex')}` as DiffId;
  return result(entries, skipped, { diffId, digest: diffId as Digest, size, uncompressedSize: size, compression: 'none' });
}
