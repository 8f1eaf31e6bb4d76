import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { digestHex, isDigest, parseDigest, type ChainId, type DiffId, type Digest } from './digest.js';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { fsyncDir, removeTree, tempName, writeFileAtomic } from './fs-util.js';
import { MediaType, type Descriptor } from './oci.js';
import { DEFAULT_MAX_LAYER_SIZE, extractLayer } from './unpack.js';

/** What an unpacked layer holds besides its files: the changes a tar can only describe. */
export interface SnapshotInfo {
  readonly chainId: ChainId;
  readonly parent?: ChainId;
  readonly diffId: DiffId;
  /** The layer blob it was unpacked from. */
  readonly digest: Digest;
  /** The folder with the layer's files (whiteouts excluded: see `whiteouts`). */
  readonly path: string;
  /** Bytes of regular files, and entries written. */
  readonly size: number;
  readonly entries: number;
  /** Paths (relative, no leading slash) this layer deletes from its parents (`.wh.<name>` entries). */
  readonly whiteouts: readonly string[];
  /** Folders whose parent contents this layer hides (`.wh..wh..opq`). */
  readonly opaqueDirs: readonly string[];
  /** Device nodes and fifos, which are recorded rather than created. */
  readonly specials: readonly { path: string; type: string; mode: number; devmajor?: number; devminor?: number }[];
  readonly createdAt: string;
  /** When it was last unpacked or reused (meta.json's mtime); prune keeps recently used ones. */
  readonly lastUsedMs?: number;
}

export interface UnpackOptions {
  /** The layer's descriptor; its blob must be in the store. */
  readonly layer: Descriptor;
  /** The expected diff ID; when given, a mismatch is CACHE_INTEGRITY. */
  readonly diffId?: DiffId;
  /** The chain ID of the layers below, if any. */
  readonly parent?: ChainId;
  /** The most uncompressed bytes the layer may have (default: the store's limit). */
  readonly maxBytes?: number;
}

/** How the snapshot store reads blobs: a verifying stream. */
export type BlobOpener = (digest: Digest) => Promise<Readable>;

const META = 'meta.json';
const FS = 'fs';
/**
 * A file beside a snapshot's `fs` folder saying that its whiteouts, opaque
 * folders and device nodes exist in overlayfs's on-disk form (the builder
 * materializes an unpacked snapshot once; an adopted upper folder is born so).
 */
export const SNAPSHOT_OVERLAY_MARK = 'overlay-v1';

/**
 * A file beside an adopted snapshot's `fs` folder: the builder's index of the
 * layer tar it was committed as (where each entry lies in the blob), which
 * the next incremental COPY of the same step reads. Opaque to the store.
 */
export const SNAPSHOT_LAYER_INDEX = 'layer-index.json';

/** What the store is told of a folder it adopts as a snapshot (an overlay upper folder, already in overlayfs form). */
export interface AdoptOptions {
  readonly parent?: ChainId;
  readonly diffId: DiffId;
  /** The layer blob the folder is the content of (in the store). */
  readonly digest: Digest;
  readonly size: number;
  readonly entries: number;
  /** The builder's layer index (SNAPSHOT_LAYER_INDEX), kept beside the folder. */
  readonly layerIndex?: string;
}

