import { chmod, link, mkdir, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import type { BlobInfo, BlobSource, BlobStat, GetBlobOptions, PutBlobOptions, PutBlobResult } from './content/content-store.js';
import { DiskContentStore, type ContentEvent } from './content/disk.js';
import { digestOf, parseDigest, type Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode, isCacheError } from './errors.js';
import { isIdentityAlive, tempName, tempOwner } from './fs-util.js';
import { defaultStoreRoot, storePaths, type StorePaths } from './layout.js';
import type { LockOptions } from './lock.js';
import { ContentMemo } from './memo.js';
import { isIndexMediaType, isManifestMediaType, REF_NAME_ANNOTATION, type Descriptor, type ImageConfig, type Index, type Manifest } from './oci.js';
import { normalizeReference } from './reference.js';
import { readIndexFile, taggedImages, updateIndexFile, withoutTag, withTag, type IndexFileOptions, type TaggedImage } from './refs.js';
import { addRepoDigests, readRepoDigests, type RepoDigestFiles } from './repo-digests.js';
import { RecordStore, type CacheKey, type CacheRecord, type CacheRecordInput } from './records.js';
import { SnapshotStore } from './snapshots.js';
import { maxLayerSizeFromEnv } from './unpack.js';
import { detachMount, mountsUnder } from './mounts.js';
import { ContainerStore } from './containers.js';

/** What the store reports while it works. Plain JSON values, so a renderer can print them as NDJSON. */
export type StoreEvent =
  | ContentEvent
  | { readonly type: 'lock-waiting'; readonly lock: string; readonly holder: string }
  | { readonly type: 'lock-broken'; readonly lock: string; readonly holder: string }
  | { readonly type: 'tmp-swept'; readonly count: number };

export interface StoreOptions {
  readonly onEvent?: (event: StoreEvent) => void;
  /** How long to wait for another process's lock (default 120 s). */
  readonly lockTimeoutMs?: number;
  /**
   * The most uncompressed bytes one layer (or one archive entry) may expand
   * to; past it, CACHE_LAYER_TOO_LARGE. Default: `STRATA_MAX_LAYER_SIZE`, else 64 GiB.
   */
  readonly maxLayerSize?: number;
}

const OCI_LAYOUT = `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;

/**
 * The strata store: an OCI image layout (blobs + index.json tags) with cache
 * records, the context hash memo and unpacked snapshots beside it. Every
 * method is safe to call from several processes on one root at once.
 * Maintenance takes a store and lives beside it: pruneStore (gc.ts),
 * diskUsage (usage.ts), verifyStore (verify.ts).
 */
export class Store {
  readonly root: string;
  readonly paths: StorePaths;
  /** The content-addressed blobs (blobs/sha256). */
  readonly blobs: DiskContentStore;
  readonly records: RecordStore;
  /** (path, size, mtime, ctime, inode) → digest, for hashing build contexts. */
  readonly memo: ContentMemo;
  /** Unpacked layers by chain ID, reference-counted. */
  readonly snapshots: SnapshotStore;
  /** See StoreOptions.maxLayerSize. */
  readonly maxLayerSize: number;
  /** Containers (records and writable layers); their images are roots of prune. */
  readonly containers: ContainerStore;
  readonly #options: StoreOptions;

  private constructor(root: string, options: StoreOptions) {
    this.root = root;
    this.paths = storePaths(root);
    this.#options = options;
    const emit = (event: ContentEvent) => options.onEvent?.(event);
    this.blobs = new DiskContentStore({ blobs: this.paths.blobs, tmp: this.paths.tmp, quarantine: this.paths.quarantine, onEvent: emit });
    this.records = new RecordStore(this.paths.records, this.paths.tmp);
    this.memo = new ContentMemo(this.paths.memo, this.paths.tmp);
    this.maxLayerSize = options.maxLayerSize ?? maxLayerSizeFromEnv();
    this.snapshots = new SnapshotStore(this.paths.snapshots, this.paths.snapshotRefs, this.paths.tmp, (digest) => this.getBlob(digest), this.maxLayerSize);
    this.containers = new ContainerStore(this.paths.containers, this.paths.tmp, this.paths.locks);
  }

  /**
   * Opens (creating if needed) the store at `root`, default `defaultStoreRoot()`.
   * Temp files left by processes that no longer run are removed.
   */
  static async open(root: string = defaultStoreRoot(), options: StoreOptions = {}): Promise<Store> {
    const store = new Store(root, options);
    const p = store.paths;
    try {
      for (const dir of [p.blobs, p.tmp, p.locks, p.quarantine, p.records, p.memo, p.snapshots, p.snapshotRefs, p.cacheMounts]) {
        await mkdir(dir, { recursive: true });
      }
      // Unpacked layers and running steps hold any image's setuid files and
      // device nodes, cache mounts what RUN steps left there (package caches,
      // build trees, tokens a tool wrote): only root may reach them (docker
      // keeps /var/lib/docker 0710).
      if (process.getuid?.() === 0) {
        for (const dir of [dirname(p.snapshots), p.tmp, p.cacheMounts]) if (((await stat(dir)).mode & 0o777) !== 0o700) await chmod(dir, 0o700);
      }
      await store.#createIfAbsent(p.ociLayout, OCI_LAYOUT);
      await store.#createIfAbsent(p.index, `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] }, null, 2)}\n`);
      const layout = JSON.parse(await readFile(p.ociLayout, 'utf8')) as { imageLayoutVersion?: unknown };
      if (layout.imageLayoutVersion !== '1.0.0') throw new Error(`unsupported imageLayoutVersion ${String(layout.imageLayoutVersion)}`);
    } catch (error) {
      if (isCacheError(error)) throw error;
      throw cacheError(CacheErrors.storeRoot, [root, (error as Error).message], { cause: error, path: root });
    }
    await store.sweepTemp();
    return store;
  }

  /** Creates a file with this content unless it exists (link(2) never overwrites). */
  async #createIfAbsent(path: string, content: string): Promise<void> {
    // the common case, an existing store: no temp file written and unlinked (two journal writes on a disk) at every open
    if ((await stat(path).catch(() => undefined))?.isFile() === true) return;
    const tmp = join(this.paths.tmp, tempName('file'));
    await writeFile(tmp, content, { flag: 'wx' });
    try {
      await link(tmp, path);
    } catch (error) {
      if (errnoCode(error) !== 'EEXIST') throw error;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  /** Removes temp files and folders whose writer process is gone; returns how many. */
  async sweepTemp(): Promise<number> {
    const dead = (await readdir(this.paths.tmp)).filter((name) => {
      const owner = tempOwner(name);
      return owner === undefined || !isIdentityAlive(owner);
    });
    // a killed build's folder may still have its overlays mounted: detach them first, or rm would delete through them
    for (const point of await mountsUnder(dead.map((name) => join(this.paths.tmp, name)))) await detachMount(point);
    let count = 0;
    for (const name of dead) {
      // what cannot be removed now (a mount that would not detach) is tried again at the next open
      const removed = await rm(join(this.paths.tmp, name), { recursive: true, force: true }).then(() => true, () => false);
      if (removed) count += 1;
    }
    if (count > 0) this.#options.onEvent?.({ type: 'tmp-swept', count });
    return count;
  }

  // ---- blobs ---------------------------------------------------------------

  /** Stores bytes; returns their digest and size. A blob already stored is success. */
  putBlob(source: BlobSource, options?: PutBlobOptions): Promise<PutBlobResult> {
    return this.blobs.putBlob(source, options);
  }

  /**
   * Stores a file in the store's tmp folder that the caller wrote and hashed
   * itself, by rename (no second read): see DiskContentStore.putBlobFile.
   */
  putBlobFile(file: string, known: BlobInfo): Promise<PutBlobResult> {
    return this.blobs.putBlobFile(file, { digest: parseDigest(known.digest), size: known.size });
  }

  /** A verifying stream of a blob: it fails with CACHE_INTEGRITY (and the blob is quarantined) if the bytes are wrong. */
  getBlob(digest: Digest, options?: GetBlobOptions): Promise<Readable> {
    return this.blobs.getBlob(parseDigest(digest), options);
  }

  /** A whole blob, verified. */
  readBlob(digest: Digest, options?: GetBlobOptions): Promise<Buffer> {
    return this.blobs.readBlob(parseDigest(digest), options);
  }

  /**
   * Whether a blob is stored. A blob found counts as used now: a writer that
   * skips a download because the blob is here is protected from a concurrent
   * prune by the grace period until it tags the image.
   */
  async hasBlob(digest: Digest): Promise<boolean> {
    const path = this.blobs.blobPath(parseDigest(digest));
    const now = new Date();
    try {
      await utimes(path, now, now);
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      // A store this user may read but not write: presence is all that can be said.
      if (['EPERM', 'EACCES', 'EROFS'].includes(errnoCode(error) ?? '')) return this.blobs.hasBlob(parseDigest(digest));
      throw error;
    }
  }

  statBlob(digest: Digest): Promise<BlobStat | undefined> {
    return this.blobs.statBlob(parseDigest(digest));
  }

  /** Stores a JSON document (manifest, config, index) and returns its descriptor. */
  async putJson(value: unknown, mediaType: string): Promise<Descriptor> {
    // hashed in memory first: a document already stored (a cached rebuild's config and manifest) is not written again
    const bytes = Buffer.from(JSON.stringify(value), 'utf8');
    const expected = { digest: digestOf(bytes), size: bytes.length };
    const { digest, size } = await this.putBlob(bytes, { expected });
    return { mediaType, digest, size };
  }

  /** Reads and parses a verified JSON blob. */
  async readJson<T>(digest: Digest): Promise<T> {
    const data = await this.readBlob(digest);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (error) {
      throw cacheError(CacheErrors.corruptRecord, [digest, 'not JSON'], { cause: error });
    }
  }

  readManifest(digest: Digest): Promise<Manifest> {
    return this.readJson<Manifest>(digest);
  }

  readImageIndex(digest: Digest): Promise<Index> {
    return this.readJson<Index>(digest);
  }

  readConfig(digest: Digest): Promise<ImageConfig> {
    return this.readJson<ImageConfig>(digest);
  }

  // ---- references ----------------------------------------------------------

  #indexFile(): IndexFileOptions {
    const lock: LockOptions = {
      onWait: (holder) => this.#options.onEvent?.({ type: 'lock-waiting', lock: 'index', holder }),
      onBreak: (holder) => this.#options.onEvent?.({ type: 'lock-broken', lock: 'index', holder }),
      ...(this.#options.lockTimeoutMs === undefined ? {} : { timeoutMs: this.#options.lockTimeoutMs }),
    };
    return { indexPath: this.paths.index, lockPath: join(this.paths.locks, 'index.lock'), tmp: this.paths.tmp, lock };
  }

  /**
   * Names an image: `ref` is normalized (`busybox` → `docker.io/library/busybox:latest`)
   * and stored as the descriptor's ref.name annotation in index.json. The
   * manifest (or index) blob must already be in the store. Returns the normalized name.
   */
  async tag(ref: string, descriptor: Descriptor): Promise<string> {
    const name = normalizeReference(ref);
    const digest = parseDigest(descriptor.digest);
    if (!isIndexMediaType(descriptor.mediaType) && !isManifestMediaType(descriptor.mediaType)) {
      throw cacheError(CacheErrors.invalidArgument, [`a tag must name a manifest or an index, not ${descriptor.mediaType}`]);
    }
    const have = await this.statBlob(digest);
    if (have === undefined) throw cacheError(CacheErrors.blobNotFound, [digest]);
    if (have.size !== descriptor.size) {
      throw cacheError(CacheErrors.integrity, [digest, digest, descriptor.size, have.size], { expected: digest, found: digest });
    }
    const entry: Descriptor = {
      mediaType: descriptor.mediaType,
      digest,
      size: descriptor.size,
      ...(descriptor.annotations === undefined ? {} : { annotations: descriptor.annotations }),
      ...(descriptor.platform === undefined ? {} : { platform: descriptor.platform }),
    };
    await updateIndexFile(this.#indexFile(), (index) => {
      // tagging what the name already points at (a cached rebuild) leaves index.json untouched
      const current = index.manifests.find((d) => d.annotations?.[REF_NAME_ANNOTATION] === name);
      const same =
        current !== undefined &&
        current.digest === entry.digest &&
        current.mediaType === entry.mediaType &&
        current.size === entry.size &&
        JSON.stringify(current.platform) === JSON.stringify(entry.platform);
      return { index: same ? undefined : withTag(index, name, entry), result: undefined };
    });
    return name;
  }

  /** Where repo digests live, with the store's lock settings. */
  repoDigestFiles(): RepoDigestFiles {
    const index = this.#indexFile();
    return { dir: this.paths.repoDigests, lockPath: join(this.paths.locks, 'repo-digests.lock'), tmp: this.paths.tmp, ...(index.lock === undefined ? {} : { lock: index.lock }) };
  }

  /**
   * Records that an image (named by the digest its tag points at) is on a
   * registry as `repoDigest` (`host/repo@sha256:…`): pull and push call this,
   * inspect shows the list as RepoDigests. Kept until prune removes the
   * image's manifest. Returns the image's repo digests.
   */
  addRepoDigests(image: Digest, repoDigests: readonly string[]): Promise<string[]> {
    return addRepoDigests(this.repoDigestFiles(), parseDigest(image), repoDigests);
  }

  /** The repo digests recorded for an image (see addRepoDigests), sorted. */
  repoDigests(image: Digest): Promise<string[]> {
    return readRepoDigests(this.repoDigestFiles(), parseDigest(image));
  }

  /** Removes a name; true if it existed. The image's blobs stay until prune. */
  async untag(ref: string): Promise<boolean> {
    const name = normalizeReference(ref);
    return updateIndexFile(this.#indexFile(), (index) => {
      const next = withoutTag(index, name);
      return { index: next, result: next !== undefined };
    });
  }

  /** The descriptor a name points at; throws CACHE_REF_NOT_FOUND. */
  async resolve(ref: string): Promise<Descriptor> {
    const name = normalizeReference(ref);
    const found = taggedImages(await readIndexFile(this.paths.index)).find((image) => image.ref === name);
    if (found === undefined) throw cacheError(CacheErrors.refNotFound, [name]);
    return found.descriptor;
  }

  /** Every tagged image, sorted by name. */
  async images(): Promise<TaggedImage[]> {
    return taggedImages(await readIndexFile(this.paths.index)).sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  /**
   * Every blob an image needs: the manifest (or index and its manifests), configs and layers.
   * Missing or damaged ones are reported in `missing` rather than thrown. An index may
   * legitimately hold only some of its platforms: children of an index that were never
   * stored are listed in `absent`, not `missing`.
   */
  async imageBlobs(descriptor: Descriptor): Promise<{ blobs: Map<Digest, Descriptor>; missing: Digest[]; absent: Digest[]; configs: Digest[] }> {
    const blobs = new Map<Digest, Descriptor>();
    const missing: Digest[] = [];
    const absent: Digest[] = [];
    const configs: Digest[] = [];
    const visit = async (d: Descriptor, inIndex: boolean): Promise<void> => {
      if (blobs.has(d.digest)) return;
      blobs.set(d.digest, d);
      let doc: Partial<Manifest & Index>;
      try {
        doc = await this.readJson<Partial<Manifest & Index>>(d.digest);
      } catch (error) {
        if (isCacheError(error) && inIndex && error.code === 'CACHE_BLOB_NOT_FOUND') {
          blobs.delete(d.digest);
          absent.push(d.digest);
          return;
        }
        if (isCacheError(error) && (error.code === 'CACHE_BLOB_NOT_FOUND' || error.code === 'CACHE_INTEGRITY')) {
          missing.push(d.digest);
          return;
        }
        throw error;
      }
      if (isIndexMediaType(d.mediaType) || Array.isArray(doc.manifests)) {
        for (const child of doc.manifests ?? []) await visit(child, true);
        return;
      }
      if (doc.config !== undefined) {
        blobs.set(doc.config.digest, doc.config);
        configs.push(doc.config.digest);
      }
      for (const layer of doc.layers ?? []) blobs.set(layer.digest, layer);
    };
    await visit(descriptor, false);
    return { blobs, missing, absent, configs };
  }

  // ---- cache records -------------------------------------------------------

  /** Records what a step produced under its cache key (atomic; last writer wins). */
  putCacheRecord(key: CacheKey, record: CacheRecordInput): Promise<CacheRecord> {
    return this.records.put(key, record);
  }

  /** The record of a key, or undefined; a hit counts as a use for least-recently-used pruning. */
  getCacheRecord(key: CacheKey): Promise<CacheRecord | undefined> {
    return this.records.get(key);
  }

  deleteCacheRecord(key: CacheKey): Promise<boolean> {
    return this.records.delete(key);
  }
}
