import { chmod, copyFile, lchown, lstat, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { ContextEntry, SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/** A parsed --chmod: an octal mode, or a function of the source mode (symbolic form). */
export type ModeChange = (mode: number, isDir: boolean) => number;

export interface CopyPlan {
  /** Absolute destination in the image (already relative-to-WORKDIR resolved). */
  readonly destination: string;
  /** The destination names a folder: ends with `/`, several sources, a wildcard, or an existing folder. */
  readonly destIsDir: boolean;
  readonly owner?: Owner;
  readonly chmod?: ModeChange;
  /** Timestamp for created parent folders (seconds). */
  readonly epoch: number;
}

/** Resolves COPY's destination against WORKDIR, keeping a trailing slash. */
export function resolveDestination(dest: string, workdir: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = posix.resolve(workdir === '' ? '/' : workdir, dest);
  return trailing && abs !== '/' ? `${abs}/` : abs;
}

/**
 * Creates `path`'s missing parents in the upper directory. A parent that the
 * image already has is recreated with the image's mode and owner (so the
 * layer does not change it); a new one gets 0755 and `owner` (docker).
 */
async function ensureParents(upper: string, lowerDirs: readonly string[], path: string, owner: Owner | undefined, epoch: number): Promise<void> {
  const parts = path.split('/').filter((p) => p !== '');
  let rel = '';
  for (const part of parts) {
    rel = rel === '' ? part : `${rel}/${part}`;
    const target = join(upper, rel);
    try {
      await lstat(target);
      continue;
    } catch {
      // create it
    }
    const inImage = await lookupInLayers(lowerDirs, rel);
    if (inImage !== undefined) {
      const st = await lstat(inImage);
      if (!st.isDirectory()) throw buildError(BuildErrors.invalidInstruction, [`cannot copy to /${path}: /${rel} is not a directory in the image`]);
      await mkdir(target);
      await chmod(target, st.mode & 0o7777);
      await lchown(target, st.uid, st.gid);
      await utimes(target, st.atime, st.mtime);
    } else {
      await mkdir(target);
      await chmod(target, 0o755);
      await lchown(target, owner?.uid ?? 0, owner?.gid ?? 0);
      await utimes(target, epoch, epoch);
    }
  }
}

async function copyEntry(entry: ContextEntry, target: string, plan: CopyPlan): Promise<void> {
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  const mtime = entry.mtimeMs / 1000;
  switch (entry.type) {
    case 'directory':
      await mkdir(target, { recursive: true });
      await chmod(target, plan.chmod ? plan.chmod(entry.mode, true) : entry.mode);
      await lchown(target, owner.uid, owner.gid);
      await utimes(target, mtime, mtime);
      return;
    case 'file':
      await copyFile(entry.hostPath, target);
      await chmod(target, plan.chmod ? plan.chmod(entry.mode, false) : entry.mode);
      await lchown(target, owner.uid, owner.gid);
      await utimes(target, mtime, mtime);
      return;
    case 'symlink':
      await symlink(entry.linkTarget ?? '', target);
      await lchown(target, owner.uid, owner.gid);
      await lutimes(target, mtime, mtime);
      return;
  }
}

/**
 * Writes COPY's result into a fresh upper directory, with docker's rules: a
 * folder source copies its contents, a file source lands at the destination
 * (or inside it when the destination is a folder), owners are root or
 * --chown, modes are kept or --chmod, mtimes are kept.
 */
export async function copyIntoUpper(upper: string, lowerDirs: readonly string[], sources: readonly SelectedSource[], plan: CopyPlan): Promise<void> {
  const dest = plan.destination.replace(/\/+$/, '') || '/';
  const destRel = dest.replace(/^\/+/, '');
  for (const source of sources) {
    const root = source.root;
    if (root.type === 'directory') {
      await ensureParents(upper, lowerDirs, posix.dirname(`/${destRel}`), plan.owner, plan.epoch);
      if (destRel !== '') {
        const existing = await lookupInLayers(lowerDirs, destRel);
        let created = false;
        try {
          await lstat(join(upper, destRel));
        } catch {
          created = true;
        }
        if (created) {
          if (existing !== undefined && (await lstat(existing)).isDirectory()) {
            await ensureParents(upper, lowerDirs, `/${destRel}`, plan.owner, plan.epoch);
          } else {
            await copyEntry({ ...root, mode: root.mode }, join(upper, destRel), plan);
          }
        }
      }
      const prefix = root.contextPath === '' ? '' : `${root.contextPath}/`;
      for (const child of source.children) {
        const rel = child.contextPath.slice(prefix.length);
        await copyEntry(child, join(upper, destRel, rel), plan);
      }
      continue;
    }
    const name = root.contextPath.split('/').pop() ?? '';
    const targetRel = plan.destIsDir ? (destRel === '' ? name : `${destRel}/${name}`) : destRel;
    await ensureParents(upper, lowerDirs, posix.dirname(`/${targetRel}`), plan.owner, plan.epoch);
    await copyEntry(root, join(upper, targetRel), plan);
  }
}

/** Writes heredoc sources (`COPY <<EOF /dst`) into the upper directory. */
export async function writeInlineSources(
  upper: string,
  lowerDirs: readonly string[],
  files: readonly { name: string; data: string }[],
  plan: CopyPlan,
): Promise<void> {
  const destRel = plan.destination.replace(/\/+$/, '').replace(/^\/+/, '');
  for (const f of files) {
    const targetRel = plan.destIsDir ? (destRel === '' ? f.name : `${destRel}/${f.name}`) : destRel;
    await ensureParents(upper, lowerDirs, posix.dirname(`/${targetRel}`), plan.owner, plan.epoch);
    const target = join(upper, targetRel);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, f.data);
    await chmod(target, plan.chmod ? plan.chmod(0o644, false) : 0o644);
    await lchown(target, plan.owner?.uid ?? 0, plan.owner?.gid ?? 0);
    await utimes(target, plan.epoch, plan.epoch);
  }
}
