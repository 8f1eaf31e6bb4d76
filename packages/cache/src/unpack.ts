import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import { lstat, lutimes, open, rm, chmod, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import type { DiffId } from './digest.js';
import { cacheError, CacheErrors } from './errors.js';
import { fsyncDir } from './fs-util.js';

/** Splits a tar entry name into safe relative components; throws CACHE_UNSAFE_PATH. */
export function safeEntryPath(name: string): string[] {
  if (name.startsWith('/')) throw cacheError(CacheErrors.unsafePath, [name, 'is an absolute path']);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw cacheError(CacheErrors.unsafePath, [name, 'climbs out with ..']);
  if (name.includes('\0')) throw cacheError(CacheErrors.unsafePath, [name, 'contains a NUL byte']);
  return parts;
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

/** Extracts a tar stream into `root`, refusing any entry that would land outside it. */
export async function extractLayer(blob: Readable, gzip: boolean, root: string): Promise<Unpacked> {
  const hash = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const extract = tarExtract();
  const feeding = pipeline(gzip ? [blob, createGunzip(), hasher, extract] : [blob, hasher, extract]);
  feeding.catch(() => undefined);
  const writer = new TreeWriter(root);
  try {
    for await (const entry of extract) {
      await writer.write(entry.header, entry);
    }
  } catch (error) {
    blob.destroy();
    await feeding.catch(() => undefined);
    throw error;
  }
  await feeding;
  // Drain what follows the end-of-archive blocks so the diff ID covers every byte.
  await writer.finish();
  return {
    diffId: `sha256:${hash.digest('hex')}` as DiffId,
    size: writer.size,
    entries: writer.entries,
    whiteouts: writer.whiteouts,
    opaqueDirs: writer.opaqueDirs,
    dirs: writer.explicitDirs,
    specials: writer.specials,
  };
}

type EntryBody = AsyncIterable<unknown> & { resume(): unknown };

const asRoot = process.getuid?.() === 0;

/** Writes tar entries under a root without ever following a symlink the layer made. */
class TreeWriter {
  size = 0;
  entries = 0;
  readonly whiteouts: string[] = [];
  readonly opaqueDirs: string[] = [];
  readonly specials: Unpacked['specials'] = [];
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

  async write(header: Header, body: EntryBody): Promise<void> {
    const parts = safeEntryPath(header.name);
    const rel = parts.join('/');
    const base = parts[parts.length - 1] ?? '';
    if (base.startsWith('.wh.')) {
      const dir = parts.slice(0, -1).join('/');
      await this.#ensureParents(parts.slice(0, -1));
      if (base === '.wh..wh..opq') this.opaqueDirs.push(dir);
      else this.whiteouts.push([...parts.slice(0, -1), base.slice(4)].join('/'));
      body.resume();
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
    switch (header.type ?? 'file') {
      case 'directory': {
        body.resume();
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
        await this.#clear(rel, dest);
        symlinkSync(header.linkname ?? '', dest);
        this.#own(dest, header);
        if (header.mtime !== undefined) await lutimes(dest, header.mtime, header.mtime).catch(() => undefined);
        return;
      }
      case 'link': {
        body.resume();
        const target = safeEntryPath(header.linkname ?? '');
        if (target.length === 0) throw cacheError(CacheErrors.unsafePath, [header.name, 'is a hard link to the root']);
        await this.#ensureParents(target.slice(0, -1), { create: false });
        const source = join(this.#root, target.join('/'));
        const info = await lstat(source).catch(() => undefined);
        if (info === undefined || info.isDirectory()) {
          throw cacheError(CacheErrors.unsafePath, [header.name, `links to '${header.linkname ?? ''}', which is not a file earlier in the layer`]);
        }
        await this.#clear(rel, dest);
        linkSync(source, dest);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        body.resume();
        this.specials.push({
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

  /** Applies folder modes and times last, deepest first, so that read-only folders could still be filled. */
  async finish(): Promise<void> {
    const dirs = [...this.#dirModes.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, { mode, mtime }] of dirs) {
      const dest = join(this.#root, rel);
      await chmod(dest, mode);
      if (mtime !== undefined) await utimes(dest, mtime, mtime);
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
      if (info === undefined) {
        if (options.create === false) throw cacheError(CacheErrors.unsafePath, [rel, 'does not exist']);
        mkdirSync(dest, { mode: 0o755 });
      }
      this.#dirs.add(rel);
    }
  }

  /** Removes whatever is at `dest` so that an entry can replace it (later entries win in a tar). */
  async #clear(rel: string, dest: string): Promise<void> {
    if (!this.#made.has(rel) && !this.#dirs.has(rel)) {
      this.#made.add(rel);
      return;
    }
    const info = await lstat(dest).catch(() => undefined);
    if (info === undefined) return;
    if (info.isDirectory()) {
      await rm(dest, { recursive: true, force: true });
      for (const known of [...this.#dirs]) if (known === rel || known.startsWith(`${rel}/`)) this.#dirs.delete(known);
      for (const known of [...this.#dirModes.keys()]) if (known === rel || known.startsWith(`${rel}/`)) this.#dirModes.delete(known);
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
