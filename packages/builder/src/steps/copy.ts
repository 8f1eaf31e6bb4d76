import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  read,
  readSync,
  rmSync,
  symlinkSync,
  utimesSync,
  write,
  writeSync,
} from 'node:fs';
import { chmod, lchown, lstat, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { dirname, join, posix } from 'node:path';
import type { ContextEntry, SelectedSource } from '../context/context.js';
import { buildError, BuildErrors } from '../errors.js';
import { lookupInLayers } from '../snapshot/snapshotter.js';
import { extractArchive, type Compression } from './archive.js';
import type { KnownFile } from '../layer/scan.js';
import { finishReuse, keepsTarget, newReuse, noteFolderTime, noteMade, type ReuseInput, type ReuseState } from './copy-reuse.js';
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
  /**
   * Incremental COPY (see incremental-copy.ts): the upper directory already
   * holds this step's result from its last run, and this says which source
   * entries are as they were then (type, mode, content). Their targets are
   * kept when they match; everything else is written as a cold copy writes
   * it, and what the step no longer makes is removed. One local source only.
   */
  readonly reuse?: ReuseInput;
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

/** makeRoom with blocking calls, for the per-entry path of copyEntry. */
function makeRoomSync(target: string, isDir: boolean): void {
  const existing = lstatSync(target, { throwIfNoEntry: false });
  if (existing === undefined || (isDir && existing.isDirectory())) return;
  rmSync(target, { recursive: true, force: true });
}

const errorCode = (error: unknown): unknown => (error as NodeJS.ErrnoException).code;

/**
 * Runs `make` (which creates `target` exclusively); when something is already
 * there (an earlier source of the same step), clears the way and runs it once
 * more. The common case, a fresh name, costs no lstat.
 */
function createFresh<T>(target: string, make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  }
  makeRoomSync(target, false);
  return make();
}

/**
 * Files of one source already written, by source inode (device:inode): a
 * second name of the same file becomes a hardlink to the first copy, as
 * BuildKit's copier does.
 */
type LinkMemo = Map<string, string>;

/**
 * Files up to this size are copied with blocking calls; bigger ones through
 * the thread pool, a chunk at a time, so one huge file does not hold the
 * event loop (signals, progress) for seconds.
 */
const SYNC_COPY_MAX = 1 << 20;

/**
 * How long copyIntoUpper works with blocking calls before it lets the event
 * loop run (signal handlers, progress output).
 */
const YIELD_EVERY_MS = 25;

/**
 * What one copyIntoUpper call shares between its entries: the plan and a
 * read buffer for the blocking copies (one runs at a time).
 */
interface Copier {
  readonly plan: CopyPlan;
  readonly buffer: Buffer;
  /**
   * Destination folders (relative) the image does not have: nothing under
   * them is in the image either, so their subfolders need no lookup (a
   * lookup through the layers is several file system calls per folder).
   */
  readonly notInImage: Set<string>;
  /** With plan.reuse: the upper directory and every path (relative) this run wrote or kept. */
  readonly reuse?: ReuseState;
  readonly upper: string;
  /**
   * Regular files this copy wrote (relative to the upper folder), with one
   * name and no extended attributes: the facts read back through the
   * descriptor they were written with and, for small files, their bytes. The
   * commit's scan and tar take these instead of stat'ing and reading the
   * files again (layer/scan.ts `known`).
   */
  readonly written: Map<string, KnownFile>;
  /** Bytes of file contents kept in `written`, against KEEP_CONTENT_BYTES. */
  keptBytes: number;
}

/** Files up to this size keep their bytes in memory for the layer's tar... */
const KEEP_CONTENT_FILE = 64 * 1024;
/** ...up to this many bytes per copy. */
const KEEP_CONTENT_BYTES = 128 * 1024 * 1024;

function newCopier(plan: CopyPlan, upper: string): Copier {
  return {
    plan,
    buffer: Buffer.allocUnsafe(KEEP_CONTENT_FILE),
    notInImage: new Set(),
    ...(plan.reuse === undefined ? {} : { reuse: newReuse(upper, plan.reuse) }),
    upper,
    written: new Map(),
    keptBytes: 0,
  };
}

/** `target`'s path relative to the upper folder. */
function relOf(copier: Copier, target: string): string {
  return target.slice(copier.upper.length + 1);
}

/**
 * Writes one entry at `target`. Per-entry work uses blocking calls: each is
 * a few microseconds, and a thread-pool round trip per call (six or more per
 * file) cost several times the calls themselves (2000 small files: ~0.07 s
 * blocking against ~0.35 s through the pool). Owner before mode: chown(2)
 * clears the setuid and setgid bits of a file.
 */
