import { lstat, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { normalizeFuseUpper } from '../snapshot/fuse-upper.js';
import { mountOverlay, overlayDriver, unmount, type OverlayMount } from '../snapshot/overlay.js';
import { openNetwork, type ContainerNetwork, type NetworkPool } from './network.js';
import { runContainer, type ContainerResult, type ContainerStdio, type RuntimeName } from './runc.js';
import { createRuntimeSpec, mountTargets, type ContainerSpecOptions } from './spec.js';

export interface RunStepOptions {
  /** The overlay to run in; its upper directory receives the step's changes. */
  readonly overlay: OverlayMount;
  readonly container: Omit<ContainerSpecOptions, 'rootfs'>;
  readonly runtime?: RuntimeName;
  readonly stateDir: string;
  readonly bundleDir: string;
  readonly id: string;
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  readonly signal?: AbortSignal;
  readonly stdio?: ContainerStdio;
  /** Where `default` networks keep their namespaces (DEFAULT_NETWORK_DIR when absent). */
  readonly networkDir?: string;
  /** Take the network from this pool (a build's) instead of opening one. */
  readonly networks?: NetworkPool;
  /** With `networks`: whether another RUN follows this one (default true), so its network starts now. */
  readonly moreRuns?: boolean;
  /** Told what network the container got, before its process starts. */
  readonly onNetwork?: (network: ContainerNetwork) => void;
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Each mount target and its missing ancestors, deepest first: what the runtime will create. */
async function missingPaths(rootfs: string, targets: readonly string[]): Promise<string[]> {
  const missing = new Set<string>();
  for (const target of targets) {
    let p = target;
    while (p !== '/' && p !== '.' && !(await exists(join(rootfs, p)))) {
      missing.add(p);
      p = dirname(p);
    }
  }
  return [...missing].sort((a, b) => b.length - a.length);
}

interface Owner {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** The existing parent folders of paths the runtime will create, with their owner and mode. */
async function parentsOfMissing(rootfs: string, missing: readonly string[]): Promise<Map<string, Owner>> {
  const parents = new Map<string, Owner>();
  for (const p of missing) {
    const parent = dirname(p);
    if (parent === '/' || missing.includes(parent) || parents.has(parent)) continue;
    const st = await lstat(join(rootfs, parent));
    parents.set(parent, { mode: st.mode, uid: st.uid, gid: st.gid });
  }
  return parents;
}

/**
 * Creating a mount stub copies its existing parent folder up into the upper
 * directory. When, after the stubs are gone, that copy is empty and has the
 * lower folder's owner and mode, the step did not change it: drop it so the
 * layer does not carry it. Runs on the upper directory after unmounting.
 */
async function removeCopiedUpParents(upperDir: string, parents: Map<string, Owner>): Promise<void> {
  for (const [p, owner] of [...parents].sort((a, b) => b[0].length - a[0].length)) {
    const full = join(upperDir, p);
    try {
      const st = await lstat(full);
      if (!st.isDirectory() || st.mode !== owner.mode || st.uid !== owner.uid || st.gid !== owner.gid) continue;
      if ((await readdir(full)).length === 0) await rmdir(full);
    } catch {
      // not copied up
    }
  }
}

/**
 * Removes what the runtime created only to mount over (an empty /etc/hosts,
 * a /proc folder in a scratch image) so that it does not end up in the layer.
 * A folder the step itself filled is kept.
 */
async function removeMountStubs(rootfs: string, created: readonly string[]): Promise<void> {
  for (const p of created) {
    const full = join(rootfs, p);
    let st;
    try {
      st = await lstat(full);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      if ((await readdir(full)).length === 0) await rmdir(full);
    } else if (st.size === 0) {
      await rm(full, { force: true });
    }
  }
}

/**
 * Runs one RUN step: mounts the overlay and opens the container's network
 * (./network.ts; its resolv.conf is written to `etcFiles.resolvConf`), runs the
 * process in the OCI runtime, removes mount stubs, closes the network,
 * unmounts. The step's changes are then exactly the overlay's upper directory.
 */
export async function runStep(options: RunStepOptions): Promise<ContainerResult> {
  const rootfs = options.overlay.target;
  // the two set-ups are independent: overlap them
  const [mounted, opened] = await Promise.allSettled([
    mountOverlay(options.overlay),
    options.networks !== undefined
      ? options.networks.take(options.container.network ?? 'default', options.moreRuns ?? true)
      : openNetwork({
          mode: options.container.network ?? 'default',
          id: options.id,
          ...(options.networkDir === undefined ? {} : { networkDir: options.networkDir }),
        }),
  ]);
  const closeNetwork = async (network: ContainerNetwork): Promise<void> => {
    if (options.networks !== undefined) options.networks.release(network);
    else await network.close();
  };
  if (mounted.status === 'rejected' || opened.status === 'rejected') {
    if (mounted.status === 'fulfilled') await unmount(rootfs);
    if (opened.status === 'fulfilled') await closeNetwork(opened.value);
    throw mounted.status === 'rejected' ? mounted.reason : (opened as PromiseRejectedResult).reason;
  }
  const network = opened.value;
  let parents = new Map<string, Owner>();
  try {
    options.onNetwork?.(network);
    const resolvConf = options.container.etcFiles?.resolvConf;
    if (resolvConf !== undefined) await writeFile(resolvConf, network.resolvConf);
    const specOptions: ContainerSpecOptions = {
      ...options.container,
      rootfs,
      ...(network.namespace.kind === 'path' ? { networkNamespace: network.namespace.path } : {}),
    };
    const created = await missingPaths(rootfs, mountTargets(specOptions));
    parents = await parentsOfMissing(rootfs, created);
    try {
      return await runContainer({
        ...(options.runtime === undefined ? {} : { runtime: options.runtime }),
        stateDir: options.stateDir,
        bundleDir: options.bundleDir,
        id: options.id,
        spec: createRuntimeSpec(specOptions),
        ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.stdio === undefined ? {} : { stdio: options.stdio }),
      });
    } finally {
      await removeMountStubs(rootfs, created);
    }
  } finally {
    await closeNetwork(network);
    await unmount(rootfs);
    if ((await overlayDriver(dirname(options.overlay.upperDir))) === 'fuse-overlayfs') await normalizeFuseUpper(options.overlay.upperDir, options.overlay.lowerDirs);
    await removeCopiedUpParents(options.overlay.upperDir, parents);
  }
}
