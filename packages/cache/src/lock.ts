import { link, readFile, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { cacheError, CacheErrors, errnoCode } from './errors.js';
import { isIdentityAlive, processIdentity, tempName } from './fs-util.js';

export interface LockOptions {
  /** Give up after this long (default 120 s) with CACHE_LOCK_TIMEOUT. */
  readonly timeoutMs?: number;
  /** Called once when the lock is busy and this process starts waiting. */
  readonly onWait?: (holder: string) => void;
  /** Called when a lock left by a dead process is taken over. */
  readonly onBreak?: (holder: string) => void;
}

export interface LockHandle {
  /** True while the lock file still carries this holder's token. */
  isHeld(): Promise<boolean>;
  release(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * An inter-process lock that survives its holder's SIGKILL.
 *
 * The lock is a file whose full content (holder identity + random token) is
 * written to a temp file first and then hard-linked into place: link(2) fails
 * with EEXIST when the lock is taken, and a lock file is never seen half-written.
 * A waiter that finds the holder dead (its pid is gone, or now names a process
 * started later) removes the lock under a second, short-lived lock after
 * checking that it still holds the dead holder's token (see breakStaleLock).
 */
export async function acquireLock(lockPath: string, tmpDir: string, options: LockOptions = {}): Promise<LockHandle> {
  const identity = processIdentity();
  const token = `${identity} ${tempName('lock')}\n`;
  const tokenFile = join(tmpDir, tempName('token'));
  await writeFile(tokenFile, token, { flag: 'wx' });
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let delay = 2;
  let waited = false;
  try {
    for (;;) {
      try {
        await link(tokenFile, lockPath);
        break;
      } catch (error) {
        if (errnoCode(error) !== 'EEXIST') throw error;
      }
      const seen = await readText(lockPath);
      if (seen === undefined) continue;
      const holder = seen.split(' ')[0] ?? '';
      if (!isIdentityAlive(holder)) {
        if (await breakStaleLock(lockPath, tokenFile, token, seen)) {
          options.onBreak?.(holder);
          continue;
        }
      } else if (!waited) {
        waited = true;
        options.onWait?.(holder);
      }
      if (Date.now() > deadline) throw cacheError(CacheErrors.lockTimeout, [basename(lockPath), `process ${holder.split('.')[0]}`]);
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  } finally {
    await unlink(tokenFile).catch(() => undefined);
  }
  return {
    isHeld: async () => (await readText(lockPath)) === token,
    release: async () => {
      if ((await readText(lockPath)) === token) await unlink(lockPath).catch(() => undefined);
    },
  };
}

/**
 * Removes a lock left by a dead holder. Breaking is serialized by a second
 * lock (`<lock>.break`, taken the same way) and re-checks, under it, that the
 * lock file still holds the dead holder's token: a waiter that saw the stale
 * token earlier can never remove a lock that a live process took since.
 * Returns false when another process is breaking it (the caller waits).
 */
async function breakStaleLock(lockPath: string, tokenFile: string, token: string, seen: string): Promise<boolean> {
  const breaker = `${lockPath}.break`;
  try {
    await link(tokenFile, breaker);
  } catch (error) {
    if (errnoCode(error) !== 'EEXIST') throw error;
    // A breaker that died inside this short section leaves its file behind.
    const holder = (await readText(breaker))?.split(' ')[0];
    if (holder !== undefined && !isIdentityAlive(holder)) await unlink(breaker).catch(() => undefined);
    return false;
  }
  try {
    if ((await readText(lockPath)) !== seen) return false;
    await unlink(lockPath).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
    return true;
  } finally {
    if ((await readText(breaker)) === token) await unlink(breaker).catch(() => undefined);
  }
}

/** Runs `fn` while holding the lock. */
export async function withLock<T>(lockPath: string, tmpDir: string, fn: (lock: LockHandle) => Promise<T>, options: LockOptions = {}): Promise<T> {
  const lock = await acquireLock(lockPath, tmpDir, options);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
