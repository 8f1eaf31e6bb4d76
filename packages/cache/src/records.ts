import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { isDigest, type ChainId, type DiffId, type Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { writeFileAtomic } from './fs-util.js';
import type { ContainerConfig } from './oci.js';

declare const cacheKeyBrand: unique symbol;

/**
 * A cache key: `strata.v1:sha256:<hex>` (or a longer namespace such as
 * `strata.run.v1:…`). The namespace carries the key format's version: a new
 * format is a new namespace, so old records are never matched by mistake.
 */
export type CacheKey = string & { readonly [cacheKeyBrand]: true };

const KEY_RE = /^strata(?:\.[a-z][a-z0-9-]*)*\.v[0-9]+:sha256:[0-9a-f]{64}$/;

export function isCacheKey(value: unknown): value is CacheKey {
  return typeof value === 'string' && KEY_RE.test(value);
}

/** Checks and brands a cache key; throws CACHE_INVALID_KEY. */
export function parseCacheKey(value: string): CacheKey {
  if (!isCacheKey(value)) throw cacheError(CacheErrors.invalidCacheKey, [value]);
  return value;
}

/**
 * Makes a key from key material (the canonical text of what a step depends on).
 * `namespace` must end with a format version (`strata.v1`, `strata.run.v2`).
 */
export function makeCacheKey(material: string | Uint8Array, namespace = 'strata.v1'): CacheKey {
  return parseCacheKey(`${namespace}:sha256:${createHash('sha256').update(material).digest('hex')}`);
}

/** The layer a cached step produced. */
export interface LayerRecord {
  readonly mediaType: string;
  /** Of the compressed blob, as stored. */
  readonly digest: Digest;
  readonly size: number;
  /** Of the uncompressed tar. */
  readonly diffId: DiffId;
  /** Of the stack up to and including this layer, when the writer knows it (lets prune keep its snapshot). */
  readonly chainId?: ChainId;
}

/** What a cached step did: at most one layer, and the image config fields it set. */
export interface CacheRecord {
  readonly key: CacheKey;
  readonly layer?: LayerRecord;
  /** Config fields the step set; absent fields were left as they were. */
  readonly config?: ContainerConfig;
  /** A history line for the image config. */
  readonly createdBy?: string;
  readonly createdAt: string;
}

export interface CacheRecordInput {
  readonly layer?: LayerRecord;
  readonly config?: ContainerConfig;
  readonly createdBy?: string;
}

/** A stored record with its file facts, as listed for prune and du. */
export interface StoredRecord {
  readonly record: CacheRecord;
  readonly path: string;
  readonly size: number;
  /** Last put or hit: prune drops least-recently-used records first. */
  readonly lastUsedMs: number;
}

function keyFileName(key: CacheKey): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The file of a key: `<records>/<first two hex>/<sha256 of the key>.json`, one lookup, no scan. */
export function recordPath(dir: string, key: CacheKey): string {
  const name = keyFileName(key);
  return join(dir, name.slice(0, 2), `${name}.json`);
}

function validRecord(value: unknown): value is CacheRecord {
  const r = value as Partial<CacheRecord> | null;
  if (typeof r !== 'object' || r === null || !isCacheKey(r.key) || typeof r.createdAt !== 'string') return false;
  if (r.layer !== undefined) {
    const l = r.layer;
    if (!isDigest(l.digest) || !isDigest(l.diffId) || typeof l.size !== 'number' || typeof l.mediaType !== 'string') return false;
    if (l.chainId !== undefined && !isDigest(l.chainId)) return false;
  }
  return true;
}

/** Cache records on disk, one JSON file per key, each written atomically. */
export class RecordStore {
  readonly #dir: string;
  readonly #tmp: string;

  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
  }

  async put(key: CacheKey, input: CacheRecordInput, now: Date = new Date()): Promise<CacheRecord> {
    const record: CacheRecord = { key: parseCacheKey(key), ...input, createdAt: now.toISOString() };
    if (!validRecord(record)) throw cacheError(CacheErrors.invalidArgument, ['a cache record layer needs mediaType, digest, size and diffId']);
    const path = recordPath(this.#dir, record.key);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFileAtomic(this.#tmp, path, `${JSON.stringify(record)}\n`);
    return record;
  }

  /** The record of a key, or undefined. A hit marks the record as recently used. */
  async get(key: CacheKey, options: { touch?: boolean } = {}): Promise<CacheRecord | undefined> {
    const path = recordPath(this.#dir, parseCacheKey(key));
    const record = await this.#read(path);
    // A damaged file or a hash collision is a miss, never a wrong hit.
    if (record === undefined || record.key !== key) return undefined;
    if (options.touch !== false) {
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
    }
    return record;
  }

  async delete(key: CacheKey): Promise<boolean> {
    try {
      await unlink(recordPath(this.#dir, parseCacheKey(key)));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /** Every record file; damaged ones come back in `damaged` for verify to report. */
  async list(): Promise<{ records: StoredRecord[]; damaged: string[] }> {
    const records: StoredRecord[] = [];
    const damaged: string[] = [];
    let shards: string[];
    try {
      shards = await readdir(this.#dir);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return { records, damaged };
      throw error;
    }
    for (const shard of shards) {
      const names = await readdir(join(this.#dir, shard)).catch(() => [] as string[]);
      for (const name of names) {
        if (!name.endsWith('.json')) continue;
        const path = join(this.#dir, shard, name);
        const record = await this.#read(path);
        const facts = await stat(path).catch(() => undefined);
        if (facts === undefined) continue;
        if (record === undefined || `${keyFileName(record.key)}.json` !== name) damaged.push(path);
        else records.push({ record, path, size: facts.size, lastUsedMs: facts.mtimeMs });
      }
    }
    return { records, damaged };
  }

  async #read(path: string): Promise<CacheRecord | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const value: unknown = JSON.parse(text);
      return validRecord(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }
}
