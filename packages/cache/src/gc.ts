import { rmSync, statSync } from 'node:fs';
import { readdir, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { digestHex, type ChainId, type Digest } from './digest.js';
import { errnoCode } from './errors.js';
import { withLock } from './lock.js';
import type { StoredRecord } from './records.js';
import type { SnapshotInfo } from './snapshots.js';
import type { Store } from './store.js';
import { fsyncDir, isIdentityAlive, tempOwner } from './fs-util.js';
import { dropRepoDigests } from './repo-digests.js';
import { inventory, type StoreInventory } from './usage.js';
import { memoUsage, pruneMemoTables } from './memo.js';

export interface PruneOptions {
  /** Remove every cache record (and what only they keep), not only what nothing references. */
  readonly all?: boolean;
  /** Keep at most this many bytes of build cache, dropping least-recently-used records first. */
  readonly keepStorage?: number;
  /** Only cache records unused for longer than this (ms) are removed by `all`; with neither, such records are removed. */
  readonly until?: number;
  /**
   * Blobs written or re-put more recently than this (ms, default 5 minutes) are
   * kept even when unreferenced: another process may be about to tag them.
   */
  readonly gracePeriodMs?: number;
  /** Report what would go, remove nothing. */
  readonly dryRun?: boolean;
  readonly now?: number;
}

export interface PruneResult {
  readonly removed: {
    readonly records: number;
    readonly blobs: number;
    readonly snapshots: number;
    readonly quarantined: number;
    readonly temp: number;
    /** Context memo table files (content and selection memo) of context folders that are gone, or unreadable; with `all`, every one. */
    readonly memoTables: number;
  };
  /** Bytes freed (blobs, record files, snapshot contents, memo tables). */
  readonly reclaimed: number;
  /** Unreferenced blobs left because they are younger than the grace period. */
  readonly keptRecent: number;
}

export const DEFAULT_GRACE_MS = 5 * 60_000;

/** Chooses the cache records to drop; returns the ones kept. */
function chooseRecords(inv: StoreInventory, options: PruneOptions, now: number): { keep: StoredRecord[]; drop: StoredRecord[] } {
  const drop: StoredRecord[] = [];
  let keep: StoredRecord[] = [];
  for (const r of inv.records) {
    const layer = r.record.layer;
    const broken = layer !== undefined && !inv.blobs.has(layer.digest);
    const old = options.until !== undefined && r.lastUsedMs < now - options.until;
    const byAll = options.all === true && (options.until === undefined || old);
    const byUntil = options.all !== true && old;
    if (broken || byAll || byUntil) drop.push(r);
    else keep.push(r);
  }
  if (options.keepStorage !== undefined) {
    // Least recently used first, until the cache fits.
    keep.sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    const users = new Map<Digest, number>();
    for (const r of keep) {
      const d = r.record.layer?.digest;
      if (d !== undefined) users.set(d, (users.get(d) ?? 0) + 1);
    }
    const blobCost = (d: Digest) => (inv.imageBlobs.has(d) ? 0 : (inv.blobs.get(d)?.size ?? 0));
    let usage = keep.reduce((n, r) => n + r.size, 0) + [...users.keys()].reduce((n, d) => n + blobCost(d), 0);
    let i = 0;
    while (usage > options.keepStorage && i < keep.length) {
      const r = keep[i++] as StoredRecord;
      drop.push(r);
      usage -= r.size;
      const d = r.record.layer?.digest;
      if (d !== undefined) {
        const left = (users.get(d) ?? 1) - 1;
        users.set(d, left);
        if (left === 0) usage -= blobCost(d);
      }
    }
    keep = keep.slice(i);
  }
  return { keep, drop };
}

/**
 * A snapshot's holders, after dropping the holds of builds whose process is
 * gone (a SIGKILLed build never releases its holds). Holders named by
 * `tempName` carry their owner's identity; others (containers) are kept.
 */
async function liveHolders(store: Store, chainId: ChainId): Promise<string[]> {
  const live: string[] = [];
  for (const holder of await store.snapshots.holders(chainId)) {
    const owner = tempOwner(holder);
    if (owner !== undefined && !isIdentityAlive(owner)) await store.snapshots.release(chainId, holder);
    else live.push(holder);
  }
  return live;
}

/** Snapshots to keep: held ones, those of tagged images and kept records, and their parents. */
function liveSnapshots(snapshots: SnapshotInfo[], roots: Set<ChainId>, held: Set<ChainId>): Set<ChainId> {
  const byChain = new Map(snapshots.map((s) => [s.chainId, s]));
  const live = new Set<ChainId>();
  const mark = (chain: ChainId | undefined) => {
    while (chain !== undefined && !live.has(chain)) {
      live.add(chain);
      chain = byChain.get(chain)?.parent;
    }
  };
  for (const c of roots) mark(c);
  for (const c of held) mark(c);
  return live;
}

/**
 * Removes what no tag and no container references: cache records (by `all`, `until`,
 * `keepStorage`, least recently used first), then blobs and snapshots that
 * nothing kept needs, the quarantine, dead writers' temp files, and the
 * context memo tables of deleted context folders (`all`: the whole memo).
 * One prune runs at a time per store (a lock); writers are not blocked.
 */
export async function pruneStore(store: Store, options: PruneOptions = {}): Promise<PruneResult> {
  return withLock(join(store.paths.locks, 'gc.lock'), store.paths.tmp, async () => {
    // Whole milliseconds on both sides: a file's mtime is finer than Date.now(), and a
    // blob written in the millisecond the prune starts must not count as in the future.
    const now = options.now ?? Date.now();
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_MS;
    const dry = options.dryRun === true;
    const inv = await inventory(store);
    const { keep, drop } = chooseRecords(inv, options, now);
    let reclaimed = 0;
    for (const r of drop) {
      reclaimed += r.size;
      if (!dry) await unlink(r.path).catch((e: unknown) => (errnoCode(e) === 'ENOENT' ? undefined : Promise.reject(e)));
    }
    // COPY source listings and last-run keys serve only the records kept
    await store.records.pruneSideFiles(keep.map((r) => r.record), now - grace, dry);
    const liveBlobs = new Set(inv.imageBlobs);
    const rootChains = new Set(inv.imageChains);
    for (const r of keep) {
      if (r.record.layer !== undefined) {
        liveBlobs.add(r.record.layer.digest);
        if (r.record.layer.chainId !== undefined) rootChains.add(r.record.layer.chainId);
      }
    }
    // Containers are roots too: the image each was made from stays, tagged or not (rmi --force only untags).
    for (const container of await store.containers.list()) {
      const walk = await store.imageBlobs(container.manifest);
      for (const digest of walk.blobs.keys()) liveBlobs.add(digest);
      for (const chain of container.chainIds) rootChains.add(chain);
    }
    let blobs = 0;
    let keptRecent = 0;
    const doomed: Digest[] = [];
    for (const [digest, { size, mtimeMs }] of inv.blobs) {
      if (liveBlobs.has(digest)) continue;
      if (Math.floor(mtimeMs) > now - grace) {
        keptRecent += 1;
        continue;
      }
      doomed.push(digest);
      blobs += 1;
      reclaimed += size;
    }
    if (!dry) {
      // unlink(2) directly, in batches: cheaper than a thread-pool round trip per file.
      for (let i = 0; i < doomed.length; i += 500) {
        const fresh = Date.now() - grace;
        for (const digest of doomed.slice(i, i + 500)) {
          const path = join(store.paths.blobs, digestHex(digest));
          // Re-put or reused since the inventory was taken: a writer is about to reference it.
          const facts = statSync(path, { throwIfNoEntry: false });
          if (facts === undefined || Math.floor(facts.mtimeMs) > fresh) continue;
          rmSync(path, { force: true });
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (doomed.length > 0) await fsyncDir(store.paths.blobs);
      // repo digests of images whose manifest is gone name nothing any more
      await dropRepoDigests(store.repoDigestFiles(), (image) => statSync(join(store.paths.blobs, digestHex(image)), { throwIfNoEntry: false }) !== undefined);
    }
    const held = new Set<ChainId>();
    for (const s of inv.snapshots) {
      // Held, or unpacked or reused within the grace period (a build may be using it without a hold).
      const recent = s.lastUsedMs !== undefined && Math.floor(s.lastUsedMs) > now - grace;
      if (recent || (await liveHolders(store, s.chainId)).length > 0) held.add(s.chainId);
    }
    const live = liveSnapshots(inv.snapshots, rootChains, held);
    let snapshots = 0;
    for (const s of inv.snapshots) {
      if (live.has(s.chainId)) continue;
      snapshots += 1;
      reclaimed += s.size;
      if (!dry) await store.snapshots.remove(s.chainId);
    }
    let quarantined = 0;
    for (const name of await readdir(store.paths.quarantine)) {
      quarantined += 1;
      if (!dry) await rm(join(store.paths.quarantine, name), { force: true, recursive: true });
    }
    let memoTables = 0;
    if (options.all === true) {
      const memo = await memoUsage(store.paths.memo);
      memoTables = memo.files;
      reclaimed += memo.bytes;
      if (!dry) await rm(store.paths.memo, { recursive: true, force: true }).then(() => undefined);
    } else {
      // the memo tables of contexts that were deleted would otherwise stay forever (one per root ever built)
      const memo = await pruneMemoTables(store.paths.memo, { dryRun: dry });
      memoTables = memo.files;
      reclaimed += memo.bytes;
    }
    const temp = dry ? 0 : await store.sweepTemp();
    return { removed: { records: drop.length, blobs, snapshots, quarantined, temp, memoTables }, reclaimed, keptRecent };
  });
}
