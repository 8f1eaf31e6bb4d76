export { writeLayer, tarChunks } from './write-layer.js';
export type { WriteLayerOptions, LayerWriteResult } from './write-layer.js';
export { scanLayerDir, keepsXattr, WHITEOUT_PREFIX, OPAQUE_MARKER } from './scan.js';
export type { LayerEntry, ScanResult } from './scan.js';
export { encodeHeader, paxFields, paxRecord, headerChecksum, padding, endOfArchive, octalLimit, BLOCK } from './tar-header.js';
export type { TarHeader, TarType } from './tar-header.js';
export { LAYER_MEDIA_TYPES, DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL } from './compress.js';
export type { LayerCompression } from './compress.js';
export { LayerErrors } from './errors.js';
