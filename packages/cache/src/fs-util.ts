import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { diskFullOr, errnoCode } from './errors.js';

/** The start time of a process in clock ticks since boot (Linux), to tell a live pid from a reused one. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

let selfIdentity: string | undefined;

/** `<pid>.<start time>`: names this process in lock files and temp names. */
export function processIdentity(): string {
  if (selfIdentity === undefined || !selfIdentity.startsWith(`${process.pid}.`)) {
    selfIdentity = `${process.pid}.${processStartTime(process.pid) ?? '0'}`;
  }
  return selfIdentity;
}

/**
 * Whether the process named by an identity from `processIdentity` still runs
 * (on this machine). A pid that now belongs to a process started later is dead.
 */
export function isIdentityAlive(identity: string): boolean {
  const [pidText, start] = identity.split('.');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return start === processIdentity().split('.')[1];
  const now = processStartTime(pid);
  if (now !== undefined) return start === undefined || start === '0' || now === start;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoCode(error) === 'EPERM';
  }
}

/** A unique temp file name whose prefix says which process owns it. */
export function tempName(kind: string): string {
  return `${kind}-${processIdentity()}-${randomBytes(6).toString('hex')}`;
}

/** The owner identity encoded in a temp name, if it has one. */
export function tempOwner(name: string): string | undefined {
  const match = /^[a-z]+-(\d+\.\d+)-[0-9a-f]+/.exec(name);
  return match?.[1];
}

/** fsync a directory so that a rename or unlink in it survives a power loss. */
export async function fsyncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    // Some filesystems refuse fsync on directories; the rename is still atomic.
    if (errnoCode(error) !== 'EINVAL' && errnoCode(error) !== 'EISDIR') throw error;
  } finally {
    await handle?.close();
  }
}

/** Writes a file atomically: temp file in `tmpDir` (same filesystem), fsync, rename, fsync the folder. */
export async function writeFileAtomic(tmpDir: string, dest: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(tmpDir, tempName('file'));
  const handle = await open(tmp, 'wx', 0o644).catch((error: unknown) => Promise.reject(diskFullOr(error, dirname(dest))));
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw diskFullOr(error, dirname(dest));
  }
  await handle.close();
  try {
    await rename(tmp, dest);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await fsyncDir(dirname(dest));
}

/** Reads a file, or undefined when it does not exist. */
export async function readFileIfExists(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/** Removes a folder tree by first renaming it aside, so that a half-removed tree never shows under its name. */
export async function removeTree(path: string, tmpDir: string): Promise<boolean> {
  const aside = join(tmpDir, tempName('trash'));
  try {
    await rename(path, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return false;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}

/**
 * How old a "last used" mark (a record's or blob's mtime, which prune's
 * grace period and least-recently-used order read) may be before a use
 * renews it: a rebuild soon after another writes nothing, and the mark is
 * never more than a minute behind (the grace period is five).
 */
export const USE_MARK_LAG_MS = 60_000;

/** Marks `path` used now unless its mark is under USE_MARK_LAG_MS old; a file gone meanwhile is no error (the mark is a hint). */
export function markUsed(path: string): void {
  try {
    const now = Date.now();
    if (now - statSync(path).mtimeMs > USE_MARK_LAG_MS) utimesSync(path, now / 1000, now / 1000);
  } catch {
    // removed meanwhile (prune), or a read-only store
  }
}

