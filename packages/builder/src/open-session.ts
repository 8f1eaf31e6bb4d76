import { randomBytes } from 'node:crypto';
import { rmSync, statfsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tempName, type CacheKey } from '@strata/cache';
import type { Stage } from '@strata/parser';
import type { BuildOptions } from './build-options.js';
import type { CacheUse } from './cache-transfer/use.js';
import { openContext } from './context/context.js';
import type { NamedContexts } from './context/named-contexts.js';
import { discardEvents } from './events.js';
import { formatPlatform, type TargetPlatform } from './platform.js';
import { NetworkPool } from './runtime/network.js';
import { SshAgents } from './runtime/ssh-agent.js';
import type { BuildSession } from './session.js';
import { Snapshotter } from './snapshot/snapshotter.js';

export interface OpenSessionOptions {
  readonly options: BuildOptions;
  readonly stages: readonly Stage[];
  readonly escape: '\\' | '`';
  /** The platform being built. */
  readonly platform: TargetPlatform;
  readonly contextDir: string;
  readonly dockerfilePath: string;
  /** Put before stage labels in events (the platform, in a multi-platform build). */
  readonly labelPrefix: string;
  /** Shared by every platform of the build. */
  readonly builtKeys: Set<CacheKey>;
  readonly cache: CacheUse;
  /** The build's named contexts, shared by every platform. */
  readonly named?: NamedContexts;
}

/**
 * The session of one platform's build: its temp folder under the store's
 * tmp, the build context, a snapshotter, and the hooks of `--cache-from` /
 * `--cache-to`. `closeSession` releases what it holds.
 */
export async function openSession(given: OpenSessionOptions): Promise<BuildSession> {
  const { options, platform, cache } = given;
  const platformText = formatPlatform(platform);
  // named with this process's identity, so that another strata's sweep of tmp/ leaves it alone while this build runs
  const workDir = join(options.store.paths.tmp, tempName('build'));
  await mkdir(workDir, { recursive: true });
  // --ssh is checked before any step runs (a missing socket or key file fails the build at once)
  const ssh = await SshAgents.open(options.ssh).catch(async (error: unknown) => {
    await rm(workDir, { recursive: true, force: true });
    throw error;
  });
  let counter = 0;
  return {
    store: options.store,
    options,
    context: await openContext(given.contextDir, { dockerfile: given.dockerfilePath }),
    ...(given.named === undefined ? {} : { named: given.named }),
    snapshotter: new Snapshotter(options.store, tempName('build')),
    platform,
    platformText,
    targetPlatform: platform,
    builtKeys: given.builtKeys,
    escape: given.escape,
    workDir,
    epoch: resolveEpoch(options),
    results: new Map(),
    stages: given.stages,
    labelPrefix: given.labelPrefix,
    ...(cache.import === undefined ? {} : { cacheImport: cache.import }),
    cacheMountUsed: (id, dir) => cache.mountUsed(id, dir),
    useRecord: (stage, record) => cache.used.push({ platform: platformText, stage, record }),
    dockerfilePath: given.dockerfilePath,
    emit: options.onEvent ?? discardEvents,
    networks: new NetworkPool(),
    ssh,
    nextId: () => `strata-${process.pid}-${randomBytes(4).toString('hex')}-${(counter += 1)}`,
  };
}

/** Stops the RUN steps' networks and the build's SSH agents, releases the session's snapshots, removes its temp folder, and writes the context's memo table if an entry changed. */
export async function closeSession(session: BuildSession): Promise<void> {
  await session.networks.close();
  await session.ssh.close();
  await session.snapshotter.releaseAll();
  await removeWorkDir(session.workDir);
  // the context's memo table: written only when an entry changed (a no-op rebuild writes nothing)
  await session.store.memo.flush();
}

function resolveEpoch(options: BuildOptions): number | undefined {
  if (options.sourceDateEpoch !== undefined) return options.sourceDateEpoch;
  const env = process.env.SOURCE_DATE_EPOCH;
  if (env === undefined || env === '' || !/^[0-9]+$/.test(env)) return undefined;
  return Number(env);
}

/** statfs(2)'s f_type of tmpfs (linux/magic.h). */
const TMPFS_MAGIC = 0x01021994;

/**
 * Removes the build's temp folder. Upper directories of committed steps have
 * left it (each became its layer's snapshot by rename); what is left is what
 * no layer kept: overlay work folders, a failed step's upper directory, a
 * snapshot the store already had. On tmpfs, where unlink never sleeps,
 * blocking calls are ~3x faster than Node's asynchronous rm (a thread-pool
 * round trip per entry: 2000 files, ~35 ms against ~90 ms); on a disk
 * filesystem unlinks wait on the journal, and the thread pool's overlapping
 * of those waits wins by more (ext4 under load: ~0.4 s against ~1.5-3.5 s).
 */
async function removeWorkDir(dir: string): Promise<void> {
  let onTmpfs = false;
  try {
    onTmpfs = statfsSync(dir).type === TMPFS_MAGIC;
  } catch {
    // gone already, or no statfs: the asynchronous way is right everywhere
  }
  if (onTmpfs) rmSync(dir, { recursive: true, force: true });
  else await rm(dir, { recursive: true, force: true });
}
