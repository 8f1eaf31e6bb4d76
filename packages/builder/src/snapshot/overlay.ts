import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
import { runTool } from '../exec.js';
import { inUserNamespace } from '../runtime/rootless.js';

/** A read-only overlay: lower directories only (COPY --from reads a stage through one). */
export interface ReadOnlyOverlayMount {
  /** Lower directories, topmost first (the order overlayfs wants). Empty: an empty lower is used. */
  readonly lowerDirs: readonly string[];
  readonly target: string;
  /** A folder that holds the lower dirs: mount options are written relative to it when they would exceed a page. */
  readonly baseDir?: string;
  /** An existing empty folder used as the lower of a layer over nothing (FROM scratch), or to make up overlayfs's count. */
  readonly emptyDir: string;
}

export interface OverlayMount extends ReadOnlyOverlayMount {
  readonly upperDir: string;
  /** overlayfs's work folder: empty, on the same filesystem as upperDir. */
  readonly workDir: string;
}

const PAGE = 4096;


const USER_NAMESPACE = inUserNamespace();

/**
 * What mounts the overlays: the kernel's overlayfs, or, rootless on a kernel
 * that does not allow overlayfs in a user namespace (before 5.11),
 * fuse-overlayfs from Debian (same lower/upper/work model; it reads overlayfs's
 * whiteouts and `user.overlay.opaque`, and marks its own opaque folders with
 * `user.fuseoverlayfs.opaque` and two `.wh.` entries the layer scan skips).
 */
export type OverlayDriver = 'overlayfs' | 'fuse-overlayfs';

let driver: Promise<OverlayDriver> | undefined;

/**
 * The overlay driver of this process: `overlayfs` as root; in a user namespace
 * `$STRATA_OVERLAY` when set, else overlayfs on Linux 5.11 or later or when a
 * probe mount succeeds, else fuse-overlayfs when installed (a clear error
 * naming the package when not).
 */
export function overlayDriver(probeIn?: string, env: NodeJS.ProcessEnv = process.env): Promise<OverlayDriver> {
  driver ??= chooseDriver(probeIn ?? tmpdir(), env);
  return driver;
}

