/**
 * The layer writer's compressors: @strata/cache's (gzip on every core, zstd
 * through the `zstd` command), so a layer the writer compresses and one the
 * store compresses for an export have the same bytes. A build itself stores
 * its layers uncompressed; the writer compresses for its other callers.
 */
import { createCompressor as cacheCompressor, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, type Compressor, type LayerCompression } from '@strata/cache';
import { buildError } from '../errors.js';
import { LayerErrors } from './errors.js';

export { DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, LAYER_MEDIA_TYPES, type Compressor, type LayerCompression } from '@strata/cache';

export function checkLevel(compression: LayerCompression, level: number | undefined): number | undefined {
  if (compression === 'none') return undefined;
  const [lo, hi, fallback] = compression === 'gzip' ? [1, 9, DEFAULT_GZIP_LEVEL] : [1, 19, DEFAULT_ZSTD_LEVEL];
  if (level === undefined) return fallback;
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw buildError(LayerErrors.options, [`${compression} level ${level} is outside ${lo}-${hi}`]);
  }
  return level;
}

/** A compressing stream for `compression` at `level` (already checked); a failing tool is BUILD_LAYER_COMPRESSOR. */
export function createCompressor(compression: LayerCompression, level: number | undefined, zstdCommand = 'zstd'): Compressor {
  return cacheCompressor(compression, {
    ...(level === undefined ? {} : { level }),
    zstdCommand,
    failure: (tool, detail, cause) => buildError(LayerErrors.compressor, [tool, detail], cause === undefined ? {} : { cause }),
  });
}
