import { join } from 'node:path';
import type { Store } from '@strata/cache';
import { runDir } from '../runtime/rootless.js';

/** The runtime state folder strata's containers and RUN steps share (kept apart from the host's other runc containers). */
export const RUNTIME_STATE_DIR = join(runDir(), 'runc');

/** The holder name a container's snapshots are held under (prune keeps what it holds). */
export function containerHolder(id: string): string {
  return `container:${id}`;
}

/** The folders of a container's writable layer and runtime files. */
export function containerPaths(store: Store, id: string) {
  const dir = store.containers.path(id);
  return {
    dir,
    upper: join(dir, 'upper'),
    work: join(dir, 'work'),
    merged: join(dir, 'merged'),
    empty: join(dir, 'empty'),
    bundle: join(dir, 'bundle'),
    etc: join(dir, 'etc'),
  };
}