/** Probes in `probeIn`, a folder on the file system the overlays will use (an upper folder on an overlayfs, say a container's root, is refused). */
async function chooseDriver(probeIn: string, env: NodeJS.ProcessEnv): Promise<OverlayDriver> {
  if (!USER_NAMESPACE) return 'overlayfs';
  const wanted = env.STRATA_OVERLAY;
  if (wanted === 'overlayfs' || wanted === 'fuse-overlayfs') return wanted;
  // Linux 5.11 mounts overlayfs in a user namespace: no probe (a rootless no-op rebuild stays free of it)
  const [major = 0, minor = 0] = release().split('.').map((n) => parseInt(n, 10));
  if (major > 5 || (major === 5 && minor >= 11)) return 'overlayfs';
  await mkdir(probeIn, { recursive: true });
  const dir = await mkdtemp(join(probeIn, 'strata-overlay-probe-'));
  try {
    for (const d of ['lower', 'upper', 'work', 'merged']) await mkdir(join(dir, d));
    const probe = await runTool('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=lower,upperdir=upper,workdir=work,userxattr`, join(dir, 'merged')], dir);
    if (probe.code === 0) {
      await runTool('umount', [join(dir, 'merged')]);
      return 'overlayfs';
    }
    const fuse = await runTool('fuse-overlayfs', ['--version']);
    if (fuse.code !== 0) {
      throw buildError(BuildErrors.mountFailed, [
        'an overlay in this user namespace',
        `this kernel does not mount overlayfs there (${probe.stderr.trim()}; Linux 5.11 or later does), and fuse-overlayfs, the fallback, is not installed: apt-get install fuse-overlayfs (scripts/setup-rootless does)`,
      ]);
    }
    return 'fuse-overlayfs';
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** overlayfs's mount options; paths relative to `base` when given. */
function overlayOptions(lowers: readonly string[], m: OverlayMount | ReadOnlyOverlayMount, base?: string): string {
  const path = (p: string): string => (base === undefined ? p : relative(base, p));
  const lowerdir = `lowerdir=${lowers.map(path).join(':')}`;
  if (!('upperDir' in m)) return lowerdir;
  const dirs = `${lowerdir},upperdir=${path(m.upperDir)},workdir=${path(m.workDir)}`;
  // redirect_dir and metacopy store changes a layer tar cannot carry: keep them off. In a user
  // namespace they are off already and naming them is refused (EPERM); there overlayfs must keep
  // its marks (opaque folders) in user.overlay.* attributes, as trusted.* ones need the host's root
  return USER_NAMESPACE ? `${dirs},userxattr` : `${dirs},redirect_dir=off,metacopy=off`;
}

/**
 * Mounts an overlay whose upper directory collects exactly what a step
 * changes, or, given no upperDir, a read-only view of the lower
 * directories (COPY --from reads a stage through one). Mount options are
 * limited to one page; with many layers the paths are given relative to
 * `baseDir` and mount runs there.
 */
export async function mountOverlay(m: OverlayMount | ReadOnlyOverlayMount): Promise<void> {
  const readOnly = !('upperDir' in m);
  if (!readOnly) {
    await mkdir(m.upperDir, { recursive: true });
    await mkdir(m.workDir, { recursive: true });
  }
  await mkdir(m.target, { recursive: true });
  // overlayfs without an upper directory wants at least two lowers: the empty folder makes up the count
  const lowers = m.lowerDirs.length === 0 ? [m.emptyDir] : m.lowerDirs;
  const used = readOnly && m.lowerDirs.length === 1 ? [...lowers, m.emptyDir] : lowers;
  let cwd: string | undefined;
  let options = overlayOptions(used, m);
  if (options.length >= PAGE && m.baseDir !== undefined) {
    cwd = m.baseDir;
    options = overlayOptions(used, m, m.baseDir);
  }
  if (options.length >= PAGE) {
    throw buildError(BuildErrors.mountFailed, ['the overlay', `${used.length} layers make mount options of ${options.length} bytes (limit ${PAGE - 1})`]);
  }
  const fuse = (await overlayDriver(dirname(m.target))) === 'fuse-overlayfs';
  // fuse-overlayfs takes absolute paths and no overlayfs-only options
  const { code, stderr } = fuse
    ? await runTool('fuse-overlayfs', ['-o', fuseOptions(used, m), m.target])
    : await runTool('mount', ['-t', 'overlay', 'overlay', '-o', options, m.target], cwd);
  if (code !== 0) {
    const why = stderr.trim() || `mount exited with ${code}`;
    // rootless: the kernel must allow overlayfs in a user namespace
    const detail = USER_NAMESPACE && !fuse ? `${why} (rootless strata mounts overlayfs in a user namespace, which needs Linux 5.11 or later)` : why;
    throw buildError(BuildErrors.mountFailed, [`an overlay at ${m.target}`, detail]);
  }
}

function fuseOptions(lowers: readonly string[], m: OverlayMount | ReadOnlyOverlayMount): string {
  const lowerdir = `lowerdir=${lowers.join(':')}`;
  return 'upperDir' in m ? `${lowerdir},upperdir=${m.upperDir},workdir=${m.workDir}` : lowerdir;
}

/** Unmounts a mount point; lazily detaches it when it is busy. Not mounted: no-op. */
export async function unmount(target: string): Promise<void> {
  const first = await runTool('umount', [target]);
  if (first.code === 0) return;
  if (/not mounted|no mount point|not found/i.test(first.stderr)) return;
  const lazy = await runTool('umount', ['-l', target]);
  if (lazy.code !== 0 && !/not mounted|no mount point|not found/i.test(lazy.stderr)) {
    throw buildError(BuildErrors.mountFailed, [`(unmount) ${target}`, lazy.stderr.trim()]);
  }
}
