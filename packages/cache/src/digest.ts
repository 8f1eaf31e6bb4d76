import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { cacheError, CacheErrors } from './errors.js';

declare const digestBrand: unique symbol;
declare const diffIdBrand: unique symbol;
declare const chainIdBrand: unique symbol;

/**
 * `algorithm:hex` of bytes as stored (a compressed layer, a manifest, a
 * config): the one digest type of every strata package. strata computes,
 * stores and keys by `sha256:<64 hex>` (isDigest, parseDigest; the store
 * holds nothing else). A registry's manifests and references may also name
 * `sha512:<128 hex>`, the other algorithm the OCI image spec registers:
 * isOciDigest accepts both, and @strata/registry verifies content against
 * either.
 */
export type Digest = string & { readonly [digestBrand]: true };
/** `sha256:<64 hex>` of a layer's uncompressed tar (config `rootfs.diff_ids`). */
export type DiffId = Digest & { readonly [diffIdBrand]: true };
/** Identity of a stack of layers: the OCI chain ID of its diff IDs. */
export type ChainId = Digest & { readonly [chainIdBrand]: true };

/** The algorithms a Digest may name (Node's hash names are the same). */
export type DigestAlgorithm = 'sha256' | 'sha512';

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const OCI_DIGEST_RE = /^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$/;

/** True for a well-formed sha256 digest string. Other algorithms are not stored by strata. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && DIGEST_RE.test(value);
}

/**
 * True for a sha256 or sha512 digest string (lowercase hex): what a
 * registry's manifest or reference may name, and strata can verify.
 */
export function isOciDigest(value: unknown): value is Digest {
  return typeof value === 'string' && OCI_DIGEST_RE.test(value);
}

/** The hash algorithm a digest names. */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.startsWith('sha512:') ? 'sha512' : 'sha256';
}

/** Checks and brands a digest string; throws CACHE_INVALID_DIGEST. */
export function parseDigest(value: string): Digest {
  if (!isDigest(value)) throw cacheError(CacheErrors.invalidDigest, [value]);
  return value;
}

export function parseDiffId(value: string): DiffId {
  return parseDigest(value) as DiffId;
}

export function parseChainId(value: string): ChainId {
  return parseDigest(value) as ChainId;
}

/** Brands a lowercase sha256 hex string as a digest. */
export function digestFromHex(hex: string): Digest {
  return parseDigest(`sha256:${hex}`);
}

/** The 64 hex characters of a digest. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/** The digest of bytes held in memory (sha256 unless told, as when checking bytes against a sha512 digest). */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}

/**
 * The chain ID of a list of diff IDs (image-spec config.md): the first layer's
 * chain ID is its diff ID; each next one is sha256(parentChainId + " " + diffId).
 */
export function chainIdOf(diffIds: readonly DiffId[]): ChainId {
  let chain: string | undefined;
  for (const diffId of diffIds) {
    chain = chain === undefined ? diffId : digestOf(`${chain} ${diffId}`);
  }
  if (chain === undefined) throw cacheError(CacheErrors.invalidArgument, ['chainIdOf needs at least one diff ID']);
  return chain as ChainId;
}

/** The chain IDs of every prefix of a layer stack, bottom first. */
export function chainIdsOf(diffIds: readonly DiffId[]): ChainId[] {
  const out: ChainId[] = [];
  for (const diffId of diffIds) {
    const parent = out[out.length - 1];
    out.push((parent === undefined ? diffId : digestOf(`${parent} ${diffId}`)) as ChainId);
  }
  return out;
}

/** A pass-through stream that takes the sha256 and the byte count of what flows through it. */
export class DigestTap extends Transform {
  readonly #hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }
  /** `sha256:<hex>` of everything that passed (call once, after the end). */
  digest(): Digest {
    return `sha256:${this.#hash.digest('hex')}` as Digest;
  }
}
