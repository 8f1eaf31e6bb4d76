/**
 * Layer compressors as streams: gzip from node:zlib (blocks deflated in parallel, see parallel-gzip.ts), zstd through the `zstd`
 * command (Node 20's zlib has no zstd), or none.
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import { constants, createGzip } from 'node:zlib';
import { buildError } from '../errors.js';
import { LayerErrors } from './errors.js';
import { ParallelGzip, parallelGzipAvailable } from './parallel-gzip.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export const LAYER_MEDIA_TYPES: Record<LayerCompression, string> = {
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  none: 'application/vnd.oci.image.layer.v1.tar',
};

/** gzip level 1: the throughput of `gzip -1`, a few percent larger than level 6 (see README). */
export const DEFAULT_GZIP_LEVEL = 1;
/** zstd's own default. */
export const DEFAULT_ZSTD_LEVEL = 3;

export interface Compressor {
  readonly stream: Duplex;
  /** Resolves when the compressor is finished and has succeeded; rejects with BUILD_LAYER_COMPRESSOR. */
  readonly done: Promise<void>;
}

export function checkLevel(compression: LayerCompression, level: number | undefined): number | undefined {
  if (compression === 'none') return undefined;
  const [lo, hi, fallback] = compression === 'gzip' ? [1, 9, DEFAULT_GZIP_LEVEL] : [1, 19, DEFAULT_ZSTD_LEVEL];
  if (level === undefined) return fallback;
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw buildError(LayerErrors.options, [`${compression} level ${level} is outside ${lo}-${hi}`]);
  }
  return level;
}

function zstd(level: number, command: string): Compressor {
  // -T0: one worker per core. zstd's multi-threaded output is the same for any
  // worker count (it differs only from --single-thread), so digests do not
  // depend on the machine (they do depend on the zstd version, as gzip's do on zlib's).
  const child = spawn(command, ['-q', '-c', `-${level}`, '-T0'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c: string) => {
    if (stderr.length < 4096) stderr += c;
  });
  const stream = Duplex.from({ writable: child.stdin, readable: child.stdout });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (cause) => {
      const error = buildError(LayerErrors.compressor, ['zstd', cause.message], { cause });
      stream.destroy(error);
      reject(error);
    });
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(buildError(LayerErrors.compressor, ['zstd', stderr.trim() || `exited with ${code ?? signal}`]));
    });
  });
  // Observed through `done` and the pipeline; avoid an unhandled rejection when neither is awaited yet.
  done.catch(() => undefined);
  return { stream, done };
}

/** A compressing stream for `compression` at `level` (already checked). */
export function createCompressor(compression: LayerCompression, level: number | undefined, zstdCommand = 'zstd'): Compressor {
  if (compression === 'zstd') return zstd(level ?? DEFAULT_ZSTD_LEVEL, zstdCommand);
  if (compression === 'gzip') {
    if (parallelGzipAvailable()) return { stream: new ParallelGzip(level ?? DEFAULT_GZIP_LEVEL), done: Promise.resolve() };
    // zlib writes a fixed gzip header (no name, mtime 0, OS unix): no host or clock in the bytes.
    const stream = createGzip({ level: level ?? DEFAULT_GZIP_LEVEL, chunkSize: 256 * 1024, strategy: constants.Z_DEFAULT_STRATEGY });
    return { stream, done: Promise.resolve() };
  }
  return { stream: new PassThrough({ highWaterMark: 1 << 20 }), done: Promise.resolve() };
}
