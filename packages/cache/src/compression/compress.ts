/**
 * Layer compressors and decompressors as streams: gzip from node:zlib (blocks
 * deflated in parallel, see parallel-gzip.ts), zstd through the `zstd`
 * command (Node 20's zlib has no zstd), or none. The builder's layer writer
 * and the store's export forms (export-form.ts) share them, so a layer
 * compressed by either has the same bytes.
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import { constants, createGzip, createGunzip } from 'node:zlib';
import { cacheError, CacheErrors } from '../errors.js';
import { MediaType } from '../oci.js';
import { ParallelGzip, parallelGzipAvailable } from './parallel-gzip.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

/** The OCI media type of a layer in each compression. */
export const LAYER_MEDIA_TYPES: Record<LayerCompression, string> = {
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
  none: MediaType.ociLayer,
};

/** gzip level 1: the throughput of `gzip -1`, a few percent larger than level 6 (see the builder's README). */
export const DEFAULT_GZIP_LEVEL = 1;
/** zstd's own default. */
export const DEFAULT_ZSTD_LEVEL = 3;

/**
 * The compression a layer media type says (OCI `+gzip`/`+zstd`, docker's
 * `.tar.gzip`, an uncompressed `tar`), or undefined for what is not a layer
 * strata knows.
 */
export function layerCompressionOf(mediaType: string): LayerCompression | undefined {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType.endsWith('layer.v1.tar')) return 'none';
  return undefined;
}

export interface Compressor {
  readonly stream: Duplex;
  /** Resolves when the tool is finished and has succeeded; rejects with the `failure` error (default CACHE_COMPRESSOR). */
  readonly done: Promise<void>;
}

export interface CompressorOptions {
  /** gzip 1-9, zstd 1-19 (checked by the caller); default DEFAULT_GZIP_LEVEL / DEFAULT_ZSTD_LEVEL. */
  readonly level?: number;
  /** The zstd command (default `zstd` on PATH). */
  readonly zstdCommand?: string;
  /** The error a failed tool is reported as (the builder's layer writer keeps its own code). */
  readonly failure?: (tool: string, detail: string, cause?: unknown) => Error;
}

function defaultFailure(tool: string, detail: string, cause?: unknown): Error {
  return cacheError(CacheErrors.compressor, [tool, detail], cause === undefined ? {} : { cause });
}

/** A `zstd` child process as a duplex stream; `args` say compress or decompress. */
function zstdProcess(command: string, args: readonly string[], failure: NonNullable<CompressorOptions['failure']>): Compressor {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    if (stderr.length < 4096) stderr += c;
  });
  const stream = Duplex.from({ writable: child.stdin, readable: child.stdout });
  // a stream destroyed early (a failed or aborted pipeline) must not leave the child running
  stream.once('close', () => {
    if (!stream.readableEnded && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (cause) => {
      const error = failure('zstd', cause.message, cause);
      stream.destroy(error);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(failure('zstd', stderr.trim() || `exited with ${code ?? signal}`));
    });
  });
  // Observed through `done` and the pipeline; avoid an unhandled rejection when neither is awaited yet.
  done.catch(() => undefined);
  return { stream, done };
}

/** A compressing stream for `compression`. gzip and zstd output depend only on the input, the level and the tool's version. */
export function createCompressor(compression: LayerCompression, options: CompressorOptions = {}): Compressor {
  const failure = options.failure ?? defaultFailure;
  if (compression === 'zstd') {
    // -T0: one worker per core. zstd's multi-threaded output is the same for any
    // worker count (it differs only from --single-thread), so digests do not
    // depend on the machine (they do depend on the zstd version, as gzip's do on zlib's).
    return zstdProcess(options.zstdCommand ?? 'zstd', ['-q', '-c', `-${options.level ?? DEFAULT_ZSTD_LEVEL}`, '-T0'], failure);
  }
  if (compression === 'gzip') {
    const level = options.level ?? DEFAULT_GZIP_LEVEL;
    if (parallelGzipAvailable()) return { stream: new ParallelGzip(level), done: Promise.resolve() };
    // zlib writes a fixed gzip header (no name, mtime 0, OS unix): no host or clock in the bytes.
    const stream = createGzip({ level, chunkSize: 256 * 1024, strategy: constants.Z_DEFAULT_STRATEGY });
    return { stream, done: Promise.resolve() };
  }
  return { stream: new PassThrough({ highWaterMark: 1 << 20 }), done: Promise.resolve() };
}

/** A decompressing stream for a layer blob in `compression` (the inverse of createCompressor). */
export function createDecompressor(compression: LayerCompression, options: Pick<CompressorOptions, 'zstdCommand' | 'failure'> = {}): Compressor {
  if (compression === 'zstd') return zstdProcess(options.zstdCommand ?? 'zstd', ['-q', '-d', '-c'], options.failure ?? defaultFailure);
  if (compression === 'gzip') return { stream: createGunzip({ chunkSize: 256 * 1024 }), done: Promise.resolve() };
  return { stream: new PassThrough({ highWaterMark: 1 << 20 }), done: Promise.resolve() };
}
