/** Trees for layer tests: one with every kind of file, and a summary to compare trees by. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';

export const LONG_DIR = `usr/share/${'long-directory-name/'.repeat(6)}`.slice(0, -1);
export const LONG_TARGET = `../${'t'.repeat(120)}/target`;
export const MTIME = 1_600_000_000;

function file(root: string, rel: string, content: string | Buffer, mode = 0o644): void {
  writeFileSync(join(root, rel), content);
  chmodSync(join(root, rel), mode);
}

/** Deterministic pseudo-random bytes (a tree must be the same on every run). */
export function bytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Builds a tree with every file type a layer carries, special mode bits,
 * numeric owners (one above ustar's limit), hardlinks, extended attributes
 * (kept and dropped ones), a long path and a non-ASCII name, and a socket.
 */
export function makeEveryTypeTree(root: string): void {
  for (const d of ['bin', 'data', 'dev', 'etc', 'run', 'srv/shared', 'tmp', LONG_DIR, 'usr/lib', 'opt/café']) {
    mkdirSync(join(root, d), { recursive: true });
  }
  chmodSync(join(root, 'tmp'), 0o1777);
  chmodSync(join(root, 'srv/shared'), 0o2775);
  chownSync(join(root, 'srv/shared'), 0, 50);
  file(root, 'bin/ping', '#!/bin/sh\necho ping\n', 0o755);
  execFileSync('setcap', ['cap_net_raw+ep', join(root, 'bin/ping')]);
  file(root, 'bin/su', 'setuid\n', 0o4755);
  file(root, 'bin/wall', 'setgid\n', 0o2755);
  file(root, 'etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
  setAttributeSync(join(root, 'etc/passwd'), 'user.comment', 'kept');
  setAttributeSync(join(root, 'etc/passwd'), 'trusted.overlay.origin', Buffer.from([0, 1, 2]));
  setAttributeSync(join(root, 'etc/passwd'), 'trusted.strata-test', 'dropped');
  file(root, 'etc/owned', 'owned\n', 0o640);
  chownSync(join(root, 'etc/owned'), 1234, 5678);
  file(root, 'etc/big-ids', 'big\n');
  chownSync(join(root, 'etc/big-ids'), 3_000_000, 4_000_000);
  file(root, 'data/a', bytes(3 * (1 << 20) + 7, 1));
  linkSync(join(root, 'data/a'), join(root, 'data/b'));
  linkSync(join(root, 'data/a'), join(root, 'data/c'));
  file(root, 'data/empty', '');
  symlinkSync('usr/lib', join(root, 'lib'));
  symlinkSync(LONG_TARGET, join(root, 'etc/long-link'));
  execFileSync('mkfifo', ['-m', '0600', join(root, 'run/fifo')]);
  execFileSync('mknod', ['-m', '0666', join(root, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '0660', join(root, 'dev/loop0'), 'b', '7', '0']);
  file(root, `${LONG_DIR}/file-with-a-long-path.txt`, 'long\n');
  file(root, 'opt/café/naïve.txt', 'utf-8\n');
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(root, 'run/socket')]);
  setMtimes(root, MTIME);
}

/** Sets every entry's mtime (symlinks' own, not their targets'). */
export function setMtimes(root: string, seconds: number): void {
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      lutimesSync(p, seconds, seconds);
    }
  };
  walk(root);
  lutimesSync(root, seconds, seconds);
}

export interface TreeNode {
  readonly type: string;
  readonly mode: string;
  readonly owner: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly target?: string;
  readonly rdev?: string;
  readonly xattrs?: Record<string, string>;
  readonly inodeGroup?: string;
}

/**
 * What a tree holds, path by path: type, mode, owner, content digest, link
 * target, device, kept xattrs, and which paths share an inode (named by the
 * first such path). mtimes are left out.
 */
export function summarize(root: string): Record<string, TreeNode> {
  const out: Record<string, TreeNode> = {};
  const inodes = new Map<string, string>();
  const walk = (dir: string, rel: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'other';
      const xattrs: Record<string, string> = {};
      for (const key of listAttributesSync(p).sort()) {
        if (key === 'security.capability' || key.startsWith('user.')) xattrs[key] = getAttributeSync(p, key)?.toString('hex') ?? '';
      }
      let inodeGroup: string | undefined;
      if (st.nlink > 1 && !st.isDirectory()) {
        const id = `${st.dev}:${st.ino}`;
        inodeGroup = inodes.get(id) ?? r;
        inodes.set(id, inodeGroup);
      }
      out[r] = {
        type,
        mode: (st.mode & 0o7777).toString(8),
        owner: `${st.uid}:${st.gid}`,
        ...(type === 'file' ? { size: st.size, sha256: createHash('sha256').update(readFileSync(p)).digest('hex') } : {}),
        ...(type === 'symlink' ? { target: readlinkSync(p) } : {}),
        ...(type === 'char' || type === 'block' ? { rdev: String(st.rdev) } : {}),
        ...(Object.keys(xattrs).length > 0 ? { xattrs } : {}),
        ...(inodeGroup === undefined ? {} : { inodeGroup }),
      };
      if (type === 'dir') walk(p, r);
    }
  };
  walk(root, '');
  return out;
}
