// Every difference between strata's image and Buildah's that is expected, in
// one place, each with why. strata follows BuildKit (docker build); where
// Buildah 1.28 does something BuildKit does not, the Buildah side is
// normalized away here and nowhere else. Anything not listed is a failure.
import type { Entry, Manifest } from './manifest.js';

export interface KnownPathDifference {
  /** Absolute path in the image. */
  readonly path: string;
  /** What Buildah leaves there (checked: anything else is still a difference). */
  readonly buildahLeaves: (entry: Entry) => boolean;
  readonly why: string;
}

const emptyFile = (e: Entry): boolean => e.type === 'file' && e.size === 0 && e.uid === 0 && e.gid === 0;
const emptyRootDir = (e: Entry): boolean => e.type === 'dir' && e.uid === 0 && e.gid === 0;

/** Paths only Buildah's image has, after a RUN step. */
export const BUILDAH_ONLY_PATHS: readonly KnownPathDifference[] = [
  {
    path: '/etc/hosts',
    buildahLeaves: emptyFile,
    why: 'Buildah (chroot isolation) creates an empty mount point for its bind-mounted /etc/hosts in the layer; BuildKit and strata leave nothing of it',
  },
  {
    path: '/etc/hostname',
    buildahLeaves: emptyFile,
    why: 'the same for /etc/hostname',
  },
  {
    path: '/etc/resolv.conf',
    buildahLeaves: emptyFile,
    why: 'the same for /etc/resolv.conf',
  },
  {
    path: '/run',
    buildahLeaves: emptyRootDir,
    why: 'Buildah creates /run as a mount point for its RUN containers and commits it; BuildKit does not add it to the image',
  },
];

/** Labels Buildah adds to every image. */
export const BUILDAH_ONLY_LABELS: ReadonlyArray<{ readonly name: string; readonly why: string }> = [
  { name: 'io.buildah.version', why: 'Buildah stamps its version into every image it commits; docker build does not' },
];

/**
 * Config fields compared, with the empty values Buildah writes where docker
 * omits the field (`"Volumes": {}`, `"Entrypoint": []`, `"WorkingDir": ""`):
 * an empty value and an absent field mean the same to every runtime.
 */
export const CONFIG_FIELDS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'Labels', 'ExposedPorts', 'Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'] as const;

export type ComparableConfig = Partial<Record<(typeof CONFIG_FIELDS)[number], unknown>>;

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/**
 * `EXPOSE 8000-8002`: docker records one key per port (`8000/tcp`,
 * `8001/tcp`, `8002/tcp`), Buildah the range as written (`8000-8002/tcp`).
 * The range is expanded on Buildah's side.
 */
export function expandPortRanges(ports: Record<string, object>): Record<string, object> {
  const out: Record<string, object> = {};
  for (const key of Object.keys(ports)) {
    const m = /^(\d+)-(\d+)\/(\w+)$/.exec(key);
    if (m === null) out[key] = {};
    else for (let p = Number(m[1]); p <= Number(m[2]); p++) out[`${p}/${m[3]}`] = {};
  }
  return out;
}

/** The compared fields of an image config, empty values dropped. */
export function comparableConfig(config: Record<string, unknown>, side: 'strata' | 'buildah'): ComparableConfig {
  const out: Record<string, unknown> = {};
  for (const field of CONFIG_FIELDS) {
    let value = config[field];
    if (field === 'Labels' && side === 'buildah' && value !== null && typeof value === 'object') {
      const labels = { ...(value as Record<string, string>) };
      for (const { name } of BUILDAH_ONLY_LABELS) delete labels[name];
      value = labels;
    }
    if (field === 'ExposedPorts' && side === 'buildah' && value !== null && typeof value === 'object') value = expandPortRanges(value as Record<string, object>);
    if (!isEmpty(value)) out[field] = value;
  }
  return out;
}

/**
 * A WORKDIR that no later RUN or COPY used: BuildKit (and strata) create the
 * directory when the WORKDIR step runs (with its parents, owned by the USER in
 * effect); Buildah 1.28 creates it only when a later step needs it, so its
 * image lacks it. Dropped from strata's side: each WORKDIR the stage went
 * through (the final one is the image's WorkingDir) and its ancestors, when
 * Buildah has no entry there.
 */
