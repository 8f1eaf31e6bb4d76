import { spawn } from 'node:child_process';
import { lstat, mkdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildSession } from '../session.js';
import { baseImage } from './from-step.js';
import { namedImage } from './named-base.js';
import { buildError, BuildErrors } from '../errors.js';
import type { ImageState } from '../image/state.js';
import { findStage } from '../plan/plan.js';
import { mountOverlay, unmount } from '../snapshot/overlay.js';

/** The root filesystem a `RUN --mount ... from=` reads: another stage's result or an image. */
export interface MountFrom {
  readonly image: ImageState;
  /** What the cache key sees: the source stage's key, or the image's manifest digest. */
  readonly identity: string;
}

/**
 * Resolves `from=`: a stage of this Dockerfile (by name or index, built before
 * this one: the planner orders it first), else an image from the store, pulled
 * when missing as FROM does.
 */
export async function resolveMountFrom(from: string, session: BuildSession): Promise<MountFrom> {
  // a named context first (--build-context), as BuildKit
  const found = session.named?.find(from, session.platformText);
  if (found !== undefined) return namedImage(found, session, baseImage);
  const stage = findStage(session.stages, from, session.stages.length);
  if (stage !== undefined) {
    const result = session.results.get(stage.index);
    if (result === undefined) throw buildError(BuildErrors.invalidInstruction, [`RUN --mount from=${from}: stage ${from} was not built before this step`]);
    return { image: result.state.image, identity: `stage:${result.state.key}` };
  }
  const base = await baseImage(from, session);
  return { image: base.image, identity: `image:${base.manifestDigest}` };
}

/** A mounted root filesystem; `release` unmounts it and drops whatever was written to it. */
export interface MountedRoot {
  readonly path: string;
  release(): Promise<void>;
}

export interface MountRootOptions {
  /** A read-only overlay (COPY --from): no upper directory to make or to drop. */
  readonly readOnly?: boolean;
}

/**
 * Mounts an image's root filesystem as an overlay whose upper directory is a
 * throwaway folder under `dir`: writes through it (a `rw` bind mount) never
 * reach the snapshots or the step's layer, and vanish on release. With
 * `readOnly`, the overlay has no upper directory at all.
 */
export async function mountRoot(image: ImageState, session: BuildSession, dir: string, options: MountRootOptions = {}): Promise<MountedRoot> {
  return mountOver(await session.snapshotter.lowerDirs(image.layers), session, dir, options);
}

/** An overlay over `lowerDirs` (topmost first) with a throwaway upper directory under `dir` (none when `readOnly`). */
export async function mountOver(lowerDirs: readonly string[], session: BuildSession, dir: string, options: MountRootOptions = {}): Promise<MountedRoot> {
  const target = join(dir, 'merged');
  const emptyDir = join(dir, 'empty');
  await mkdir(emptyDir, { recursive: true });
  const base = { lowerDirs, target, emptyDir, baseDir: session.store.root };
  await mountOverlay(options.readOnly === true ? base : { ...base, upperDir: join(dir, 'upper'), workDir: join(dir, 'work') });
  return {
    path: target,
    release: async () => {
      await unmount(target);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Symbolic links followed while resolving one path before giving up (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * The host path of `path` inside `root`, with symbolic links resolved as the
 * container would see them (absolute targets start again at `root`, `..`
 * stops at it), so that a bind mount can never reach outside the root.
 * Undefined when the path does not exist.
 */
export async function resolveInRoot(root: string, path: string): Promise<string | undefined> {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = join(root, ...resolved, part);
    let isLink: boolean;
    try {
      isLink = (await lstat(host)).isSymbolicLink();
    } catch {
      return undefined;
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    links += 1;
    if (links > MAX_LINKS) return undefined;
    const target = await readlink(host);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
  }
  return join(root, ...resolved);
}

/** `cp -a source dest` (GNU cp: keeps owners, modes, links, xattrs). */
export function copyTree(source: string, dest: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('cp', ['-a', '--', source, dest], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(buildError(BuildErrors.mountFailed, [`a copy of ${source}`, stderr.trim() || `cp exited with ${code}`])),
    );
  });
}

/**
 * Fills a new cache mount folder from a folder of a source root, once: the
 * copy is made in `scratch` (this build's folder under the store's tmp, same
 * filesystem, swept if the build dies) and renamed into place, so a build
 * interrupted mid-copy (or a concurrent one) never sees a half-seeded cache.
 */
export async function seedCacheDir(dir: string, source: string, scratch: string): Promise<void> {
  const exists = await lstat(dir).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await mkdir(scratch, { recursive: true });
  const temp = join(scratch, 'seed');
  try {
    await copyTree(source, temp);
    await rename(temp, dir).catch(async (error: NodeJS.ErrnoException) => {
      // another build seeded it first: keep theirs
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
