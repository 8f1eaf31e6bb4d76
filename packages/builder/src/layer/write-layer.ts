/**
 * writeLayer: a layer directory -> a deterministic, compressed layer tar,
 * streamed once: the tar's sha256 (diffID) is taken before compression and
 * the blob's sha256 (digest) after it, in the same pass that writes the sink.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fdatasync, fstatSync, openSync, readSync, writeSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestTap, openBlobWriter, type DiffId, type Digest } from '@strata/cache';
import { buildError, BuildError } from '../errors.js';
import { checkLevel, createCompressor, LAYER_MEDIA_TYPES, type LayerCompression } from './compress.js';
import { LayerErrors } from './errors.js';
import type { IndexedEntry, LayerIndex } from './layer-index.js';
import { scanLayerDir, type KnownFile, type LayerEntry, type ScanOptions } from './scan.js';
import { encodeHeader, endOfArchive, padding } from './tar-header.js';

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
  /**
   * An uncompressed tar file output only: the layer this one is a new
   * version of (an incremental COPY). Runs of entries whose facts match the
   * old index (and whose content `kept` says is untouched) are copied out of
   * the old blob instead of being read file by file, and the scan takes the
   * facts of kept files from the index.
   */
  readonly previous?: PreviousLayer;
  /**
   * Regular files whose facts (and bytes) the caller knows because it just
   * wrote them through a descriptor (a COPY): the scan does not stat them or
   * list their attributes, and the tar takes their bytes from memory. Only
   * for files with one name and no extended attributes.
   */
  readonly known?: (path: string) => KnownFile | undefined;
}

/** The last version of a layer, for writing its next version from the changes. */
export interface PreviousLayer {
  /** The old layer's uncompressed tar (its blob in the store). */
  readonly blob: string;
  readonly index: LayerIndex;
  /** Whether the regular file at a tar path is untouched since the old layer was written. */
  readonly kept: (path: string) => boolean;
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
  /** An uncompressed tar file output: where each entry lies in it (kept beside the layer's snapshot). */
  readonly index?: LayerIndex;
  /** With `previous`: bytes copied out of the old blob rather than made from files. */
  readonly reusedBytes?: number;
}

/** Bytes handed downstream at a time: big enough that per-chunk costs vanish. */
const CHUNK = 1 << 20;
/** The longest run of an old layer's bytes read before its chunks are handed downstream. */
const RUN_BYTES = 8 * CHUNK;

/** Fills fixed-size buffers with the archive and yields each one as it fills. */
class Chunker {
  private buf: Buffer = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  /** Bytes put so far. */
  written = 0;
  readonly full: Buffer[] = [];
  /** Buffers the consumer is done with (a synchronous consumer hands them back): no allocation, no GC churn. */
  readonly spare: Buffer[] = [];

