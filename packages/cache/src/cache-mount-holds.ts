// RUN --mount=type=cache folders shared by the builds of one store, with
// BuildKit's sharing modes. A cache (one name: the id and what seeds it) has
// instances, folders `cache-mounts-v1/<name>` (0) and `<name>.<n>` (n >= 1);
// a RUN holds one instance while it runs. Holds are files under
// `locks/cache-mounts/<name>/`, named by instance, mode and holder process, so
// a hold of a build that died (SIGKILL) is dropped by the next user; holds are
// taken and dropped under the cache's inter-process lock (`mutex`).
import { mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode } from './errors.js';
import { isIdentityAlive, tempName } from './fs-util.js';
import { withLock } from './lock.js';
import type { Store } from './store.js';

/**
 * `shared`: every concurrent user writes the same folder; `private`: a user
 * finding every instance in use gets a new one; `locked`: a user finding every
 * instance in use waits until one is released (BuildKit's meanings).
 */
export type CacheMountSharing = 'shared' | 'private' | 'locked';

export interface HoldCacheMountOptions {
  readonly sharing: CacheMountSharing;
  /**
   * Makes a new instance's folder at `dir` (absent when called), atomically
   * (a rename into place); runs under the cache's lock.
   */
  readonly create: (dir: string) => Promise<void>;
  /** Stops waiting (locked) with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Called once when a locked user starts waiting for another's release. */
  readonly onWait?: () => void;
  /** How often a locked waiter looks again (default 100 ms, as BuildKit). */
  readonly pollMs?: number;
}

export interface CacheMountHold {
  /** The instance's folder: what the RUN mounts. */
  readonly dir: string;
  readonly instance: number;
  /** Whether this user made the folder (it was new). */
  readonly created: boolean;
  release(): Promise<void>;
}

/** The folder of instance `n` of the cache `name`. */
export function cacheMountDir(store: Store, name: string, instance = 0): string {
  return join(store.paths.cacheMounts, instance === 0 ? name : `${name}.${instance}`);
}

interface Holds {
  /** Instance -> live holds of it ('shared' or 'exclusive'). */
  readonly byInstance: Map<number, string[]>;
}

const HOLD = /^hold\.(\d+)\.(shared|exclusive)\.(\d+\.\d+)-/;

/** The live holds of a cache; holds of dead processes are removed on the way. */
async function readHolds(dir: string): Promise<Holds> {
  const byInstance = new Map<number, string[]>();
  for (const entry of await readdir(dir)) {
    const match = HOLD.exec(entry);
    if (match === null) continue;
    if (!isIdentityAlive(match[3] as string)) {
      await unlink(join(dir, entry)).catch(() => undefined);
      continue;
    }
    const instance = Number(match[1]);
    byInstance.set(instance, [...(byInstance.get(instance) ?? []), match[2] as string]);
  }
  return { byInstance };
}

/** The instances of `name` that exist, in order. */
async function instancesOf(store: Store, name: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir(store.paths.cacheMounts).catch(() => [] as string[])) {
    if (entry === name) out.push(0);
    else if (entry.startsWith(`${name}.`) && /^[1-9]\d*$/.test(entry.slice(name.length + 1))) out.push(Number(entry.slice(name.length + 1)));
  }
  return out.sort((a, b) => a - b);
}

type Choice = { readonly instance: number; readonly created: boolean } | 'wait';

/** BuildKit's choice: an instance shared users hold (shared), else the first one nobody holds, else a new one (locked: wait). */
function choose(sharing: CacheMountSharing, existing: readonly number[], holds: Holds): Choice {
  if (sharing === 'shared') {
    const sharedNow = existing.find((i) => (holds.byInstance.get(i) ?? []).every((m) => m === 'shared') && holds.byInstance.has(i));
    if (sharedNow !== undefined) return { instance: sharedNow, created: false };
  }
  const free = existing.find((i) => !holds.byInstance.has(i));
  if (free !== undefined) return { instance: free, created: false };
  if (sharing === 'locked' && existing.length > 0) return 'wait';
  const next = existing.length === 0 ? 0 : Math.max(...existing, ...holds.byInstance.keys()) + 1;
  return { instance: next, created: true };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Takes an instance of the cache `name` for one RUN, as BuildKit's sharing
 * modes say (see CacheMountSharing); makes the folder with `create` when the
 * instance is new. Release it when the RUN is over.
 */
export async function holdCacheMount(store: Store, name: string, options: HoldCacheMountOptions): Promise<CacheMountHold> {
  const holdsDir = join(store.paths.locks, 'cache-mounts', name);
  await mkdir(holdsDir, { recursive: true });
  const mode = options.sharing === 'shared' ? 'shared' : 'exclusive';
  let waiting = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const taken = await withLock(join(holdsDir, 'mutex'), store.paths.tmp, async () => {
      const choice = choose(options.sharing, await instancesOf(store, name), await readHolds(holdsDir));
      if (choice === 'wait') return undefined;
      const dir = cacheMountDir(store, name, choice.instance);
      if (choice.created) {
        await mkdir(store.paths.cacheMounts, { recursive: true });
        await options.create(dir);
      }
      const file = join(holdsDir, `hold.${choice.instance}.${mode}.${tempName('h').slice(2)}`);
      await writeFile(file, '', { flag: 'wx' });
      return { ...choice, dir, file };
    }, { timeoutMs: 600_000 });
    if (taken !== undefined) {
      return {
        dir: taken.dir,
        instance: taken.instance,
        created: taken.created,
        release: () => unlink(taken.file).catch((error: unknown) => (errnoCode(error) === 'ENOENT' ? undefined : Promise.reject(error))),
      };
    }
    if (!waiting) {
      waiting = true;
      options.onWait?.();
    }
    await sleep(options.pollMs ?? 100);
  }
}
