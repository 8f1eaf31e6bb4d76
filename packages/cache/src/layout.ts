import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The store root when the caller names none: `$STRATA_ROOT`, else
 * `/var/lib/strata` for root, else `$XDG_DATA_HOME/strata` or `~/.local/share/strata`.
 */
export function defaultStoreRoot(
  env: Readonly<Record<string, string | undefined>> = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  const explicit = env.STRATA_ROOT;
  if (explicit !== undefined && explicit !== '') return explicit;
  if (uid === 0) return '/var/lib/strata';
  const xdg = env.XDG_DATA_HOME;
  if (xdg !== undefined && xdg !== '') return join(xdg, 'strata');
  return join(env.HOME ?? homedir(), '.local', 'share', 'strata');
}

/**
 * Where everything lives under a store root. The root itself is an OCI image
 * layout; strata's own data sits beside it in folders whose names carry a
 * format version, so a change of format is a new folder, never a silent misread.
 */
export interface StorePaths {
  readonly root: string;
  readonly ociLayout: string;
  readonly index: string;
  /** blobs/sha256: one file per blob, named by its hex digest. */
  readonly blobs: string;
  /** In-flight writes; names carry the writer's pid so the dead ones' leftovers can be swept. */
  readonly tmp: string;
  readonly locks: string;
  /** Blobs whose bytes did not match their name, moved aside. */
  readonly quarantine: string;
  /** Cache records: one file per key hash. */
  readonly records: string;
  /** Context content-hash memo: one file per path hash. */
  readonly memo: string;
  /** Unpacked layers, one folder per chain ID. */
  readonly snapshots: string;
  /** Snapshot holders: one empty file per (chain ID, holder). */
  readonly snapshotRefs: string;
  /** Repo digests (registry names of stored images): one file per image, made on first use. */
  readonly repoDigests: string;
  /** Containers: `<id>.json` records and `<id>/` writable layers. */
  readonly containers: string;
  /** RUN `--mount=type=cache` folders, one per id (and seed); they outlive builds. */
  readonly cacheMounts: string;
}

export function storePaths(root: string): StorePaths {
  return {
    root,
    ociLayout: join(root, 'oci-layout'),
    index: join(root, 'index.json'),
    blobs: join(root, 'blobs', 'sha256'),
    tmp: join(root, 'tmp'),
    locks: join(root, 'locks'),
    quarantine: join(root, 'quarantine-v1'),
    records: join(root, 'cache-v1', 'records'),
    memo: join(root, 'cache-v1', 'memo'),
    snapshots: join(root, 'snapshots-v1', 'layers'),
    snapshotRefs: join(root, 'snapshots-v1', 'refs'),
    repoDigests: join(root, 'repo-digests-v1'),
    containers: join(root, 'containers-v1'),
    cacheMounts: join(root, 'cache-mounts-v1'),
  };
}