export const UNUSED_WORKDIR_WHY = 'Buildah creates a WORKDIR lazily, when a later RUN/COPY runs in it; BuildKit creates it at the WORKDIR step';

/**
 * Not compared at all: the supplementary groups of a RUN process. BuildKit
 * passes the groups that list the user as a member (runc's lookup), Buildah
 * also adds the user's primary group (as `docker run` does), so `id` prints
 * different `groups=` lists. Cases write `id -u` / `id -g` instead.
 */
export const SUPPLEMENTARY_GROUPS_WHY = 'Buildah adds the primary group to RUN processes\' supplementary groups; BuildKit does not';

/** A difference that shows at one path of one case. */
export interface CaseDifference {
  readonly case: string;
  readonly path: string;
  readonly kind: 'context-setid' | 'archive-root';
}

export const CASE_DIFFERENCE_WHY: Record<CaseDifference['kind'], string> = {
  // compared with the bits put back on Buildah's side
  'context-setid': 'Buildah clears setuid/setgid on files COPY\'d from the build context; docker keeps them',
  // compared as folders, owner and mode not compared
  'archive-root': 'ADD of an archive with a ./ entry: Buildah gives its owner and mode to the destination folder; docker skips the entry',
};

export const CASE_DIFFERENCES: readonly CaseDifference[] = [
  { case: 'copy-semantics', path: '/dst/linked/suid.sh', kind: 'context-setid' },
  { case: 'copy-semantics', path: '/dst/linked-chown/suid.sh', kind: 'context-setid' },
  { case: 'add-tar', path: '/extract/plain', kind: 'archive-root' },
];

/**
 * The absolute WORKDIRs a single-stage Dockerfile goes through, in order
 * (relative ones resolved against the one before; no variables).
 */
export function workdirsOf(dockerfile: string): string[] {
  const out: string[] = [];
  let current = '/';
  for (const line of dockerfile.split('\n')) {
    const m = /^\s*WORKDIR\s+(\S+)\s*$/i.exec(line);
    if (m?.[1] === undefined) continue;
    current = m[1].startsWith('/') ? m[1] : `${current.replace(/\/$/, '')}/${m[1]}`;
    out.push(current);
  }
  return out;
}

/** The two manifests with the listed differences removed; `workingDirs` is the image's WorkingDir or every WORKDIR the stage went through. */
export function dropKnownPaths(caseName: string, strata: Manifest, buildah: Manifest, workingDirs: string | readonly string[] | undefined): [Manifest, Manifest] {
  const ours = new Map(strata);
  const theirs = new Map(buildah);
  for (const known of CASE_DIFFERENCES.filter((k) => k.case === caseName)) {
    const mine = ours.get(known.path);
    const entry = theirs.get(known.path);
    if (mine === undefined || entry === undefined || entry.type !== mine.type) continue;
    if (known.kind === 'archive-root' && entry.type === 'dir') theirs.set(known.path, mine);
    if (known.kind === 'context-setid' && entry.type === 'file') {
      const setid = parseInt(mine.mode, 8) & 0o6000;
      if (setid !== 0 && (parseInt(entry.mode, 8) & 0o6000) === 0) {
        theirs.set(known.path, { ...entry, mode: (parseInt(entry.mode, 8) | setid).toString(8).padStart(4, '0') });
      }
    }
  }
  for (const known of BUILDAH_ONLY_PATHS) {
    const entry = theirs.get(known.path);
    if (entry !== undefined && !ours.has(known.path) && known.buildahLeaves(entry)) theirs.delete(known.path);
  }
  const dirs = workingDirs === undefined ? [] : typeof workingDirs === 'string' ? [workingDirs] : workingDirs;
  for (const workingDir of dirs) {
    const parts = workingDir.split('/').filter((p) => p !== '');
    for (let i = parts.length; i > 0; i--) {
      const path = `/${parts.slice(0, i).join('/')}`;
      if (ours.get(path)?.type === 'dir' && !theirs.has(path)) ours.delete(path);
    }
  }
  return [ours, theirs];
}
