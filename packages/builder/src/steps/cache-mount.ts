// RUN --mount=type=cache as BuildKit has it: one cache per id and base (the
// empty folder, the folder uid=/gid=/mode= make, or source= of a stage or
// image, from=), instances held per RUN with sharing=shared|private|locked
// (@strata/cache's holdCacheMount: holds across the processes of one store).
import { chmod, chown, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { cacheMountDir, holdCacheMount, type CacheMountHold, type CacheMountSharing } from '@strata/cache';
import type { Mount } from '@strata/parser';
import { buildError, BuildErrors } from '../errors.js';
import type { BindMount } from '../runtime/spec.js';
import type { BuildSession, LogSink } from '../session.js';
import { mountRoot, resolveInRoot, resolveMountFrom, seedCacheDir, type MountFrom } from './mount-source.js';

/** What a new cache folder gets when uid=, gid= or mode= is given (BuildKit's defaults: 0, 0, 0755). */
interface FolderSettings {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

export interface PlannedCacheMount {
  /** For the step key: target, id, read-only, the seed's identity and path, and sharing/uid/gid/mode when given. */
  readonly canonical: unknown[];
  /** Takes an instance of the cache (a locked one waits for it, saying so in the step's output), making it when new, with the RUN's other caches (RunCacheHolds); `release` gives them back. */
  setup(scratch: string, log: LogSink): Promise<{ readonly bind: BindMount; readonly release: () => Promise<void> }>;
}

function settingsOf(m: Mount): FolderSettings | undefined {
  if (m.uid === undefined && m.gid === undefined && m.mode === undefined) return undefined;
  return { uid: m.uid ?? 0, gid: m.gid ?? 0, mode: (m.mode ?? 0o755) & 0o777 };
}

/** The cache's folder name: its id alone for the empty base (as before sharing), else the id with its base. */
function cacheName(id: string, base: readonly unknown[]): string {
  return Buffer.from(base.length === 0 ? id : JSON.stringify([id, ...base])).toString('base64url');
}

/** A new empty folder with the settings, made in `scratch` and renamed to `dir` (a killed build leaves no half-made cache). */
async function makeFolder(dir: string, scratch: string, settings: FolderSettings): Promise<void> {
  await mkdir(scratch, { recursive: true });
  const temp = join(scratch, 'new-cache');
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp);
  await chown(temp, settings.uid, settings.gid);
  await chmod(temp, settings.mode);
  await rename(temp, dir);
}

/**
 * The base of a cache mount with from=: `source` of that root copied in; with
 * source at the root and uid/gid/mode given, BuildKit's `mkdir /cache` in the
 * source (the source's own /cache when it has one, else a new folder).
 */
async function seedFrom(dir: string, scratch: string, from: MountFrom, m: Mount, source: string, settings: FolderSettings | undefined, session: BuildSession): Promise<void> {
  const root = await mountRoot(from.image, session, join(scratch, 'root'));
  try {
    const path = await resolveInRoot(root.path, source);
    if (path !== undefined && (await lstat(path)).isDirectory()) return await seedCacheDir(dir, path, join(scratch, 'seed'));
    if (settings !== undefined && path === undefined) return await makeFolder(dir, scratch, settings);
    throw buildError(BuildErrors.mountSource, [m.raw, `${source} is not a folder in ${m.from ?? ''}`]);
  } finally {
    await root.release();
  }
}

interface WantedCache {
  readonly id: string;
  sharing: CacheMountSharing;
  readonly create: (dir: string, scratch: string) => Promise<void>;
}

/** The stricter of two sharing modes: locked over private over shared. */
const STRICTNESS: readonly CacheMountSharing[] = ['shared', 'private', 'locked'];
const stricter = (a: CacheMountSharing, b: CacheMountSharing) => (STRICTNESS.indexOf(a) >= STRICTNESS.indexOf(b) ? a : b);

/**
 * The cache holds of one RUN, taken together when its first cache mount is
 * set up, in the order of the caches' names whatever order the mounts are
 * written in: two RUNs that mount the same locked caches in opposite orders
 * (`/var/cache/apt` and `/var/lib/apt`) cannot each hold one and wait for the
 * other. A cache the RUN mounts twice is held once, with the stricter
 * sharing, so that the RUN does not wait for itself.
 */
export class RunCacheHolds {
  readonly #wanted = new Map<string, WantedCache>();
  #taken: Promise<Map<string, CacheMountHold>> | undefined;
  #released = false;

  want(name: string, wanted: WantedCache): void {
    const prior = this.#wanted.get(name);
    if (prior === undefined) this.#wanted.set(name, { ...wanted });
    else prior.sharing = stricter(prior.sharing, wanted.sharing);
  }

  /** The folder of cache `name`: every cache of the RUN is held first (once). */
  async dir(name: string, scratch: string, log: LogSink, session: BuildSession): Promise<string> {
    this.#taken ??= this.#takeAll(scratch, log, session);
    const hold = (await this.#taken).get(name);
    if (hold === undefined) throw new Error(`internal: cache ${name} is not a mount of this RUN`);
    return hold.dir;
  }

  async #takeAll(scratch: string, log: LogSink, session: BuildSession): Promise<Map<string, CacheMountHold>> {
    const held = new Map<string, CacheMountHold>();
    try {
      for (const [i, name] of [...this.#wanted.keys()].sort().entries()) {
        const wanted = this.#wanted.get(name) as WantedCache;
        held.set(name, await holdCacheMount(session.store, name, {
          sharing: wanted.sharing,
          create: (dir) => wanted.create(dir, join(scratch, `cache-${i}`)),
          onWait: () => log('stderr', `waiting for cache mount ${wanted.id} (sharing=locked): another RUN is using it`),
          ...(session.options.signal === undefined ? {} : { signal: session.options.signal }),
        }));
      }
    } catch (error) {
      for (const hold of held.values()) await hold.release();
      throw error;
    }
    return held;
  }

  /** Gives every hold back (once; each mount's release calls it). */
  async release(): Promise<void> {
    if (this.#taken === undefined || this.#released) return;
    this.#released = true;
    const held = await this.#taken.catch(() => new Map<string, CacheMountHold>());
    for (const hold of held.values()) await hold.release();
  }
}

/** Plans one cache mount (its key part and base); `target` is absolute, `expand` expands what the parser left; `holds`: the RUN's. */
export async function planCacheMount(m: Mount, target: string, expand: (word: string) => string, session: BuildSession, holds: RunCacheHolds): Promise<PlannedCacheMount> {
  const id = m.id === undefined ? target : expand(m.id);
  const sharing: CacheMountSharing = m.sharing ?? 'shared';
  const settings = settingsOf(m);
  const given = {
    ...(sharing === 'shared' ? {} : { sharing }),
    ...(m.uid === undefined ? {} : { uid: m.uid }),
    ...(m.gid === undefined ? {} : { gid: m.gid }),
    ...(m.mode === undefined ? {} : { mode: m.mode }),
  };
  const extra = Object.keys(given).length === 0 ? [] : [given];
  let base: unknown[];
  let create: (dir: string, scratch: string) => Promise<void>;
  if (m.from === undefined) {
    base = settings === undefined ? [] : ['scratch', '/cache', settings.uid, settings.gid, settings.mode];
    create = (dir, scratch) => makeFolder(dir, scratch, settings ?? { uid: 0, gid: 0, mode: 0o755 });
  } else {
    const from = await resolveMountFrom(m.from, session);
    const written = posix.resolve('/', expand(m.source ?? '/'));
    // uid/gid/mode count only where BuildKit makes the folder: a source at the root
    const folder = written === '/' ? settings : undefined;
    const source = folder === undefined ? written : '/cache';
    base = folder === undefined ? [from.identity, source] : [from.identity, source, folder.uid, folder.gid, folder.mode];
    create = (dir, scratch) => seedFrom(dir, scratch, from, m, source, folder, session);
  }
  const name = cacheName(id, base);
  // --cache-to ...,mounts=true exports it, --cache-from restores it (the first instance)
  if (m.from === undefined) await session.cacheMountUsed(id, cacheMountDir(session.store, name));
  holds.want(name, { id, sharing, create });
  return {
    canonical: ['cache', target, id, m.readOnly, ...base.slice(0, m.from === undefined ? 0 : 2), ...extra],
    setup: async (scratch, log) => {
      const dir = await holds.dir(name, scratch, log, session);
      return { bind: { source: dir, target, readonly: m.readOnly }, release: () => holds.release() };
    },
  };
}
