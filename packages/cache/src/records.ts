import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDigest, type ChainId, type DiffId, type Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { markUsed, writeFileAtomic } from './fs-util.js';
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

/**
 * What a key was made of, kept in its record so that a later miss at the same
 * step can say what changed ("source changed: src/main.py"). Only digests:
 * build-arg values may be secrets and are never written out.
 */
export interface KeyInputs {
  /** The parent step's key. */
  readonly parent: string;
  /** sha256 of the step's kind, platform and canonical instruction. */
  readonly instruction: string;
  /** Environment and build args the step sees: name -> sha256 of its value. */
  readonly env: Readonly<Record<string, string>>;
  /** COPY/ADD: the sources digest; its per-path listing is stored beside the records (`putSources`). */
  readonly sources?: string;
}

/** A COPY/ADD source listing: relative path -> digest of everything the key takes from that entry. */
export type SourceListing = Readonly<Record<string, string>>;

/**
 * An http(s) source an ADD without --checksum downloaded: its content digest
 * and the validators the server sent, so a rebuild can ask whether it changed
 * (If-None-Match / If-Modified-Since) instead of downloading it again.
 */
export interface RemoteSource {
  readonly url: string;
  /** sha256 of the body (`sha256:<hex>`). */
  readonly digest: string;
  /** The ETag header as sent (quotes and `W/` kept). */
  readonly etag?: string;
  /** The Last-Modified header as sent. */
  readonly lastModified?: string;
}

/** What a cached step did: at most one layer, and the image config fields it set. */
export interface CacheRecord {
  readonly key: CacheKey;
  readonly inputs?: KeyInputs;
  /** ADD of URLs without --checksum: what each download was, to revalidate it. */
  readonly remote?: readonly RemoteSource[];
  readonly layer?: LayerRecord;
  /** Config fields the step set; absent fields were left as they were. */
  readonly config?: ContainerConfig;
  /** A history line for the image config. */
  readonly createdBy?: string;
  readonly createdAt: string;
}

export interface CacheRecordInput {
  readonly inputs?: KeyInputs;
  readonly remote?: readonly RemoteSource[];
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
  if (r.remote !== undefined && !(Array.isArray(r.remote) && r.remote.every((s) => typeof s?.url === 'string' && typeof s.digest === 'string'))) return false;
  return true;
}