async function copyEntry(entry: ContextEntry, target: string, copier: Copier, links?: LinkMemo): Promise<void> {
  const { plan } = copier;
  const owner = plan.owner ?? { uid: 0, gid: 0 };
  const mtime = entry.mtimeMs / 1000;
  noteMade(copier.reuse, target);
  // whatever was written at this path before (an earlier source of the step) is not what is there now
  if (entry.type !== 'file') copier.written.delete(relOf(copier, target));
  switch (entry.type) {
    case 'directory':
      makeRoomSync(target, true);
      mkdirSync(target, { recursive: true });
      lchownSync(target, owner.uid, owner.gid);
      chmodSync(target, plan.chmod ? plan.chmod(entry.mode, true) : entry.mode);
      utimesSync(target, mtime, mtime);
      noteFolderTime(copier.reuse, target, mtime);
      return;
    case 'file':
      return copyFileEntry(entry, target, copier, owner, mtime, links);
    case 'symlink':
      if (keepsTarget(copier.reuse, entry, target, owner, 0)) return;
      createFresh(target, () => symlinkSync(entry.linkTarget ?? '', target));
      lchownSync(target, owner.uid, owner.gid);
      lutimesSync(target, mtime, mtime);
      return;
  }
}

/**
 * Copies a regular file. The source is opened without following a symlink
 * (a context file swapped for a link after the walk must not copy what the
 * link points to) and checked to still be a regular file; the target is
 * created exclusively, also without following a symlink, and its owner, mode
 * and times are set through the open descriptor.
 */
async function copyFileEntry(entry: ContextEntry, target: string, copier: Copier, owner: Owner, mtime: number, links?: LinkMemo): Promise<void> {
  const mode = copier.plan.chmod ? copier.plan.chmod(entry.mode, false) : entry.mode;
  // an incremental copy keeps a matching target without opening the source (its listing says it is as it was)
  if (keepsTarget(copier.reuse, entry, target, owner, mode, entry.links ?? 2)) return;
  const source = openSync(entry.hostPath, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(source);
    if (!st.isFile()) throw buildError(BuildErrors.contextPath, [entry.contextPath, 'changed while it was copied: it is no longer a regular file']);
    if (links !== undefined && st.nlink > 1) {
      const inode = `${st.dev}:${st.ino}`;
      const first = links.get(inode);
      if (first !== undefined) {
        // two names now: the scan finds the group itself
        copier.written.delete(relOf(copier, first));
        copier.written.delete(relOf(copier, target));
        createFresh(target, () => linkSync(first, target));
        return;
      }
      links.set(inode, target);
    }
    const dest = createFresh(target, () => openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
    try {
      let content: Buffer | undefined;
      if (st.size <= KEEP_CONTENT_FILE && copier.keptBytes + st.size <= KEEP_CONTENT_BYTES) content = copyKeepingContent(source, dest, st.size, copier.buffer);
      else if (st.size <= SYNC_COPY_MAX) copyContentSync(source, dest, copier.buffer);
      else await copyContent(source, dest);
      fchownSync(dest, owner.uid, owner.gid);
      fchmodSync(dest, mode);
      futimesSync(dest, mtime, mtime);
      const made = fstatSync(dest);
      copier.keptBytes += content?.length ?? 0;
      copier.written.set(relOf(copier, target), {
        mode: made.mode & 0o7777,
        uid: made.uid,
        gid: made.gid,
        size: made.size,
        mtime: Math.floor(made.mtimeMs / 1000),
        ...(content !== undefined && content.length === made.size ? { content } : {}),
      });
    } finally {
      closeSync(dest);
    }
  } finally {
    closeSync(source);
  }
}

/**
 * copyContentSync for a small file, keeping its bytes: returns them when the
 * file was `size` bytes as expected (else undefined, and the copy is whole).
 */
function copyKeepingContent(source: number, dest: number, size: number, buffer: Buffer): Buffer | undefined {
  const content = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = readSync(source, content, got, size - got, null);
    if (n === 0) break;
    got += n;
  }
  for (let done = 0; done < got; ) done += writeSync(dest, content, done, got - done);
  if (got < size) return undefined;
  // a file that grew since it was stat'ed: copy the rest, keep nothing
  const more = readSync(source, buffer, 0, buffer.length, null);
  if (more === 0) return content;
  for (let done = 0; done < more; ) done += writeSync(dest, buffer, done, more - done);
  copyContentSync(source, dest, buffer);
  return undefined;
}

/** Copies from `source` to `dest` until the end of the source. */
function copyContentSync(source: number, dest: number, buffer: Buffer): void {
  for (;;) {
    const n = readSync(source, buffer, 0, buffer.length, null);
    if (n === 0) return;
    for (let done = 0; done < n; ) done += writeSync(dest, buffer, done, n - done);
  }
}

const readAsync = promisify(read);
const writeAsync = promisify(write);

/** copyContentSync through the thread pool, 1 MiB at a time. */
async function copyContent(source: number, dest: number): Promise<void> {
  const buffer = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    const { bytesRead } = await readAsync(source, buffer, 0, buffer.length, null);
    if (bytesRead === 0) return;
    for (let done = 0; done < bytesRead; ) done += (await writeAsync(dest, buffer, done, bytesRead - done)).bytesWritten;
  }
}

