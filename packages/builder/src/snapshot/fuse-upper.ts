import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { getAttribute, removeAttribute, setAttribute } from '@napi-rs/xattr';

/** fuse-overlayfs's opaque attribute, and the two entries it adds to an opaque folder. */
const FUSE_OPAQUE = 'user.fuseoverlayfs.opaque';
const FUSE_MARK_FILES = ['.wh..wh..opq', '.wh..opq'];

/** Whether `rel` is in the merged view of `lowers` (topmost first): the first lower that has it decides; a 0/0 device is a whiteout. */
async function inLowers(lowers: readonly string[], rel: string): Promise<boolean> {
  for (const lower of lowers) {
    const st = await lstat(join(lower, rel)).catch(() => undefined);
    if (st === undefined) continue;
    return !(st.isCharacterDevice() && st.rdev === 0);
  }
  return false;
}

/**
 * Puts an upper folder that fuse-overlayfs wrote into overlayfs's form, so
 * that its layer is the one the kernel's overlayfs would give: fuse-overlayfs
 * marks every folder it creates opaque (`user.fuseoverlayfs.opaque` and two
 * `.wh.` entries), overlayfs only a folder made where a lower one was removed.
 * The marks go; a folder that hides a lower one gets `user.overlay.opaque`
 * (which fuse-overlayfs and a rootless overlayfs both read).
 */
export async function normalizeFuseUpper(upper: string, lowers: readonly string[]): Promise<void> {
  const visit = async (rel: string): Promise<void> => {
    const abs = join(upper, rel);
    const names = await readdir(abs);
    for (const mark of FUSE_MARK_FILES) if (names.includes(mark)) await rm(join(abs, mark), { force: true });
    if (rel !== '' && (await getAttribute(abs, FUSE_OPAQUE).catch(() => null))?.toString('latin1') === 'y') {
      await removeAttribute(abs, FUSE_OPAQUE);
      if (await inLowers(lowers, rel)) await setAttribute(abs, 'user.overlay.opaque', 'y');
    }
    for (const name of names) {
      if (FUSE_MARK_FILES.includes(name)) continue;
      const st = await lstat(join(abs, name));
      if (st.isDirectory()) await visit(rel === '' ? name : join(rel, name));
    }
  };
  await visit('');
}
