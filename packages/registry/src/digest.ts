import { createHash } from 'node:crypto';
import { registryError, RegistryErrors } from './errors.js';

/** `algorithm:hex` as registries speak it; strata computes sha256 and checks sha256/sha512. */
export type DigestString = `${'sha256' | 'sha512'}:${string}`;

const DIGEST_RE = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

export function isDigestString(value: unknown): value is DigestString {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/** Checks a digest string; throws REGISTRY_INVALID_DIGEST. */
export function parseDigestString(value: string): DigestString {
  if (!isDigestString(value)) throw registryError(RegistryErrors.invalidDigest, [value]);
  return value;
}

export function digestAlgorithm(digest: DigestString): 'sha256' | 'sha512' {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** The digest of bytes in memory, with the same algorithm as `like` (default sha256). */
export function computeDigest(data: Uint8Array | string, like?: DigestString): DigestString {
  const algorithm = like === undefined ? 'sha256' : digestAlgorithm(like);
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as DigestString;
}