/**
 * Writes COPY's result into a fresh upper directory, with docker's rules: a
 * folder source copies its contents, a file source lands at the destination
 * (or inside it when the destination is a folder), owners are root or
 * --chown, modes are kept or --chmod, mtimes are kept. ADD's archives are
 * extracted into the destination folder; --parents keeps each source's
 * folders below the pivot.
 */
export async function copyIntoUpper(upper: string, lowerDirs: readonly string[], items: readonly CopyItem[], plan: CopyPlan): Promise<CopyResult> {
  const copier = newCopier(plan, upper);
  if (copier.reuse !== undefined && (items.length !== 1 || items[0]?.parents !== undefined || items[0]?.archive !== undefined)) {
    throw new Error('internal: an incremental copy takes one plain source');
  }
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
        await refuseNonDirectory(upper, lowerDirs, rel, copier);
        if ((await lstat(join(upper, rel)).catch(() => undefined))?.isDirectory() !== true) await copyEntry(folder, join(upper, rel), copier);
      }
      const kept = belowPivot(root.contextPath, item.parents.pivot);
      baseRel = kept === '' ? destRel : under(kept);
      if (kept !== '') await copyEntry(root, join(upper, baseRel), copier);
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
        if (existing === undefined) copier.notInImage.add(destRel);
        const made = await lstat(join(upper, destRel)).catch(() => undefined);
        if (made === undefined && existing !== undefined && !(await lstat(existing)).isDirectory()) {
          throw buildError(BuildErrors.notDirectory, [`/${destRel}`]);
        }
        // what an earlier source of this step put there gives way (later sources win)
        if (made !== undefined && !made.isDirectory()) await makeRoom(join(upper, destRel), true);
        // the destination folder is made like a parent (BuildKit: 0755 and the --chown owner, whatever
        // the source folder's mode or --chmod); a folder the image has keeps its mode and owner
        await ensureParents(upper, lowerDirs, `/${destRel}`, plan.owner, plan.epoch);
        noteMade(copier.reuse, join(upper, destRel));
      }
    } else {
      const name = root.contextPath.split('/').pop() ?? '';
      const targetRel = plan.destIsDir ? under(name) : destRel;
      await ensureParents(upper, lowerDirs, posix.dirname(`/${targetRel}`), plan.owner, plan.epoch);
      await copyEntry(root, join(upper, targetRel), copier);
      continue;
    }
    const prefix = root.contextPath === '' ? '' : `${root.contextPath}/`;
    // an incremental copy: the last run's entries are kept where they match, and the rest is written as a cold copy does
    const links: LinkMemo = new Map();
    const target = (child: ContextEntry): string => {
      const rel = child.contextPath.slice(prefix.length);
      return baseRel === '' ? rel : `${baseRel}/${rel}`;
    };
    // in order: each folder comes before what it holds
    let since = performance.now();
    for (const child of source.children) {
      if (child.type === 'directory') await refuseNonDirectory(upper, lowerDirs, target(child), copier);
      await copyEntry(child, join(upper, target(child)), copier, links);
      if (performance.now() - since >= YIELD_EVERY_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        since = performance.now();
      }
    }
  }
  if (copier.reuse === undefined) return { written: copier.written };
  finishReuse(copier.reuse, plan.epoch);
  return { kept: copier.reuse.kept, written: copier.written };
}

/** What copyIntoUpper did besides writing. */
export interface CopyResult {
  /** The regular files it wrote, by path relative to the upper folder (see Copier.written). */
  readonly written: ReadonlyMap<string, KnownFile>;
  /** With plan.reuse: the regular files and symlinks (relative to the upper folder) kept as the last run left them. */
  readonly kept?: ReadonlySet<string>;
}

/**
 * A folder of the sources where the image has a symlink or a file: BuildKit
 * refuses it ("cannot copy to non-directory"; merged-/usr's /bin, /lib) rather
 * than replacing the symlink and hiding what it points to. Without --link
 * only (a --link layer is made as if on scratch).
 */
async function refuseNonDirectory(upper: string, lowerDirs: readonly string[], rel: string, copier: Copier): Promise<void> {
  if (lowerDirs.length === 0) return;
  if (copier.notInImage.has(posix.dirname(rel))) {
    copier.notInImage.add(rel);
    return;
  }
  // what an earlier source of this step made is checked already (an incremental copy's upper holds the last run's: look)
  if (copier.reuse === undefined && lstatSync(join(upper, rel), { throwIfNoEntry: false }) !== undefined) return;
  const inImage = await lookupInLayers(lowerDirs, rel);
  if (inImage === undefined) copier.notInImage.add(rel);
  else if (!(await lstat(inImage)).isDirectory()) throw buildError(BuildErrors.notDirectory, [`/${rel}`]);
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