function hashName(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Cache records on disk, one JSON file per key, each written atomically.
 * Beside them (same parent folder): `sources/` holds COPY source listings by
 * sources digest, `steps/` remembers, per step position (a locator the
 * builder makes from Dockerfile, platform, stage and step index), the key the
 * step had when it last ran, so a miss can be explained against it, and
 * `from-sources/` the sources digest of a selection from a root filesystem
 * (COPY --from), named by what selects it, so that the same selection of the
 * same layers is not hashed again.
 */
export class RecordStore {
  readonly #dir: string;
  readonly #tmp: string;
  readonly #sources: string;
  readonly #steps: string;
  readonly #fromSources: string;

  constructor(dir: string, tmp: string) {
    this.#dir = dir;
    this.#tmp = tmp;
    this.#sources = join(dirname(dir), 'sources');
    this.#steps = join(dirname(dir), 'steps');
    this.#fromSources = join(dirname(dir), 'from-sources');
  }

  #sourcesPath(digest: string): string {
    const name = hashName(digest);
    return join(this.#sources, name.slice(0, 2), `${name}.json`);
  }

  /** True when a listing is stored for a sources digest (a stat, no read: listings of big contexts are big). */
  async hasSources(digest: string): Promise<boolean> {
    return stat(this.#sourcesPath(digest)).then(() => true, () => false);
  }

  /** Stores a source listing under its sources digest (once: the same digest is the same listing). */
  async putSources(digest: string, listing: SourceListing): Promise<void> {
    const path = this.#sourcesPath(digest);
    if (await this.hasSources(digest)) return;
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(this.#tmp, path, JSON.stringify({ digest, listing }));
  }

  /** The listing stored for a sources digest, or undefined. */
  async getSources(digest: string): Promise<SourceListing | undefined> {
    const value = await readJsonFile(this.#sourcesPath(digest));
    const v = value as { digest?: unknown; listing?: unknown } | undefined;
    return v?.digest === digest && typeof v.listing === 'object' && v.listing !== null ? (v.listing as SourceListing) : undefined;
  }

  /** The key a step position had when it last ran, or undefined. */
  async lastKey(locator: string): Promise<CacheKey | undefined> {
    const name = hashName(locator);
    const value = (await readJsonFile(join(this.#steps, name.slice(0, 2), `${name}.json`))) as { locator?: unknown; key?: unknown } | undefined;
    return value?.locator === locator && isCacheKey(value.key) ? value.key : undefined;
  }

  /** Remembers the key a step position ran with (written when a step runs or an imported record is adopted, never on a local hit). */
  async setLastKey(locator: string, key: CacheKey): Promise<void> {
    const name = hashName(locator);
    const path = join(this.#steps, name.slice(0, 2), `${name}.json`);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(this.#tmp, path, JSON.stringify({ locator, key }));
  }

  #fromSourcesPath(selection: string): string {
    const name = hashName(selection);
    return join(this.#fromSources, name.slice(0, 2), `${name}.json`);
  }

  /**
   * The sources digest remembered for a selection from a root filesystem, or
   * undefined. `selection` names everything the digest depends on (the
   * builder's `fromSourcesId`: the layers' chain ID and what the step
   * selects); the file holds it whole, so another selection is never read
   * as this one.
   */
  async fromSources(selection: string): Promise<string | undefined> {
    const value = (await readJsonFile(this.#fromSourcesPath(selection))) as { selection?: unknown; digest?: unknown } | undefined;
    return value?.selection === selection && typeof value.digest === 'string' && isDigest(value.digest) ? value.digest : undefined;
  }

  /** Remembers the sources digest of a selection from a root filesystem (see `fromSources`). */
  async putFromSources(selection: string, digest: string): Promise<void> {
    const path = this.#fromSourcesPath(selection);
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(this.#tmp, path, JSON.stringify({ selection, digest }));
  }

  /**
   * Removes the side files no kept record needs: source listings and
   * remembered COPY --from sources digests whose digest no kept record
   * names, and step positions whose last key has no record.
   * Files changed after `notAfterMs` stay (a build may be writing its record now).
   * Returns how many files went (or would go, with `dryRun`).
   */
  async pruneSideFiles(kept: readonly CacheRecord[], notAfterMs: number, dryRun = false): Promise<number> {
    const keys = new Set<string>(kept.map((r) => r.key));
    const sources = new Set<string>(kept.flatMap((r) => (r.inputs?.sources === undefined ? [] : [r.inputs.sources])));
    let removed = 0;
    const sweep = async (dir: string, stale: (value: { digest?: unknown; key?: unknown } | undefined) => boolean) => {
      for (const shard of await readdir(dir).catch(() => [] as string[])) {
        for (const name of await readdir(join(dir, shard)).catch(() => [] as string[])) {
          const path = join(dir, shard, name);
          if (!stale((await readJsonFile(path)) as { digest?: unknown; key?: unknown } | undefined)) continue;
          const facts = await stat(path).catch(() => undefined);
          if (facts !== undefined && Math.floor(facts.mtimeMs) > notAfterMs) continue;
          removed += 1;
          if (!dryRun) await unlink(path).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
        }
      }
    };
    await sweep(this.#sources, (v) => typeof v?.digest !== 'string' || !sources.has(v.digest));
    await sweep(this.#fromSources, (v) => typeof v?.digest !== 'string' || !sources.has(v.digest));
    await sweep(this.#steps, (v) => typeof v?.key !== 'string' || !keys.has(v.key));
    return removed;
  }

  /** Writes a record; `now` is its creation time (an imported record keeps its own, so image IDs match). */
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
    if (options.touch !== false) markUsed(path);
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
      // blocking: a record is a small file, and a build reads one per step (see DiskContentStore.readBlob)
      text = readFileSync(path, 'utf8');
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

async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
    throw error;
  }
}
