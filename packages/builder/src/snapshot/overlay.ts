import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { relative } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
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

function run(cmd: string, args: readonly string[], cwd?: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', (e) => resolve({ code: -1, stderr: e.message }));
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

const USER_NAMESPACE = inUserNamespace();

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
  const { code, stderr } = await run('mount', ['-t', 'overlay', 'overlay', '-o', options, m.target], cwd);
  if (code !== 0) {
    const why = stderr.trim() || `mount exited with ${code}`;
    // rootless: the kernel must allow overlayfs in a user namespace
    const detail = USER_NAMESPACE ? `${why} (rootless strata mounts overlayfs in a user namespace, which needs Linux 5.11 or later)` : why;
    throw buildError(BuildErrors.mountFailed, [`an overlay at ${m.target}`, detail]);
  }
}

/** Unmounts a mount point; lazily detaches it when it is busy. Not mounted: no-op. */
export async function unmount(target: string): Promise<void> {
  const first = await run('umount', [target]);
  if (first.code === 0) return;
  if (/not mounted|no mount point|not found/i.test(first.stderr)) return;
  const lazy = await run('umount', ['-l', target]);
  if (lazy.code !== 0 && !/not mounted|no mount point|not found/i.test(lazy.stderr)) {
    throw buildError(BuildErrors.mountFailed, [`(unmount) ${target}`, lazy.stderr.trim()]);
  }
}
