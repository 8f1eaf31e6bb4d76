/**
 * The writing side of an incremental COPY (see incremental-copy.ts): the
 * upper directory holds the step's last result, copy.ts walks the sources as
 * a cold copy does, and these keep what matches, note what the run made, and
 * at the end remove the rest and give folders a cold copy's mtimes.
 */
import { lstatSync, readdirSync, readlinkSync, rmSync, utimesSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ContextEntry } from '../context/context.js';
import type { LayerIndex } from '../layer/layer-index.js';
import type { Owner } from './upper-dirs.js';

/** What an incremental copy starts from. */
export interface ReuseInput {
  /** Whether a source entry is as it was in the last run (type, mode, content). */
  readonly unchanged: (entry: ContextEntry) => boolean;
  /**
   * The index of the layer the upper folder was committed as (its paths are
   * the folder's, relative): a target is checked against it instead of being
   * stat'ed. The folder is the store's snapshot of that layer, unchanged
   * since (snapshots are never written to).
   */
  readonly index?: LayerIndex;
}

export interface ReuseState extends ReuseInput {
  readonly upper: string;
  /** Every path (relative) this run wrote or kept, with its parents. */
  readonly made: Set<string>;
  /** Regular files and symlinks (relative) kept as the last run left them. */
  readonly kept: Set<string>;
  /** Copied folders (relative) and the mtime a cold copy gave them before filling them. */
  readonly folderTimes: Map<string, number>;
}

export function newReuse(upper: string, input: ReuseInput): ReuseState {
  return { ...input, upper, made: new Set(), kept: new Set(), folderTimes: new Map() };
}

/** Notes that this run made (or kept) `target` and, implicitly, its parents. */
export function noteMade(reuse: ReuseState | undefined, target: string): void {
  if (reuse === undefined) return;
  let rel = target.slice(reuse.upper.length + 1);
  while (rel !== '' && rel !== '.' && !reuse.made.has(rel)) {
    reuse.made.add(rel);
    rel = posix.dirname(rel);
  }
}

export function noteFolderTime(reuse: ReuseState | undefined, target: string, mtime: number): void {
  reuse?.folderTimes.set(target.slice(reuse.upper.length + 1), mtime);
}

/**
 * Whether what the last run left at `target` is what a cold copy of `entry`
 * writes now: the source is unchanged since then (the key's listing), and
 * the target has the type, size, owner, mode and whole-second mtime a copy
 * gives it (what the layer's tar header holds). Files with several names
 * are always written again (their links are made anew).
 */
export function keepsTarget(reuse: ReuseState | undefined, entry: ContextEntry, target: string, owner: Owner, mode: number, sourceLinks = 1): boolean {
  if (reuse === undefined || sourceLinks !== 1 || !reuse.unchanged(entry)) return false;
  const rel = target.slice(reuse.upper.length + 1);
  const kept = reuse.index === undefined ? keptOnDisk(entry, target, owner, mode) : keptInIndex(reuse.index, rel, entry, owner, mode);
  if (kept) reuse.kept.add(rel);
  return kept;
}

/** keepsTarget against the old layer's index: the same facts its tar header had (uid, gid, whole-second mtime, mode, size). */
function keptInIndex(index: LayerIndex, rel: string, entry: ContextEntry, owner: Owner, mode: number): boolean {
  const old = index.entries.get(rel);
  if (old === undefined || !old.plain || old.uid !== owner.uid || old.gid !== owner.gid) return false;
  if (old.mtime !== Math.floor(entry.mtimeMs / 1000)) return false;
  if (entry.type === 'file') return old.type === 'file' && old.size === entry.size && old.mode === mode;
  if (entry.type === 'symlink') return old.type === 'symlink' && old.linkname === (entry.linkTarget ?? '');
  return false;
}

function keptOnDisk(entry: ContextEntry, target: string, owner: Owner, mode: number): boolean {
  const st = lstatSync(target, { throwIfNoEntry: false });
  if (st === undefined || st.uid !== owner.uid || st.gid !== owner.gid) return false;
  if (Math.floor(st.mtimeMs / 1000) !== Math.floor(entry.mtimeMs / 1000)) return false;
  if (entry.type === 'file') return st.isFile() && st.nlink === 1 && st.size === entry.size && (st.mode & 0o7777) === mode;
  if (entry.type === 'symlink') return st.isSymbolicLink() && readlinkSync(target) === (entry.linkTarget ?? '');
  return false;
}

/**
 * The end of an incremental copy: removes what the last run made and this
 * one did not, and gives folders the mtimes a cold copy leaves them with. A
 * cold copy sets a folder's mtime before it fills it, so a folder that holds
 * anything ends with the time of its last entry's creation (clamped to
 * SOURCE_DATE_EPOCH in the layer): "now" here too. An empty copied folder
 * has its source's mtime; an empty destination folder that this pass
 * emptied gets the time a new parent folder is made with (`epoch`).
 */
export function finishReuse(reuse: ReuseState, epoch: number): void {
  const { upper, made, folderTimes } = reuse;
  const now = Date.now() / 1000;
  const visit = (rel: string): void => {
    const dir = rel === '' ? upper : join(upper, rel);
    let kept = 0;
    let removed = false;
    // the entries' types come with the listing: no stat per entry
    for (const dirent of readdirSync(dir, { withFileTypes: true })) {
      const child = rel === '' ? dirent.name : `${rel}/${dirent.name}`;
      if (!made.has(child)) {
        rmSync(join(upper, child), { recursive: true, force: true });
        removed = true;
        continue;
      }
      kept += 1;
      if (dirent.isDirectory()) visit(child);
    }
    if (rel === '') return;
    const copied = folderTimes.get(rel);
    if (kept > 0) utimesSync(dir, now, now);
    else if (copied !== undefined) utimesSync(dir, copied, copied);
    else if (removed) utimesSync(dir, epoch, epoch);
  };
  visit('');
}
