/**
 * Reads a layer's directory (an overlayfs upper directory, or a fresh folder
 * that COPY filled) into the sorted list of tar entries it stands for:
 * overlay whiteouts become `.wh.<name>` entries, opaque directories get a
 * `.wh..wh..opq` entry, files sharing an inode become one file and hardlinks
 * to it, and overlay-private extended attributes are dropped.
 */
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { buildError } from '../errors.js';
import { LayerErrors } from './errors.js';
import type { TarHeader, TarType } from './tar-header.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export interface LayerEntry {
  /** Path in the tar, relative, without a trailing slash. */
  readonly path: string;
  readonly type: TarType;
  /** The file on disk to read content from (regular files), or undefined. */
  readonly source: string | undefined;
  /** A regular file's bytes, when the caller already had them (ScanOptions.known): not read from `source`. */
  readonly content?: Buffer;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds, not yet clamped. */
  readonly mtime: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Uint8Array>;
  /** The file has other names in the layer (it is the first of them, or a hardlink to it). */
  readonly linked?: true;
}

export interface ScanOptions {
  /**
   * Facts already known of regular files (an incremental COPY's kept files,
   * from the old layer's index): such a path is not stat'ed and its extended
   * attributes are not read (it has none, and a single name).
   */
  readonly known?: (path: string) => KnownFile | undefined;
}

/** What a known file's tar header is made of, and its bytes when the caller has them. */
export interface KnownFile extends Pick<TarHeader, 'mode' | 'uid' | 'gid' | 'size' | 'mtime'> {
  readonly content?: Buffer;
}

export interface ScanResult {
  /** Entries in archive order: depth first, siblings by name bytes, an opaque marker first in its directory. */
  readonly entries: LayerEntry[];
  /** Paths that a tar cannot carry (sockets), left out of the layer. */
  readonly skipped: string[];
}

interface Scanned {
  entry: LayerEntry;
  readonly inode?: string;
}

/** Extended attributes a layer keeps: file capabilities and the user namespace. */
export function keepsXattr(name: string): boolean {
  if (name === 'security.capability') return true;
  // fuse-overlayfs's own attributes are its bookkeeping, not the image's
  return name.startsWith('user.') && !name.startsWith('user.fuseoverlayfs.') && !OVERLAY_PREFIXES.some((p) => name.startsWith(p));
}

/** Where overlayfs keeps its marks (as root, rootless); fuse-overlayfs's are gone before a scan (snapshot/fuse-upper.ts). */
const OVERLAY_PREFIXES = ['trusted.overlay.', 'user.overlay.'];


function overlayKey(name: string): string | undefined {
  for (const prefix of OVERLAY_PREFIXES) if (name.startsWith(prefix)) return name.slice(prefix.length);
  return undefined;
}

// Linux dev_t: major in bits 8-19 and 32-43, minor in bits 0-7 and 20-31 (glibc's gnu_dev_major/minor).
function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & ~0xff);
}

interface Attributes {
  readonly kept: Map<string, Uint8Array> | undefined;
  readonly opaque: boolean;
  readonly whiteout: boolean;
}

function readAttributes(abs: string, rel: string): Attributes {
  let names: string[];
  try {
    names = listAttributesSync(abs);
  } catch (cause) {
    throw buildError(LayerErrors.read, [rel, `listing extended attributes: ${(cause as Error).message}`], { cause });
  }
  if (names.length === 0) return { kept: undefined, opaque: false, whiteout: false };
  let kept: Map<string, Uint8Array> | undefined;
  let opaque = false;
  let whiteout = false;
  for (const name of names) {
    const key = overlayKey(name);
    if (key !== undefined) {
      if (key === 'redirect' || key === 'metacopy') throw buildError(LayerErrors.overlayFeature, [rel, name]);
      if (key === 'opaque') opaque = getAttributeSync(abs, name)?.toString('latin1') === 'y';
      else if (key === 'whiteout') whiteout = true;
      continue;
    }
    if (!keepsXattr(name)) continue;
    const value = getAttributeSync(abs, name);
    if (value === null) continue;
    (kept ??= new Map()).set(name, value);
  }
  return { kept, opaque, whiteout };
}

function childNames(abs: string, rel: string): string[] {
  let names: string[];
  try {
    names = readdirSync(abs);
  } catch (cause) {
    throw buildError(LayerErrors.read, [rel || '.', (cause as Error).message], { cause });
  }
  if (names.some((n) => n.includes('\uFFFD'))) {
    for (const raw of readdirSync(abs, { encoding: 'buffer' })) {
      if (!Buffer.from(raw.toString('utf8'), 'utf8').equals(raw)) {
        throw buildError(LayerErrors.pathEncoding, [join(rel, raw.toString('latin1'))]);
      }
    }
  }
  return names;
}

function seconds(stat: Stats): number {
  return Math.floor(stat.mtimeMs / 1000);
}

/** A child whose facts the caller knows (ScanOptions.known). */
interface KnownChild {
  readonly known: KnownFile;
  readonly key: Buffer;
  readonly abs: string;
  readonly rel: string;
}

