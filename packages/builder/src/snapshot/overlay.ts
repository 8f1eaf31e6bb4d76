import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { relative } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';

export interface OverlayMount {
  /** Lower directories, topmost first (the order overlayfs wants). Empty: an empty lower is used. */
  readonly lowerDirs: readonly string[];
  readonly upperDir: string;
  /** overlayfs's work folder: empty, on the same filesystem as upperDir. */
  readonly workDir: string;
  readonly target: string;
  /** A folder that holds the lower dirs: mount options are written relative to it when they would exceed a page. */
  readonly baseDir?: string;
  /** An existing empty folder used as the lower of a layer over nothing (FROM scratch). */
  readonly emptyDir: string;
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

/**
 * Mounts an overlay whose upper directory collects exactly what a step
 * changes. Mount options are limited to one page; with many layers the paths
 * are given relative to `baseDir` and mount runs there.
 */
export async function mountOverlay(m: OverlayMount): Promise<void> {
  await mkdir(m.upperDir, { recursive: true });
  await mkdir(m.workDir, { recursive: true });
  await mkdir(m.target, { recursive: true });
  const lowers = m.lowerDirs.length > 0 ? m.lowerDirs : [m.emptyDir];
  let cwd: string | undefined;
  // redirect_dir and metacopy store changes a layer tar cannot carry: keep them off
  const features = 'redirect_dir=off,metacopy=off';
  let options = `lowerdir=${lowers.join(':')},upperdir=${m.upperDir},workdir=${m.workDir},${features}`;
  if (options.length >= PAGE && m.baseDir !== undefined) {
    const base = m.baseDir;
    cwd = base;
    options = `lowerdir=${lowers.map((l) => relative(base, l)).join(':')},upperdir=${relative(base, m.upperDir)},workdir=${relative(base, m.workDir)},${features}`;
  }
  if (options.length >= PAGE) {
    throw buildError(BuildErrors.mountFailed, ['the overlay', `${lowers.length} layers make mount options of ${options.length} bytes (limit ${PAGE - 1})`]);
  }
  const { code, stderr } = await run('mount', ['-t', 'overlay', 'overlay', '-o', options, m.target], cwd);
  if (code !== 0) throw buildError(BuildErrors.mountFailed, [`an overlay at ${m.target}`, stderr.trim() || `mount exited with ${code}`]);
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
