import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
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
 * started later) renames the lock file aside, checks that what it moved is the
 * dead holder's token, and retries; if it moved a live holder's lock instead
 * (another waiter broke and re-took it in between), it links it back.
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
        await breakStaleLock(lockPath, tmpDir, seen);
        options.onBreak?.(holder);
        continue;
      }
      if (Date.now() > deadline) throw cacheError(CacheErrors.lockTimeout, [basename(lockPath), `process ${holder.split('.')[0]}`]);
      if (!waited) {
        waited = true;
        options.onWait?.(holder);
      }
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

async function breakStaleLock(lockPath: string, tmpDir: string, seen: string): Promise<void> {
  const aside = join(tmpDir, tempName('broken'));
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    throw error;
  }
  const moved = await readText(aside);
  if (moved !== seen) {
    // We took a live holder's lock: put it back unless a third process got in.
    await link(aside, lockPath).catch(() => undefined);
  }
  await unlink(aside).catch(() => undefined);
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
