// Layer tars into folders, for snapshots (pull, load, import, FROM) and ADD.
// A layer comes from anyone: every entry is checked before anything is
// written, nothing is ever written through a symlink, and a layer either
// unpacks wholly inside its root or fails with a CACHE_* error.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { lstat, lutimes, open, rm, chmod, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { Header } from 'tar-stream';
import type { DiffId } from './digest.js';
import { cacheError, CacheErrors, errnoCode, isCacheError } from './errors.js';
import { fsyncDir } from './fs-util.js';

/** Splits a tar entry name into safe relative components; throws CACHE_UNSAFE_PATH. */
export function safeEntryPath(name: string): string[] {
  if (name.startsWith('/')) throw cacheError(CacheErrors.unsafePath, [name, 'is an absolute path']);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw cacheError(CacheErrors.unsafePath, [name, 'climbs out with ..']);
  if (name.includes('\0')) throw cacheError(CacheErrors.unsafePath, [name, 'contains a NUL byte']);
  return parts;
}

/**
 * The most a layer may expand to (uncompressed tar bytes) unless the store is
 * told otherwise: far above real layers (a CUDA layer is ~10 GB), far below
 * what a gzip bomb (1000:1 and more) reaches.
 */
export const DEFAULT_MAX_LAYER_SIZE = 64 * 1024 ** 3;

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The layer size limit from `STRATA_MAX_LAYER_SIZE` (bytes, or with a K/M/G/T suffix), else the default. */
export function maxLayerSizeFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const text = env.STRATA_MAX_LAYER_SIZE?.trim();
  if (text === undefined || text === '') return DEFAULT_MAX_LAYER_SIZE;
  const match = /^([0-9]+)\s*([kmgt]?)i?b?$/i.exec(text);
  if (match === null) {
    throw cacheError(CacheErrors.invalidArgument, [`STRATA_MAX_LAYER_SIZE='${text}' is not a size (bytes, or a number with K, M, G or T)`]);
  }
  return Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1);
}

export interface Unpacked {
  diffId: DiffId;
  size: number;
  entries: number;
  whiteouts: string[];
  opaqueDirs: string[];
  /** Folders that had their own entry (the others were made as parents, 0755, owned by the extractor). */
  dirs: string[];
  specials: { path: string; type: string; mode: number; devmajor?: number; devminor?: number }[];
}

export interface ExtractOptions {
  /** Fail with CACHE_LAYER_TOO_LARGE past this many uncompressed bytes (default DEFAULT_MAX_LAYER_SIZE). */
  readonly maxBytes?: number;
}

/**
 * Extracts a tar stream into `root` (an empty folder), refusing any entry that
 * would land outside it (CACHE_UNSAFE_PATH). Device nodes and fifos are
 * recorded in `specials`, never created; whiteouts likewise. A damaged or
 * malformed tar is CACHE_LAYER_INVALID, one past `maxBytes` CACHE_LAYER_TOO_LARGE.
 */
export async function extractLayer(blob: Readable, gzip: boolean, root: string, options: ExtractOptions = {}): Promise<Unpacked> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_LAYER_SIZE;
  const hash = createHash('sha256');
  let total = 0;
  let tooLarge: Error | undefined;
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      total += chunk.length;
      if (total > maxBytes) {
        tooLarge ??= cacheError(CacheErrors.layerTooLarge, [maxBytes]);
        callback(tooLarge);
        return;
      }
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // tar-stream is loaded when a layer is first extracted, not at start-up (a no-op rebuild never extracts)
  const { extract: tarExtract } = await import('tar-stream');
  const extract = tarExtract();
  const feeding = pipeline(gzip ? [blob, createGunzip(), hasher, extract] : [blob, hasher, extract]);
  feeding.catch(() => undefined);
  const writer = new TreeWriter(root);
  try {
    for await (const entry of extract) {
      await writer.write(entry.header, entry);
    }
    await feeding;
    // Folder modes last, then a check that nothing recorded sits under a symlink.
    await writer.finish();
  } catch (error) {
    blob.destroy();
    const fed = await feeding.then(() => undefined, (e: unknown) => e);
    throw layerError(tooLarge ?? (isCacheError(fed) ? fed : error));
  }
  return {
    diffId: `sha256:${hash.digest('hex')}` as DiffId,
    size: writer.size,
    entries: writer.entries,
    whiteouts: [...writer.whiteouts],
    opaqueDirs: [...writer.opaqueDirs],
    dirs: writer.explicitDirs,
    specials: [...writer.specials.values()],
  };
}

