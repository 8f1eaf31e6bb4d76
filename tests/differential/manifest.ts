// A root filesystem as a comparable manifest: one entry per path with what an
// image defines about it (type, permission bits, owner, size, content digest,
// link target, device numbers, hardlink group) and nothing it does not (times,
// directory sizes, inode numbers). Both builders' images are unpacked by the
// same tool (umoci, as root, so owners, fifos and devices are real) before
// they are walked here, so the unpacker cannot favour either side.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export type EntryType = 'dir' | 'file' | 'symlink' | 'fifo' | 'char' | 'block' | 'socket';

export interface Entry {
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits incl. setuid/setgid/sticky, as octal text (`4755`). */
  readonly mode: string;
  readonly uid: number;
  readonly gid: number;
  /** Regular files and symlinks only. */
  readonly size?: number;
  /** sha256 of a regular file's bytes. */
  readonly sha256?: string;
  /** A symlink's target, verbatim. */
  readonly target?: string;
  /** Devices: `major,minor`. */
  readonly rdev?: string;
  /** Files with more than one link: the first path (in sorted walk order) of the same inode. */
  readonly hardlinkOf?: string;
  /** Small text files: their content, shown in differences (not compared: sha256 is). */
  readonly preview?: string;
}

export type Manifest = Map<string, Entry>;

function typeOf(st: Stats): EntryType {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  return 'socket';
}

/** Walks `root` in sorted order; paths are absolute inside the image (`/`, `/etc/passwd`). */
export function readManifest(root: string): Manifest {
  const out: Manifest = new Map();
  const firstOfInode = new Map<string, string>();
  const visit = (abs: string, path: string): void => {
    const st = lstatSync(abs);
    const type = typeOf(st);
    const entry: { -readonly [K in keyof Entry]: Entry[K] } = {
      path,
      type,
      mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
      uid: st.uid,
      gid: st.gid,
    };
    if (type === 'file') {
      entry.size = st.size;
      const bytes = readFileSync(abs);
      entry.sha256 = createHash('sha256').update(bytes).digest('hex');
      if (bytes.length <= 200 && !bytes.includes(0)) entry.preview = JSON.stringify(bytes.toString('utf8'));
    }
    if (type === 'symlink') {
      entry.target = readlinkSync(abs);
      entry.size = st.size;
    }
    if (type === 'char' || type === 'block') entry.rdev = `${Math.floor(st.rdev / 256) & 0xfff},${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
    if (type !== 'dir' && st.nlink > 1) {
      const inode = `${st.dev}:${st.ino}`;
      const first = firstOfInode.get(inode);
      if (first === undefined) firstOfInode.set(inode, path);
      else entry.hardlinkOf = first;
    }
    out.set(path, entry);
    if (type === 'dir') {
      for (const name of readdirSync(abs).sort()) visit(join(abs, name), path === '/' ? `/${name}` : `${path}/${name}`);
    }
  };
  visit(root, '/');
  return out;
}

function describe(entry: Entry): string {
  const parts = [entry.type, entry.mode, `${entry.uid}:${entry.gid}`];
  if (entry.size !== undefined) parts.push(`${entry.size}B`);
  if (entry.sha256 !== undefined) parts.push(entry.sha256.slice(0, 12));
  if (entry.target !== undefined) parts.push(`-> ${entry.target}`);
  if (entry.rdev !== undefined) parts.push(`dev ${entry.rdev}`);
  if (entry.hardlinkOf !== undefined) parts.push(`hardlink of ${entry.hardlinkOf}`);
  return parts.join(' ');
}

/**
 * The differences between two manifests, one line each, sorted by path:
 * `+ path (only in B)`, `- path (only in A)`, `~ path: A | B`. Empty when equal.
 */
export function compareManifests(a: Manifest, b: Manifest, names: readonly [string, string] = ['strata', 'peer']): string[] {
  const lines: string[] = [];
  const paths = [...new Set([...a.keys(), ...b.keys()])].sort();
  for (const path of paths) {
    const x = a.get(path);
    const y = b.get(path);
    if (x === undefined && y !== undefined) lines.push(`${path}: only in ${names[1]} (${describe(y)})`);
    else if (y === undefined && x !== undefined) lines.push(`${path}: only in ${names[0]} (${describe(x)})`);
    else if (x !== undefined && y !== undefined && describe(x) !== describe(y)) {
      const preview = (e: Entry): string => (e.preview !== undefined && x.sha256 !== y.sha256 ? ` ${e.preview}` : '');
      lines.push(`${path}: ${names[0]} ${describe(x)}${preview(x)} | ${names[1]} ${describe(y)}${preview(y)}`);
    }
  }
  return lines;
}
