import type { BuildErrorRule } from '../errors.js';

/**
 * The layer writer's entries of the builder's error catalog (BUILD_LAYER_*).
 * Kept beside the writer; same shape as `BuildErrors`, raised with `buildError`.
 */
export const LayerErrors = {
  options: {
    code: 'BUILD_LAYER_OPTIONS',
    message: (detail: string) => `invalid layer options: ${detail}`,
    hint: 'compression is gzip, zstd or none; gzip levels are 1-9, zstd levels 1-19; SOURCE_DATE_EPOCH is a whole number of seconds.',
  } satisfies BuildErrorRule<[string]>,
  read: {
    code: 'BUILD_LAYER_READ',
    message: (path: string, detail: string) => `cannot read ${path} for the layer: ${detail}`,
    hint: 'The layer is written from the step\'s upper directory; check that nothing else removes or locks files in it while the step commits.',
  } satisfies BuildErrorRule<[string, string]>,
  write: {
    code: 'BUILD_LAYER_WRITE',
    message: (file: string, detail: string) => `cannot write the layer ${file}: ${detail}`,
    hint: 'The disk under the store failed a write (see dmesg); free or repair it and build again. Nothing of this layer was kept.',
  } satisfies BuildErrorRule<[string, string]>,
  changed: {
    code: 'BUILD_LAYER_CHANGED',
    message: (path: string) => `${path} changed size while its layer was written`,
    hint: 'A process outlived the step and kept writing; stop it (or the container) before committing the layer.',
  } satisfies BuildErrorRule<[string]>,
  overlayFeature: {
    code: 'BUILD_LAYER_OVERLAY_FEATURE',
    message: (path: string, attribute: string) =>
      `${path} carries the overlayfs attribute ${attribute}, which a layer tar cannot represent`,
    hint: 'Mount the step\'s overlay with redirect_dir=off,metacopy=off (strata\'s snapshotter does).',
  } satisfies BuildErrorRule<[string, string]>,
  pathEncoding: {
    code: 'BUILD_LAYER_PATH_ENCODING',
    message: (path: string) => `the file name ${path} is not valid UTF-8`,
    hint: 'Rename the file in the step that creates it; layer paths are written as UTF-8.',
  } satisfies BuildErrorRule<[string]>,
  field: {
    code: 'BUILD_LAYER_FIELD',
    message: (path: string, field: string, value: string) => `${path}: ${field} ${value} cannot be written in a tar header`,
  } satisfies BuildErrorRule<[string, string, string]>,
  compressor: {
    code: 'BUILD_LAYER_COMPRESSOR',
    message: (tool: string, detail: string) => `the ${tool} compressor failed: ${detail}`,
    hint: 'zstd layers need the zstd command on PATH (apt-get install zstd); or build with gzip compression.',
  } satisfies BuildErrorRule<[string, string]>,
} as const;