  put(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      const n = Math.min(data.length - offset, CHUNK - this.pos);
      data.copy(this.buf, this.pos, offset, offset + n);
      this.pos += n;
      this.written += n;
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
      this.written += n;
      left -= n;
      if (this.pos === CHUNK) this.rotate();
    }
  }

  /**
   * Reads `size` bytes of `fd` (from `position`, or from where the file is)
   * straight into the chunk buffers. Returns false when the file ended early.
   */
  readFrom(fd: number, size: number, position: number | null = null): boolean {
    let left = size;
    let at = position;
    while (left > 0) {
      const n = readSync(fd, this.buf, this.pos, Math.min(left, CHUNK - this.pos), at);
      if (n === 0) return false;
      this.pos += n;
      this.written += n;
      left -= n;
      if (at !== null) at += n;
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

/**
 * A regular file's bytes into `out`, RUN_BYTES at a time: `drain` hands what
 * is full downstream between reads, so a file of any size holds at most a
 * few MiB of memory (a Jetson image's multi-GB model file included).
 */
function* copyContent(out: Chunker, entry: LayerEntry, drain: () => Generator<Buffer>): Generator<Buffer> {
  if (entry.content !== undefined) {
    out.put(entry.content);
    return;
  }
  const source = entry.source as string;
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch (cause) {
    throw buildError(LayerErrors.read, [entry.path, (cause as Error).message], { cause });
  }
  try {
    for (let left = entry.size; left > 0; ) {
      const n = Math.min(left, RUN_BYTES);
      let read: boolean;
      try {
        read = out.readFrom(fd, n);
      } catch (cause) {
        throw buildError(LayerErrors.read, [entry.path, (cause as Error).message], { cause });
      }
      if (!read) throw buildError(LayerErrors.changed, [entry.path]);
      left -= n;
      yield* drain();
    }
  } finally {
    closeSync(fd);
  }
}

/** What tarChunks is asked to do besides writing the archive. */
interface TarOptions {
  readonly sourceDateEpoch: number | undefined;
  /** A chunk's buffer is written over once the consumer asks for the next one (for consumers done with a chunk by then). */
  readonly reuse?: boolean;
  /** Filled with each entry's place in the archive. */
  readonly index?: Map<string, IndexedEntry>;
  /** The old version of this layer: runs of matching entries are copied out of its blob (`fd`). */
  readonly previous?: PreviousLayer & { readonly fd: number };
  /** Counts the bytes copied out of the old blob. */
  readonly stats?: { reusedBytes: number };
}

/** Whether the old archive's bytes for `entry` are the bytes this archive needs (see layer-index.ts). */
function sameBytes(entry: LayerEntry, old: IndexedEntry | undefined, previous: PreviousLayer): old is IndexedEntry {
  if (old === undefined || !old.plain || entry.xattrs !== undefined || entry.linked === true) return false;
  if (entry.type !== old.type || entry.mode !== old.mode || entry.uid !== old.uid || entry.gid !== old.gid) return false;
  if (entry.size !== old.size || entry.mtime !== old.mtime || (entry.linkname ?? '') !== (old.linkname ?? '')) return false;
  if (entry.type === 'file') return entry.size === 0 || previous.kept(entry.path);
  return entry.type === 'dir' || entry.type === 'symlink';
}

/**
 * The archive's bytes, in chunks of CHUNK bytes (the last one shorter).
 * With `previous`, consecutive entries whose bytes the old archive already
 * has are gathered into one range and read from the old blob at once.
 */
export function* tarChunks(entries: readonly LayerEntry[], options: TarOptions): Generator<Buffer> {
  const { sourceDateEpoch, reuse = false, index, previous, stats } = options;
  const out = new Chunker();
  // a run of old bytes not read yet: [from, to) in the old blob
  let from = 0;
  let to = 0;
  // where the archive is, counting the run not read yet
  let at = 0;
  // full chunks downstream (a chunk's buffer is reused once the consumer asks for the next)
  const drain = function* (): Generator<Buffer> {
    while (out.full.length > 0) {
      const chunk = out.full.shift() as Buffer;
      yield chunk;
      if (reuse) out.spare.push(chunk);
    }
  };
  // the run of old bytes into the archive, RUN_BYTES at a time
  const flush = function* (): Generator<Buffer> {
    while (from < to) {
      const n = Math.min(to - from, RUN_BYTES);
      if (!out.readFrom((previous as { fd: number }).fd, n, from)) throw buildError(LayerErrors.changed, ['(the layer this one was made from)']);
      if (stats !== undefined) stats.reusedBytes += n;
      from += n;
      yield* drain();
    }
  };
  const note = (entry: LayerEntry, start: number, end: number): void => {
    index?.set(entry.path, {
      path: entry.path,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: entry.size,
      mtime: entry.mtime,
      ...(entry.linkname === undefined ? {} : { linkname: entry.linkname }),
      start,
      end,
      plain: entry.xattrs === undefined && entry.linked !== true,
    });
  };
  for (const entry of entries) {
    const old = previous?.index.entries.get(entry.path);
    if (previous !== undefined && sameBytes(entry, old, previous)) {
      if (old.start !== to) {
        yield* flush();
        from = old.start;
        to = old.start;
      }
      to = old.end;
      note(entry, at, at + (old.end - old.start));
      at += old.end - old.start;
      // read long runs as they grow: the chunks go downstream before the next ones are read
      if (to - from >= RUN_BYTES) yield* flush();
    } else {
      yield* flush();
      const start = out.written;
      out.put(encodeHeader({ ...entry, mtime: clamp(entry.mtime, sourceDateEpoch) }));
      if (entry.type === 'file' && entry.size > 0) {
        yield* copyContent(out, entry, drain);
        out.zeros(padding(entry.size));
      }
      note(entry, start, out.written);
      at = out.written;
    }
    yield* drain();
  }
  yield* flush();
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
  const toFile = compression === 'none' && typeof options.output === 'string';
  if (options.previous !== undefined && !toFile) throw buildError(LayerErrors.options, ['an incremental layer is written as an uncompressed tar file']);
  const { entries, skipped } = scanLayerDir(dir, scanOptions(options.previous, options.known));
  if (toFile) return writeTarFile(entries, skipped, options.output as string, options);
  const tarHash = new DigestTap();
  const blobHash = new DigestTap();
  const sink = typeof options.output === 'string' ? createWriteStream(options.output, { flags: 'w' }) : options.output;
  const source = Readable.from(tarChunks(entries, { sourceDateEpoch: options.sourceDateEpoch }), { objectMode: false, highWaterMark: 4 * CHUNK });
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

/** writeTarFile asks the kernel to write what it has written so far each time this much more is written. */
const WRITE_BEHIND_BYTES = 32 << 20;

/**
 * fdatasync on the thread pool, while the main thread goes on writing the
 * layer: the store fsyncs the blob when it takes it, and without this that
 * fsync waited for the whole layer to reach the disk after the last write
 * (~0.1 s for 200 MB here). At most one is in flight. It resolves to the
 * error it met, if any: Linux reports a writeback error once, to the
 * descriptor that asks first, so the store's later fsync (another
 * descriptor) would not see it and the caller must fail the write.
 */
function writeBehind(fd: number): Promise<Error | undefined> {
  return new Promise((resolve) => fdatasync(fd, (error) => resolve(error ?? undefined)));
}

/** How long writeTarFile writes with blocking calls before it lets the event loop run (signals, progress). */
const YIELD_EVERY_MS = 25;

/**
 * The uncompressed layer into a file: blocking writes from reused buffers,
 * hashed on the way (the build path's layer: no stream plumbing, no garbage
 * per chunk). The caller fsyncs (the store does, when it takes the file).
 */
async function writeTarFile(entries: readonly LayerEntry[], skipped: readonly string[], file: string, options: WriteLayerOptions): Promise<LayerWriteResult> {
  const index = new Map<string, IndexedEntry>();
  const stats = { reusedBytes: 0 };
  const previous = openPrevious(options.previous, options.sourceDateEpoch);
  let size = 0;
  let fd: number | undefined;
  let sink: TarSink | undefined;
  // write-behind: what is written is sent to the disk while the rest is made (see writeBehind)
  let flushing: Promise<void> | undefined;
  let flushError: Error | undefined;
  let flushedTo = 0;
  try {
    fd = openSync(file, 'w', 0o644);
    sink = await openSink(fd, file, entries);
    let since = performance.now();
    const chunks = tarChunks(entries, {
      sourceDateEpoch: options.sourceDateEpoch,
      reuse: true,
      index,
      stats,
      ...(previous === undefined ? {} : { previous }),
    });
    for (const chunk of chunks) {
      // a chunk's buffer is reused once the next is asked for: the sink has copied or written it by then
      const pending = sink.write(chunk);
      if (pending !== undefined) await pending;
      size += chunk.length;
      if (size - flushedTo >= WRITE_BEHIND_BYTES && flushing === undefined) {
        flushedTo = size;
        flushing = writeBehind(fd).then((error) => {
          flushing = undefined;
          flushError ??= error;
        });
      }
      if (flushError !== undefined) throw flushError;
      if (performance.now() - since >= YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (options.signal?.aborted === true) throw options.signal.reason;
        since = performance.now();
      }
    }
    const written = await sink.end();
    if (written.size !== size) throw buildError(LayerErrors.read, [file, `${written.size} bytes written of ${size}`]);
    await flushing;
    // a writeback error seen by write-behind is this write's: the store's fsync would not see it again
    if (flushError !== undefined) throw flushError;
    const closing = fd;
    fd = undefined;
    closeSync(closing as number);
    const diffId = `sha256:${written.hex}` as DiffId;
    return {
      ...result(entries, skipped, { diffId, digest: diffId as Digest, size, uncompressedSize: size, compression: 'none' }),
      index: { diffId, epoch: options.sourceDateEpoch ?? null, entries: index },
      ...(previous === undefined ? {} : { reusedBytes: stats.reusedBytes }),
    };
  } catch (error) {
    sink?.abort();
    await flushing;
    if (fd !== undefined) closeSync(fd);
    await rm(file, { force: true });
    throw writeFailure(error, file);
  } finally {
    if (previous !== undefined) closeSync(previous.fd);
  }
}

/**
 * A system error of the write (EIO, a worker's write, write-behind's
 * fdatasync) as BUILD_LAYER_WRITE; a full disk stays as it is (the build
 * reports it as CACHE_DISK_FULL), and the writer's own errors too.
 */
function writeFailure(error: unknown, file: string): unknown {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (error instanceof BuildError || typeof code !== 'string' || !/^E[A-Z]+$/.test(code) || code === 'ENOSPC' || code === 'EDQUOT') return error;
  return buildError(LayerErrors.write, [file, (error as Error).message], { cause: error });
}

/** Where writeTarFile's bytes go, hashed on the way. */
interface TarSink {
  /** Takes the chunk (copied or written before it returns, or when the promise it returns settles). */
  write(chunk: Buffer): Promise<void> | undefined;
  end(): Promise<{ hex: string; size: number }>;
  abort(): void;
}

/** Layers with at least this many content bytes are hashed and written on a worker thread (starting one costs ~20 ms: below this, more than it saves). */
const WORKER_SINK_BYTES = 32 << 20;

/**
 * A large layer goes to a writer thread (@strata/cache's openBlobWriter: the
 * sha256 and the write(2)s of 200 MB, ~0.2 s, leave this thread, which is
 * left to read files and copy chunks); a small one, or any when no worker
 * can start, is hashed and written here with blocking calls.
 */
async function openSink(fd: number, file: string, entries: readonly LayerEntry[]): Promise<TarSink> {
  let content = 0;
  for (const e of entries) content += e.size;
  const writer = content >= WORKER_SINK_BYTES ? await openBlobWriter(file) : undefined;
  if (writer !== undefined) return writer;
  const hash = createHash('sha256');
  let size = 0;
  return {
    write(chunk) {
      hash.update(chunk);
      for (let done = 0; done < chunk.length; ) done += writeSync(fd, chunk, done, chunk.length - done);
      size += chunk.length;
      return undefined;
    },
    end: async () => ({ hex: hash.digest('hex'), size }),
    abort: () => undefined,
  };
}

/**
 * The old layer's blob, opened, when its index fits this write (same
 * SOURCE_DATE_EPOCH; the blob as long as the index says). Anything else
 * (the blob pruned meanwhile, another epoch) writes the layer from files.
 */
function openPrevious(previous: PreviousLayer | undefined, epoch: number | undefined): (PreviousLayer & { fd: number }) | undefined {
  if (previous === undefined || previous.index.epoch !== (epoch ?? null)) return undefined;
  let fd: number;
  try {
    fd = openSync(previous.blob, 'r');
  } catch {
    return undefined;
  }
  let last = 0;
  for (const e of previous.index.entries.values()) last = Math.max(last, e.end);
  if (fstatSync(fd).size < last) {
    closeSync(fd);
    return undefined;
  }
  return { ...previous, fd };
}

/** What the scan may take from elsewhere: files the caller wrote, and files an incremental copy kept (the old layer's index). */
function scanOptions(previous: PreviousLayer | undefined, known: ((path: string) => KnownFile | undefined) | undefined): ScanOptions {
  if (previous === undefined) return known === undefined ? {} : { known };
  const { entries } = previous.index;
  return {
    known: (path) => {
      const wrote = known?.(path);
      if (wrote !== undefined) return wrote;
      const old = entries.get(path);
      return old !== undefined && old.plain && old.type === 'file' && previous.kept(path) ? old : undefined;
    },
  };
}
