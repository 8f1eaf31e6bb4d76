// The error catalog of image archives and image files (save, load, import).
// Same shape and rules as ../errors.ts: stable codes, built only from here.
import type { ErrorRule } from '../errors.js';

export const ArchiveErrors = {
  digest: {
    code: 'CACHE_ARCHIVE_DIGEST',
    message: (source: string, entry: string, expected: string, found: string) =>
      `${source}: ${entry} does not match its digest: expected ${expected}, found ${found}`,
    hint: 'The archive is damaged or was altered; save or copy it again. Nothing from it was tagged.',
  } satisfies ErrorRule<[string, string, string, string]>,
  incomplete: {
    code: 'CACHE_ARCHIVE_INCOMPLETE',
    message: (source: string, what: string) => `${source} lacks ${what}`,
    hint: 'The archive or layout is incomplete; save or copy it again. Nothing from it was tagged.',
  } satisfies ErrorRule<[string, string]>,
  invalid: {
    code: 'CACHE_ARCHIVE_INVALID',
    message: (source: string, detail: string) => `${source} is not a readable image archive: ${detail}`,
    hint: 'Use a file made by `strata save`, `docker save` or `skopeo copy` (docker-archive: or oci-archive:), or an OCI layout folder.',
  } satisfies ErrorRule<[string, string]>,
  noPlatform: {
    code: 'CACHE_PLATFORM_NOT_FOUND',
    message: (name: string, wanted: string, have: string) => `${name} has no image for ${wanted}; it holds ${have}`,
    hint: 'Name one of the platforms it holds with --platform.',
  } satisfies ErrorRule<[string, string, string]>,
  unnamed: {
    code: 'CACHE_ARCHIVE_UNNAMED',
    message: (source: string, what: string) => `${source}: ${what} has no image name`,
    hint: 'Give the name to load it under (strata load --name REPO[:TAG]).',
  } satisfies ErrorRule<[string, string]>,
  unsupported: {
    code: 'CACHE_ARCHIVE_UNSUPPORTED',
    message: (detail: string) => detail,
    hint: 'strata reads and writes uncompressed and gzip layers in archives.',
  } satisfies ErrorRule<[string]>,
} as const;
