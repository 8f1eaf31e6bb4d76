import { chmod, lchown, lstat, mkdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';

/** The owner COPY/ADD gives what it writes: root, or --chown. */
export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

/**
 * Creates `path`'s missing parents in the upper directory. A parent that the
 * image already has is recreated with the image's mode and owner (so the
 * layer does not change it); a new one gets 0755 and `owner` (docker).
 */
export async function ensureParents(upper: string, lowerDirs: readonly string[], path: string, owner: Owner | undefined, epoch: number): Promise<void> {
  const parts = path.split('/').filter((p) => p !== '');
  let rel = '';
  for (const part of parts) {
    rel = rel === '' ? part : `${rel}/${part}`;
    const target = join(upper, rel);
    const made = await lstat(target).catch(() => undefined);
    if (made !== undefined) {
      // never write through a symlink an earlier source of this step made
      if (!made.isDirectory()) throw buildError(BuildErrors.invalidInstruction, [`cannot copy to ${path}: /${rel} is not a directory`]);
      continue;
    }
    const inImage = await lookupInLayers(lowerDirs, rel);
    if (inImage !== undefined) {
      const st = await lstat(inImage);
      if (!st.isDirectory()) throw buildError(BuildErrors.invalidInstruction, [`cannot copy to ${path}: /${rel} is not a directory in the image`]);
      await mkdir(target);
      await lchown(target, st.uid, st.gid);
      await chmod(target, st.mode & 0o7777);
      await utimes(target, st.atime, st.mtime);
    } else {
      await mkdir(target);
      await lchown(target, owner?.uid ?? 0, owner?.gid ?? 0);
      await chmod(target, 0o755);
      await utimes(target, epoch, epoch);
    }
  }
}