function chainOf(parent: ChainId | undefined, diffId: DiffId): ChainId {
  if (parent === undefined) return diffId as unknown as ChainId;
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}` as ChainId;
}


/**
 * Unpacked layers, one folder per chain ID: `<layers>/<hex>/{fs/,meta.json}`.
 * A layer is unpacked into a temp folder and renamed into place, so a chain ID
 * folder is always complete. Holders (builds, mounted images) take a reference
 * with `acquire`; prune removes only snapshots that nobody holds.
 */
export class SnapshotStore {
  readonly #layers: string;
  readonly #refs: string;
  readonly #tmp: string;
  readonly #openBlob: BlobOpener;
  readonly #maxBytes: number;

  constructor(layers: string, refs: string, tmp: string, openBlob: BlobOpener, maxBytes: number = DEFAULT_MAX_LAYER_SIZE) {
    this.#maxBytes = maxBytes;
    this.#layers = layers;
    this.#refs = refs;
    this.#tmp = tmp;
    this.#openBlob = openBlob;
  }

  /** The chain ID a layer will have on top of `parent`. */
  static chainId(parent: ChainId | undefined, diffId: DiffId): ChainId {
    return chainOf(parent, diffId);
  }

  async get(chainId: ChainId): Promise<SnapshotInfo | undefined> {
    const dir = join(this.#layers, digestHex(parseDigest(chainId)));
    try {
      const meta = JSON.parse(await readFile(join(dir, META), 'utf8')) as SnapshotInfo;
      const facts = await stat(join(dir, META));
      return { ...meta, path: join(dir, FS), lastUsedMs: facts.mtimeMs };
    } catch (error) {
      if (errnoCode(error) === 'ENOENT' || error instanceof SyntaxError) return undefined;
      throw error;
    }
  }

  /** Every complete snapshot, and the names of folders that are not (for verify). */
  async list(): Promise<{ snapshots: SnapshotInfo[]; damaged: string[] }> {
    const snapshots: SnapshotInfo[] = [];
    const damaged: string[] = [];
    for (const name of await readdir(this.#layers)) {
      const chainId = `sha256:${name}`;
      const info = isDigest(chainId) ? await this.get(chainId as ChainId) : undefined;
      if (info === undefined || info.chainId !== chainId) damaged.push(join(this.#layers, name));
      else snapshots.push(info);
    }
    return { snapshots, damaged };
  }

  /** Unpacks a layer blob (tar or tar+gzip) into its chain ID folder, or returns the existing one. */
  async unpack(options: UnpackOptions): Promise<SnapshotInfo> {
    if (options.diffId !== undefined) {
      const existing = await this.get(chainOf(options.parent, options.diffId));
      if (existing !== undefined) return this.#touch(existing);
    }
    const gzip = gzipOf(options.layer.mediaType);
    const work = join(this.#tmp, tempName('snap'));
    await mkdir(join(work, FS), { recursive: true });
    try {
      const unpacked = await extractLayer(await this.#openBlob(options.layer.digest), gzip, join(work, FS), {
        maxBytes: options.maxBytes ?? this.#maxBytes,
      });
      if (options.diffId !== undefined && unpacked.diffId !== options.diffId) {
        throw cacheError(CacheErrors.integrity, [options.diffId, unpacked.diffId], { expected: options.diffId, found: unpacked.diffId });
      }
      const chainId = chainOf(options.parent, unpacked.diffId);
      const info: SnapshotInfo = {
        chainId,
        ...(options.parent === undefined ? {} : { parent: options.parent }),
        diffId: unpacked.diffId,
        digest: options.layer.digest,
        path: '',
        size: unpacked.size,
        entries: unpacked.entries,
        whiteouts: unpacked.whiteouts,
        opaqueDirs: unpacked.opaqueDirs,
        specials: unpacked.specials,
        createdAt: new Date().toISOString(),
      };
      const existing = await this.get(chainId);
      if (existing !== undefined) return this.#touch(existing);
      await writeFileAtomic(this.#tmp, join(work, META), `${JSON.stringify(info)}\n`);
      await fsyncDir(work);
      const dest = join(this.#layers, digestHex(chainId));
      try {
        await rename(work, dest);
      } catch (error) {
        // Another process unpacked the same chain first: theirs is as good as ours.
        if (errnoCode(error) !== 'ENOTEMPTY' && errnoCode(error) !== 'EEXIST') throw error;
      }
      await fsyncDir(this.#layers);
      const stored = await this.get(chainId);
      if (stored === undefined) throw cacheError(CacheErrors.internal, [`snapshot ${chainId} vanished after unpacking`]);
      return stored;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Makes `dir` (a folder on the store's filesystem holding a layer's files
   * in overlayfs form: an upper folder a build step just wrote and committed)
   * the snapshot of its chain by renaming it into place: no file is copied.
   * When the chain already has a snapshot (another build made it), that one
   * is kept and `dir` is removed. Snapshot files are not fsynced: a snapshot
   * is a cache of its layer blob, which is.
   */
  async adopt(dir: string, options: AdoptOptions): Promise<SnapshotInfo> {
    const chainId = chainOf(options.parent, options.diffId);
    const existing = await this.get(chainId);
    if (existing !== undefined) {
      await removeTree(dir, this.#tmp);
      return this.#touch(existing);
    }
    const work = join(this.#tmp, tempName('snap'));
    await mkdir(work);
    try {
      await rename(dir, join(work, FS));
      const info: SnapshotInfo = {
        chainId,
        ...(options.parent === undefined ? {} : { parent: options.parent }),
        diffId: options.diffId,
        digest: options.digest,
        path: '',
        size: options.size,
        entries: options.entries,
        whiteouts: [],
        opaqueDirs: [],
        specials: [],
        createdAt: new Date().toISOString(),
      };
      await writeFile(join(work, SNAPSHOT_OVERLAY_MARK), '');
      if (options.layerIndex !== undefined) await writeFile(join(work, SNAPSHOT_LAYER_INDEX), options.layerIndex);
      await writeFileAtomic(this.#tmp, join(work, META), `${JSON.stringify(info)}\n`);
      try {
        await rename(work, join(this.#layers, digestHex(chainId)));
      } catch (error) {
        if (errnoCode(error) !== 'ENOTEMPTY' && errnoCode(error) !== 'EEXIST') throw error;
      }
    } finally {
      // gone when it was renamed into place; else (a race lost, a failure) removed
      await removeTree(work, this.#tmp);
    }
    const stored = await this.get(chainId);
    if (stored === undefined) throw cacheError(CacheErrors.internal, [`snapshot ${chainId} vanished after adopting it`]);
    return stored;
  }

  /**
   * Takes a snapshot out of the store: its folder is renamed to `dest` (on
   * the store's filesystem) and is the caller's to change, so a step can make
   * its new layer from the last one without copying it. Nothing is taken when
   * the snapshot is missing or anyone holds it (it was renamed back). Returns
   * what the snapshot was, with `path` under `dest`.
   */
  async take(chainId: ChainId, dest: string): Promise<SnapshotInfo | undefined> {
    const hex = digestHex(parseDigest(chainId));
    const info = await this.get(chainId);
    if (info === undefined) return undefined;
    try {
      await rename(join(this.#layers, hex), dest);
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    // a holder that took its reference before the rename keeps the snapshot
    if ((await this.holders(chainId)).length > 0) {
      await rename(dest, join(this.#layers, hex)).catch(() => removeTree(dest, this.#tmp));
      return undefined;
    }
    await rm(join(this.#refs, hex), { recursive: true, force: true });
    return { ...info, path: join(dest, FS) };
  }

  /** Marks a snapshot as used now: prune's grace period then protects it. */
  async #touch(info: SnapshotInfo): Promise<SnapshotInfo> {
    const now = new Date();
    await utimes(join(this.#layers, digestHex(info.chainId), META), now, now).catch(() => undefined);
    return { ...info, lastUsedMs: now.getTime() };
  }

  /** Removes a snapshot (renamed aside first, so it disappears at once). */
  async remove(chainId: ChainId): Promise<boolean> {
    const hex = digestHex(parseDigest(chainId));
    const removed = await removeTree(join(this.#layers, hex), this.#tmp);
    await rm(join(this.#refs, hex), { recursive: true, force: true });
    return removed;
  }

  /** Takes a reference on a snapshot for `holder` (idempotent). */
  async acquire(chainId: ChainId, holder: string): Promise<void> {
    if ((await this.get(chainId)) === undefined) throw cacheError(CacheErrors.blobNotFound, [chainId]);
    const dir = join(this.#refs, digestHex(chainId));
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, encodeURIComponent(holder)), '');
  }

  /** Drops `holder`'s reference; true if it had one. */
  async release(chainId: ChainId, holder: string): Promise<boolean> {
    try {
      await unlink(join(this.#refs, digestHex(parseDigest(chainId)), encodeURIComponent(holder)));
      return true;
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return false;
      throw error;
    }
  }

  /** Who holds a snapshot. */
  async holders(chainId: ChainId): Promise<string[]> {
    try {
      return (await readdir(join(this.#refs, digestHex(parseDigest(chainId))))).map(decodeURIComponent).sort();
    } catch (error) {
      if (errnoCode(error) === 'ENOENT') return [];
      throw error;
    }
  }
}

function gzipOf(mediaType: string): boolean {
  switch (mediaType) {
    case MediaType.ociLayer:
    case 'application/vnd.docker.image.rootfs.diff.tar':
      return false;
    case MediaType.ociLayerGzip:
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip':
      return true;
    default:
      throw cacheError(CacheErrors.unsupportedMediaType, [mediaType]);
  }
}
