import { chmod, copyFile, lchown, link, lstat, lutimes, mkdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import type { ContextEntry, SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';
import { extractArchive, type Compression } from './archive.js';
import { ensureParents, type Owner } from './upper-dirs.js';

export type { Owner } from './upper-dirs.js';

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
  /** A fresh name for scratch folders on the upper directory's filesystem (archive staging). */
  readonly scratch?: () => string;
}

/** One selected source of a COPY/ADD and how it lands. */
export interface CopyItem {
  readonly source: SelectedSource;
  /**
   * --parents: the folders between the pivot (the context root, or a `/./`
   * in the source) and the source, outermost first, recreated under the
   * destination with their own metadata; the source keeps its name below them.
   */
  readonly parents?: { readonly pivot: string; readonly folders: readonly ContextEntry[] };
  /** ADD: the source is a tar archive, extracted into the destination folder. */
  readonly archive?: Compression;
  /** How the source is named in errors. */
  readonly label?: string;
}

/** Resolves COPY's destination against WORKDIR, keeping a trailing slash. */
export function resolveDestination(dest: string, workdir: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest.endsWith('/.');
  const abs = posix.resolve(workdir === '' ? '/' : workdir, dest);
  return trailing && abs !== '/' ? `${abs}/` : abs;
}

/**
 * Clears the way for an entry: what an earlier source of the same step put
 * at `target` is replaced (later sources win, as in BuildKit), except a
 * folder over a folder, which merges. Never follows a symlink: writing a
 * file onto a symlink would write wherever it points, on the host.
 */
async function makeRoom(target: string, isDir: boolean): Promise<void> {
  const existing = await lstat(target).catch(() => undefined);
  if (existing === undefined || (isDir && existing.isDirectory())) return;
  await rm(target, { recursive: true, force: true });
}

/**
 * Files of one source already written, by source inode: a second name of the
 * same file becomes a hardlink to the first copy, as BuildKit's copier does.
 * The value settles once the first copy is complete (files are copied
 * several at a time).
 */
type LinkMemo = Map<string, { readonly target: string; readonly written: Promise<void> }>;

/** Files and symlinks written at once: each is a handful of dependent syscalls, so several in flight hide their latency. */
const COPY_CONCURRENCY = 8;

/** Runs `fn` over `items`, at most `limit` at a time; the first failure is thrown once all started calls settle. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

// Owner before mode: chown(2) clears the setuid and setgid bits of a file.
async function copyEntry(entry: ContextEntry, target: string, plan: CopyPlan, links?: LinkMemo): Promise<void> {
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  const mtime = entry.mtimeMs / 1000;
  await makeRoom(target, entry.type === 'directory');
  switch (entry.type) {
    case 'directory':
      await mkdir(target, { recursive: true });
      await lchown(target, owner.uid, owner.gid);
      await chmod(target, plan.chmod ? plan.chmod(entry.mode, true) : entry.mode);
      await utimes(target, mtime, mtime);
      return;
    case 'file': {
      if (links !== undefined) {
        const st = await lstat(entry.hostPath);
        if (st.nlink > 1) {
          const inode = `${st.dev}:${st.ino}`;
          const first = links.get(inode);
          if (first !== undefined) {
            await first.written;
            await link(first.target, target);
            return;
          }
          const written = writeCopy(entry, target, owner, mtime, plan);
          links.set(inode, { target, written });
          return written;
        }
      }
      return writeCopy(entry, target, owner, mtime, plan);
    }
    case 'symlink':
      await symlink(entry.linkTarget ?? '', target);
      await lchown(target, owner.uid, owner.gid);
      await lutimes(target, mtime, mtime);
      return;
  }
}

async function writeCopy(entry: ContextEntry, target: string, owner: Owner, mtime: number, plan: CopyPlan): Promise<void> {
  await copyFile(entry.hostPath, target);
  await lchown(target, owner.uid, owner.gid);
  await chmod(target, plan.chmod ? plan.chmod(entry.mode, false) : entry.mode);
  await utimes(target, mtime, mtime);
}

/**
 * Writes COPY's result into a fresh upper directory, with docker's rules: a
 * folder source copies its contents, a file source lands at the destination
 * (or inside it when the destination is a folder), owners are root or
 * --chown, modes are kept or --chmod, mtimes are kept. ADD's archives are
 * extracted into the destination folder; --parents keeps each source's
 * folders below the pivot.
 */
export async function copyIntoUpper(upper: string, lowerDirs: readonly string[], items: readonly CopyItem[], plan: CopyPlan): Promise<void> {
  const dest = plan.destination.replace(/\/+$/, '') || '/';
  const destRel = dest.replace(/^\/+/, '');
  const under = (rel: string): string => (destRel === '' ? rel : `${destRel}/${rel}`);
  for (const item of items) {
    const { source } = item;
    const root = source.root;
    let baseRel = destRel;
    if (item.parents !== undefined) {
      await ensureParents(upper, lowerDirs, `/${destRel}`, plan.owner, plan.epoch);
      for (const folder of item.parents.folders) {
        const rel = under(belowPivot(folder.contextPath, item.parents.pivot));
        await refuseNonDirectory(upper, lowerDirs, rel);
        if ((await lstat(join(upper, rel)).catch(() => undefined))?.isDirectory() !== true) await copyEntry(folder, join(upper, rel), plan);
      }
      const kept = belowPivot(root.contextPath, item.parents.pivot);
      baseRel = kept === '' ? destRel : under(kept);
      if (kept !== '') await copyEntry(root, join(upper, baseRel), plan);
      if (root.type !== 'directory') continue;
    } else if (item.archive !== undefined) {
      await ensureParents(upper, lowerDirs, `/${destRel}`, plan.owner, plan.epoch);
      if (plan.scratch === undefined) throw new Error('internal: archive extraction needs a scratch folder');
      await extractArchive(root.hostPath, item.archive, upper, lowerDirs, {
        targetRel: destRel,
        staging: plan.scratch(),
        source: item.label ?? root.contextPath,
        epoch: plan.epoch,
        ...(plan.owner === undefined ? {} : { owner: plan.owner }),
      });
      continue;
    } else if (root.type === 'directory') {
      await ensureParents(upper, lowerDirs, posix.dirname(`/${destRel}`), plan.owner, plan.epoch);
      if (destRel !== '') {
        const existing = await lookupInLayers(lowerDirs, destRel);
        const made = await lstat(join(upper, destRel)).catch(() => undefined);
        if (made === undefined && existing !== undefined && !(await lstat(existing)).isDirectory()) {
          throw buildError(BuildErrors.notDirectory, [`/${destRel}`]);
        }
        // what an earlier source of this step put there gives way (later sources win)
        if (made !== undefined && !made.isDirectory()) await makeRoom(join(upper, destRel), true);
        // the destination folder is made like a parent (BuildKit: 0755 and the --chown owner, whatever
        // the source folder's mode or --chmod); a folder the image has keeps its mode and owner
        await ensureParents(upper, lowerDirs, `/${destRel}`, plan.owner, plan.epoch);
      }
    } else {
      const name = root.contextPath.split('/').pop() ?? '';
      const targetRel = plan.destIsDir ? under(name) : destRel;
      await ensureParents(upper, lowerDirs, posix.dirname(`/${targetRel}`), plan.owner, plan.epoch);
      await copyEntry(root, join(upper, targetRel), plan);
      continue;
    }
    const prefix = root.contextPath === '' ? '' : `${root.contextPath}/`;
    const links: LinkMemo = new Map();
    const target = (child: ContextEntry): string => {
      const rel = child.contextPath.slice(prefix.length);
      return baseRel === '' ? rel : `${baseRel}/${rel}`;
    };
    // folders one by one, in order (each comes before what it holds); the
    // files and symlinks between two folders several at a time
    let run: ContextEntry[] = [];
    const flush = async (): Promise<void> => {
      await forEachLimit(run, COPY_CONCURRENCY, (child) => copyEntry(child, join(upper, target(child)), plan, links));
      run = [];
    };
    for (const child of source.children) {
      if (child.type !== 'directory') {
        run.push(child);
        continue;
      }
      await flush();
      await refuseNonDirectory(upper, lowerDirs, target(child));
      await copyEntry(child, join(upper, target(child)), plan, links);
    }
    await flush();
  }
}

/**
 * A folder of the sources where the image has a symlink or a file: BuildKit
 * refuses it ("cannot copy to non-directory"; merged-/usr's /bin, /lib) rather
 * than replacing the symlink and hiding what it points to. Without --link
 * only (a --link layer is made as if on scratch).
 */
async function refuseNonDirectory(upper: string, lowerDirs: readonly string[], rel: string): Promise<void> {
  if (lowerDirs.length === 0 || (await lstat(join(upper, rel)).catch(() => undefined)) !== undefined) return;
  const inImage = await lookupInLayers(lowerDirs, rel);
  if (inImage !== undefined && !(await lstat(inImage)).isDirectory()) throw buildError(BuildErrors.notDirectory, [`/${rel}`]);
}

/** A context path below the --parents pivot. */
function belowPivot(path: string, pivot: string): string {
  return pivot === '' ? path : path.slice(pivot.length + 1);
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
    // an earlier source may have put a symlink of this name: replace it, never write through it
    await makeRoom(target, false);
    await writeFile(target, f.data, { flag: 'wx' });
    await lchown(target, plan.owner?.uid ?? 0, plan.owner?.gid ?? 0);
    await chmod(target, plan.chmod ? plan.chmod(0o644, false) : 0o644);
    await utimes(target, plan.epoch, plan.epoch);
  }
}
