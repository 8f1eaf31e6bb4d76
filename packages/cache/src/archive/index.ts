// Image files in and out of the store: docker-archive and OCI archive export
// and import, OCI layout import, rootfs import, and image descriptions.
export { ArchiveErrors } from './errors.js';
export {
  familiarName, listImages, readImage, readIndexOf, splitName,
  type ImageSummary, type PlatformChooser, type ReadImageOptions, type StoredImage,
} from './describe.js';
export { CONTAINERD_NAME_ANNOTATION, exportImages, saveImages, type ArchiveFormat, type ExportImage, type ExportOptions, type SavedImage } from './export.js';
export { importArchive, importImages, importLayout, type ArchiveKind, type ImportOptions, type ImportResult, type LoadedImage } from './import.js';
export { importRootfs, type ImportRootfsOptions, type ImportRootfsResult } from './rootfs.js';
