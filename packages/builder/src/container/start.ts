import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerRecord, Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { openImageManifest } from '../image/resolve-base.js';
import { envMap, setEnv } from '../image/state.js';
import { deleteRuntimeContainer, type ContainerStdio, type RuntimeName } from '../runtime/runc.js';
import { checkEmulation } from '../runtime/emulation.js';
import { runStep } from '../runtime/run-step.js';
import { removeOrphanNetworks } from '../runtime/network.js';
import { resolveUser } from '../runtime/user.js';
import { unmount } from '../snapshot/overlay.js';
import { readUserFiles, Snapshotter } from '../snapshot/snapshotter.js';
import { containerHolder, containerPaths, RUNTIME_STATE_DIR } from './paths.js';
import { removeContainer } from './remove.js';

export interface StartContainerOptions {
  readonly runtime?: RuntimeName;
  /** How the process's streams are connected (a `tty` container needs `inherit`). */
  readonly stdio?: ContainerStdio;
  /** Text output when `stdio` is `pipe` without `onData`. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', chunk: string) => void;
  /** Aborting kills the container's process. */
  readonly signal?: AbortSignal;
}

export interface StartContainerResult {
  /** The process's exit code (128 + n when signal n killed it). */
  readonly exitCode: number;
  /** The record after the run; undefined when it was removed (`--rm`, or `rm --force` meanwhile). */
  readonly container: ContainerRecord | undefined;
}

async function writeEtcFiles(etc: string, hostname: string): Promise<{ hosts: string; resolvConf: string; hostname: string }> {
  await mkdir(etc, { recursive: true });
  const files = { hosts: join(etc, 'hosts'), resolvConf: join(etc, 'resolv.conf'), hostname: join(etc, 'hostname') };
  await writeFile(files.hosts, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${hostname}\n`);
  // resolv.conf: runStep writes the one the container's network needs
  await writeFile(files.hostname, `${hostname}\n`);
  return files;
}

/**
 * Runs a container's process to completion over its image's layers and its
 * own writable layer (kept between runs): mounts the overlay, runs in runc,
 * removes mount stubs, unmounts, records the exit code. The image's snapshots
 * are held for the container until it is removed, so prune keeps them.
 * A container that another process is running is BUILD_CONTAINER_RUNNING.
 */
export async function startContainer(store: Store, word: string, options: StartContainerOptions = {}): Promise<StartContainerResult> {
  const found = await store.containers.find(word);
  const record = await store.containers.claim(found.id);
  if (record === undefined) throw buildError(BuildErrors.containerRunning, [found.name, 'start']);
  const runtime = options.runtime ?? 'runc';
  const paths = containerPaths(store, record.id);
  let exitCode: number | undefined;
  try {
    // leftovers of a run whose strata process was killed
    await unmount(paths.merged);
    await deleteRuntimeContainer(runtime, RUNTIME_STATE_DIR, record.id);
    await removeOrphanNetworks();
    await mkdir(paths.empty, { recursive: true });
    await mkdir(paths.upper, { recursive: true });
    const image = await openImageManifest(store, record.manifest.digest, record.imageName);
    // an arm64 image on an x86-64 machine runs through qemu-user, as a foreign RUN step does
    await checkEmulation({ os: image.config.os, architecture: image.config.architecture, ...(image.config.variant === undefined ? {} : { variant: image.config.variant }) });
    const lowerDirs = await new Snapshotter(store, containerHolder(record.id)).lowerDirs(image.layers);
    // the container's own changes count too (a user it added with adduser)
    const user = resolveUser(record.process.user, await readUserFiles([paths.upper, ...lowerDirs]));
    const hostname = record.id.slice(0, 12);
    const etcFiles = await writeEtcFiles(paths.etc, hostname);
    const extra: [string, string][] = [];
    const env = envMap(record.process.env);
    if (!env.has('HOSTNAME')) extra.push(['HOSTNAME', hostname]);
    if (record.process.tty && !env.has('TERM')) extra.push(['TERM', 'xterm']);
    for (const v of record.volumes) await mkdir(v.source, { recursive: true });
    const result = await runStep({
      overlay: {
        lowerDirs,
        upperDir: paths.upper,
        workDir: paths.work,
        target: paths.merged,
        emptyDir: paths.empty,
        baseDir: store.root,
      },
      container: {
        process: {
          args: record.process.args,
          env: setEnv(record.process.env, extra),
          cwd: record.process.cwd,
          uid: user.uid,
          gid: user.gid,
          additionalGids: user.additionalGids,
          terminal: record.process.tty,
        },
        network: record.network,
        hostname,
        etcFiles,
        binds: record.volumes.map((v) => ({ source: v.source, target: v.target, readonly: v.readonly })),
      },
      runtime,
      stateDir: RUNTIME_STATE_DIR,
      bundleDir: paths.bundle,
      id: record.id,
      ...(options.stdio === undefined ? {} : { stdio: options.stdio }),
      ...(options.onOutput === undefined ? {} : { onOutput: options.onOutput }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    exitCode = result.exitCode;
  } finally {
    const after = await store.containers.finish(record.id, exitCode);
    if (after !== undefined && record.autoRemove) await removeContainer(store, record.id, { runtime });
  }
  const container = await store.containers.get(record.id);
  return { exitCode: exitCode ?? 1, container };
}