/** A store error as it is; the tar parser's and gunzip's errors as CACHE_LAYER_INVALID; disk errors as they are. */
function layerError(error: unknown): unknown {
  if (isCacheError(error)) return error;
  if (errnoCode(error)?.startsWith('E') === true && (error as { syscall?: unknown }).syscall !== undefined) return error;
  return cacheError(CacheErrors.layerInvalid, [(error as Error).message ?? String(error)], { cause: error });
}

type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

const asRoot = process.getuid?.() === 0;
/** The largest uid/gid: (uid_t)-1 means "unchanged" to chown(2). */
const MAX_ID = 2 ** 32 - 2;

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_ID;
}

/**
 * Checks the numbers of a header and applies the PAX records tar-stream
 * leaves alone (uid, gid, mtime); a value out of range or not a number is
 * CACHE_LAYER_INVALID rather than a chown of someone else's id or a NaN time.
 */
function checkHeader(header: Header): Header {
  const pax = (header.pax ?? {}) as Record<string, string>;
  const out: Header = { ...header };
  const decimal = (key: string, pattern: RegExp): number | undefined => {
    const text = pax[key];
    if (text === undefined) return undefined;
    if (!pattern.test(text)) throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has a PAX ${key} of '${text}'`]);
    return Number(text);
  };
  if (pax.size !== undefined && !/^[0-9]+$/.test(pax.size)) throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has a PAX size of '${pax.size}'`]);
  const uid = decimal('uid', /^[0-9]+$/);
  const gid = decimal('gid', /^[0-9]+$/);
  const mtime = decimal('mtime', /^-?[0-9]+(\.[0-9]+)?$/);
  if (uid !== undefined) out.uid = uid;
  if (gid !== undefined) out.gid = gid;
  if (mtime !== undefined) out.mtime = new Date(mtime * 1000);
  if (!isId(out.uid) || !isId(out.gid)) throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has the owner ${out.uid}:${out.gid}`]);
  if (!(out.size >= 0) || !Number.isSafeInteger(out.size)) throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has a size of ${out.size}`]);
  if (out.mtime !== undefined && !(Math.abs(out.mtime.getTime()) <= 8.64e15)) {
    throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has an invalid modification time`]);
  }
  for (const key of ['devmajor', 'devminor'] as const) {
    const value = out[key];
    if (value !== undefined && value !== null && !(Number.isInteger(value) && value >= 0 && value <= 0xfffff)) {
      throw cacheError(CacheErrors.layerInvalid, [`entry '${header.name}' has a device number ${value}`]);
    }
  }
  return out;
}

/** True for `a` itself and everything under it. */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

/** Writes tar entries under a root without ever following a symlink the layer made. */
class TreeWriter {
  size = 0;
  entries = 0;
  /** Paths this layer deletes from the layers below (`.wh.<name>`), and folders it makes opaque. */
  readonly whiteouts = new Set<string>();
  readonly opaqueDirs = new Set<string>();
  /** Device nodes and fifos by path: recorded, never created here. */
  readonly specials = new Map<string, Unpacked['specials'][number]>();
  readonly #root: string;
  /** Folders known to be real directories (not symlinks) inside the root. */
  readonly #dirs = new Set<string>(['']);
  readonly #dirModes = new Map<string, { mode: number; mtime: Date | undefined }>();
  /** Non-folder paths this extraction created: only these can need clearing (the tree starts empty). */
  readonly #made = new Set<string>();
  /** Regular files written, for the fsync fallback. */
  readonly #files: string[] = [];

  constructor(root: string) {
    this.#root = root;
  }

  get explicitDirs(): string[] {
    return [...this.#dirModes.keys()];
  }

  async write(raw: Header, body: EntryBody): Promise<void> {
    const header = checkHeader(raw);
    const parts = safeEntryPath(header.name);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith('.wh.')) {
      body.resume();
      const dir = parts.slice(0, -1).join('/');
      if (base.startsWith('.wh..wh.')) {
        // AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs) other than the opaque marker carries nothing to apply
        if (base !== '.wh..wh..opq') return;
        await this.#ensureParents(parts.slice(0, -1));
        this.opaqueDirs.add(dir);
        return;
      }
      const name = base.slice(4);
      if (name === '' || name === '.' || name === '..') throw cacheError(CacheErrors.unsafePath, [header.name, 'is a whiteout of no file (or of its own folder)']);
      await this.#ensureParents(parts.slice(0, -1));
      this.whiteouts.add(dir === '' ? name : `${dir}/${name}`);
      return;
    }
    if (rel === '') {
      body.resume();
      return;
    }
    await this.#ensureParents(parts.slice(0, -1));
    const dest = join(this.#root, rel);
    const mode = (header.mode ?? 0o644) & 0o7777;
    this.entries += 1;
    // A later entry replaces an earlier one and undoes a whiteout of the same path (a tar's last entry wins).
    this.whiteouts.delete(rel);
    switch (header.type ?? 'file') {
      case 'directory': {
        body.resume();
        this.specials.delete(rel);
        if (!this.#dirs.has(rel)) {
          if (this.#made.has(rel)) {
            await this.#clear(rel, dest);
            this.#made.delete(rel);
          }
          mkdirSync(dest, { mode: 0o755 });
          this.#dirs.add(rel);
        }
        this.#dirModes.set(rel, { mode, mtime: header.mtime });
        this.#own(dest, header);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        await this.#clear(rel, dest);
        // Small metadata calls go straight to the kernel (sync): a thread-pool
        // round trip per call costs more than the call itself for small files.
        const fd = openSync(dest, 'wx', 0o600);
        try {
          for await (const chunk of body) {
            const data = chunk as Buffer;
            for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
            this.size += data.length;
          }
          if (asRoot) fchownSync(fd, header.uid, header.gid);
          fchmodSync(fd, mode);
          if (header.mtime !== undefined) futimesSync(fd, header.mtime, header.mtime);
        } finally {
          closeSync(fd);
        }
        this.#files.push(dest);
        return;
      }
      case 'symlink': {
        body.resume();
        const target = header.linkname ?? '';
        if (target.includes('\0')) throw cacheError(CacheErrors.unsafePath, [header.name, 'is a symlink whose target contains a NUL byte']);
        await this.#clear(rel, dest);
        symlinkSync(target, dest);
        this.#own(dest, header);
        if (header.mtime !== undefined) await lutimes(dest, header.mtime, header.mtime).catch(() => undefined);
        return;
      }
      case 'link': {
        body.resume();
        const target = safeEntryPath(header.linkname ?? '');
        if (target.length === 0) throw cacheError(CacheErrors.unsafePath, [header.name, 'is a hard link to the root']);
        const notEarlier = () => cacheError(CacheErrors.unsafePath, [header.name, `links to '${header.linkname ?? ''}', which is not a file earlier in the layer`]);
        try {
          await this.#ensureParents(target.slice(0, -1), { create: false });
        } catch (error) {
          if (isCacheError(error) && /does not exist|not a folder/.test(error.message)) throw notEarlier();
          throw error;
        }
        const source = join(this.#root, target.join('/'));
        const info = this.#made.has(target.join('/')) ? await lstat(source).catch(() => undefined) : undefined;
        if (info === undefined || info.isDirectory()) throw notEarlier();
        if (target.join('/') === rel) return;
        await this.#clear(rel, dest);
        linkSync(source, dest);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        body.resume();
        await this.#clear(rel, dest);
        this.specials.set(rel, {
          path: rel,
          type: header.type,
          mode,
          ...(header.devmajor === undefined ? {} : { devmajor: header.devmajor }),
          ...(header.devminor === undefined ? {} : { devminor: header.devminor }),
        });
        return;
      }
      default:
        body.resume();
        this.entries -= 1;
    }
  }

  /**
   * Applies folder modes and times last, deepest first, so that read-only
   * folders could still be filled; then checks that every recorded path
   * (whiteout, opaque folder, device) still has real folders as parents, since
   * whoever applies them later writes there as root.
   */
  async finish(): Promise<void> {
    const dirs = [...this.#dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, { mode, mtime }] of dirs) {
      const dest = join(this.#root, rel);
      await chmod(dest, mode);
      if (mtime !== undefined) await utimes(dest, mtime, mtime);
    }
    const checked = new Set<string>(['']);
    const recorded = [...this.whiteouts, ...[...this.opaqueDirs].map((d) => `${d}/.`), ...this.specials.keys()];
    for (const path of recorded) {
      let rel = '';
      for (const part of path.split('/').slice(0, -1)) {
        rel = rel === '' ? part : `${rel}/${part}`;
        if (checked.has(rel)) continue;
        const info = await lstat(join(this.#root, rel)).catch(() => undefined);
        if (info === undefined || !info.isDirectory()) throw cacheError(CacheErrors.unsafePath, [path, `lies under '${rel}', which is not a folder when the layer ends`]);
        checked.add(rel);
      }
    }
    await syncTree(this.#root, this.#files);
  }

  /** Makes sure every parent is a real folder inside the root; a symlink on the way is refused. */
  async #ensureParents(parts: string[], options: { create?: boolean } = {}): Promise<void> {
    let rel = '';
    for (const part of parts) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.#dirs.has(rel)) continue;
      const dest = join(this.#root, rel);
      // The tree starts empty: a path this extraction did not make does not exist.
      const info = this.#made.has(rel) ? await lstat(dest).catch(() => undefined) : undefined;
      if (info?.isSymbolicLink()) throw cacheError(CacheErrors.unsafePath, [rel, 'is a symlink that a later entry would write through']);
      if (info !== undefined && !info.isDirectory()) throw cacheError(CacheErrors.unsafePath, [rel, 'is a file, not a folder']);
      if (this.specials.has(rel)) throw cacheError(CacheErrors.unsafePath, [rel, 'is a device or fifo, not a folder']);
      if (info === undefined) {
        if (options.create === false) throw cacheError(CacheErrors.unsafePath, [rel, 'does not exist']);
        mkdirSync(dest, { mode: 0o755 });
      }
      this.#dirs.add(rel);
    }
  }

  /**
   * Removes whatever is at `dest` so that an entry can replace it (later
   * entries win in a tar). A folder replaced takes with it what was recorded
   * under it, so that nothing recorded ends up beneath the replacement.
   */
  async #clear(rel: string, dest: string): Promise<void> {
    this.specials.delete(rel);
    if (!this.#made.has(rel) && !this.#dirs.has(rel)) {
      this.#made.add(rel);
      return;
    }
    const info = await lstat(dest).catch(() => undefined);
    if (info === undefined) return;
    if (info.isDirectory()) {
      await rm(dest, { recursive: true, force: true });
      for (const known of [...this.#dirs]) if (within(known, rel)) this.#dirs.delete(known);
      for (const known of [...this.#dirModes.keys()]) if (within(known, rel)) this.#dirModes.delete(known);
      for (const known of [...this.#made]) if (known !== rel && within(known, rel)) this.#made.delete(known);
      for (const known of [...this.whiteouts]) if (within(known, rel)) this.whiteouts.delete(known);
      for (const known of [...this.opaqueDirs]) if (within(known, rel)) this.opaqueDirs.delete(known);
      for (const known of [...this.specials.keys()]) if (within(known, rel)) this.specials.delete(known);
      this.#made.add(rel);
    } else {
      await unlink(dest);
    }
  }

  #own(dest: string, header: Header): void {
    if (asRoot && header.uid !== undefined && header.gid !== undefined) lchownSync(dest, header.uid, header.gid);
  }
}

/**
 * Makes an unpacked tree durable before it is renamed into place: one
 * syncfs(2) through `sync -f` instead of an fsync per file (which costs about
 * a millisecond per file on a real disk); an fsync per file if `sync` is missing.
 */
async function syncTree(root: string, files: readonly string[]): Promise<void> {
  const synced = await new Promise<boolean>((resolve) => {
    execFile('sync', ['-f', root], (error) => resolve(error === null));
  });
  if (!synced) {
    for (const file of files) {
      const handle = await open(file, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
  }
  await fsyncDir(root);
}
