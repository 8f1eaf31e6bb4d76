import type { ContainerRecord, Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { deleteRuntimeContainer, killRuntimeContainer, type RuntimeName } from '../runtime/runc.js';
import { unmount } from '../snapshot/overlay.js';
import { containerHolder, containerPaths, RUNTIME_STATE_DIR } from './paths.js';

export interface RemoveContainerOptions {
  /** Remove a running container too: its process is killed first (`rm --force`). */
  readonly force?: boolean;
  readonly runtime?: RuntimeName;
}

/**
 * Removes a container: its record, its writable layer and its holds on the
 * image's snapshots (the image itself stays until it is untagged and pruned).
 * A running container is BUILD_CONTAINER_RUNNING unless `force`.
 */
export async function removeContainer(store: Store, word: string, options: RemoveContainerOptions = {}): Promise<ContainerRecord> {
  const record = await store.containers.find(word);
  const runtime = options.runtime ?? 'runc';
  if (record.status === 'running' && options.force !== true) throw buildError(BuildErrors.containerRunning, [record.name, 'remove']);
  // also when the record says exited: a strata process killed with SIGKILL leaves runc and its process behind
  await killRuntimeContainer(runtime, RUNTIME_STATE_DIR, record.id, 'KILL');
  await deleteRuntimeContainer(runtime, RUNTIME_STATE_DIR, record.id);
  const paths = containerPaths(store, record.id);
  await unmount(paths.merged);
  await store.containers.remove(record.id);
  for (const chainId of record.chainIds) await store.snapshots.release(chainId, containerHolder(record.id));
  return record;
}