interface Child {
  readonly name: string;
  /** The name as written in the tar: `.wh.<name>` for a whiteout. */
  readonly key: Buffer;
  readonly abs: string;
  readonly rel: string;
  readonly stat: Stats;
  readonly attrs: Attributes;
  readonly whiteout: boolean;
}

function readChild(absDir: string, relDir: string, name: string): Child {
  const abs = join(absDir, name);
  const rel = relDir === '' ? name : `${relDir}/${name}`;
  let stat: Stats;
  try {
    stat = lstatSync(abs);
  } catch (cause) {
    throw buildError(LayerErrors.read, [rel, (cause as Error).message], { cause });
  }
  const attrs = readAttributes(abs, rel);
  // An overlay whiteout (a 0/0 character device, or the "xwhiteout" form): the name was deleted.
  const whiteout = (stat.isCharacterDevice() && stat.rdev === 0) || (attrs.whiteout && stat.isFile() && stat.size === 0);
  return { name, key: Buffer.from(whiteout ? `${WHITEOUT_PREFIX}${name}` : name, 'utf8'), abs, rel, stat, attrs, whiteout };
}

/**
 * Scans `root` (not included itself) into archive entries, depth first: the
 * entries of a directory sorted by the bytes of their names as written, each
 * directory followed by its opaque marker and then its contents (the order of
 * Go's filepath.Walk, which docker and BuildKit layers have). Blocking file
 * system calls: the caller runs it once per commit, on a folder it owns.
 */
export function scanLayerDir(root: string, options: ScanOptions = {}): ScanResult {
  const found: Scanned[] = [];
  const skipped: string[] = [];
  const { known } = options;

  const visit = (absDir: string, relDir: string): void => {
    const children: Array<Child | KnownChild> = childNames(absDir, relDir).map((name) => {
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const facts = known?.(rel);
      return facts === undefined ? readChild(absDir, relDir, name) : { known: facts, key: Buffer.from(name, 'utf8'), abs: join(absDir, name), rel };
    });
    children.sort((a, b) => Buffer.compare(a.key, b.key));
    for (const child of children) {
      if ('known' in child) {
        const { mode, uid, gid, size, mtime, content } = child.known;
        const entry: LayerEntry = { path: child.rel, type: 'file', source: child.abs, mode, uid, gid, size, mtime };
        found.push({ entry: content === undefined || content.length !== size ? entry : { ...entry, content } });
        continue;
      }
      const { name, abs, rel, stat, attrs, whiteout } = child;
      const base = { source: undefined, mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, size: 0, mtime: seconds(stat) };
      if (whiteout) {
        const path = relDir === '' ? `${WHITEOUT_PREFIX}${name}` : `${relDir}/${WHITEOUT_PREFIX}${name}`;
        found.push({ entry: { ...base, path, type: 'file', mode: stat.mode & 0o777 } });
        continue;
      }
      const common = attrs.kept === undefined ? base : { ...base, xattrs: attrs.kept };
      const inode = stat.nlink > 1 && !stat.isDirectory() ? `${stat.dev}:${stat.ino}` : undefined;
      const push = (entry: LayerEntry): void => {
        found.push(inode === undefined ? { entry } : { entry, inode });
      };
      if (stat.isDirectory()) {
        push({ ...common, path: rel, type: 'dir' });
        if (attrs.opaque) found.push({ entry: { ...base, path: `${rel}/${OPAQUE_MARKER}`, type: 'file', mode: stat.mode & 0o777 } });
        visit(abs, rel);
      } else if (stat.isFile()) {
        push({ ...common, path: rel, type: 'file', source: abs, size: stat.size });
      } else if (stat.isSymbolicLink()) {
        let target: string;
        try {
          target = readlinkSync(abs);
        } catch (cause) {
          throw buildError(LayerErrors.read, [rel, (cause as Error).message], { cause });
        }
        push({ ...common, path: rel, type: 'symlink', linkname: target });
      } else if (stat.isCharacterDevice() || stat.isBlockDevice()) {
        push({ ...common, path: rel, type: stat.isCharacterDevice() ? 'char' : 'block', devmajor: major(stat.rdev), devminor: minor(stat.rdev) });
      } else if (stat.isFIFO()) {
        push({ ...common, path: rel, type: 'fifo' });
      } else {
        skipped.push(rel);
      }
    }
  };
  visit(root, '');

  // The first path of an inode (in archive order) carries the content; later ones link to it.
  const firstPath = new Map<string, string>();
  for (const item of found) {
    if (item.inode === undefined) continue;
    const first = firstPath.get(item.inode);
    if (first === undefined) {
      firstPath.set(item.inode, item.entry.path);
      item.entry = { ...item.entry, linked: true };
    } else {
      const { xattrs: _dropped, ...rest } = item.entry;
      item.entry = { ...rest, type: 'hardlink', source: undefined, size: 0, linkname: first, linked: true };
    }
  }
  return { entries: found.map((f) => f.entry), skipped };
}
