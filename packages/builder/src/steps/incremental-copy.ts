/**
 * Incremental COPY. A COPY that misses only because some of its sources
 * changed since it last ran at the same position (same parent, instruction
 * and environment) starts from its last result instead of an empty folder:
 * the last run's snapshot is taken out of the store (renamed, not copied),
 * the copy keeps every target whose source is unchanged and rewrites or
 * removes the rest (copy.ts, `CopyPlan.reuse`), and the commit makes the
 * layer from the result. The work follows the change: a stat per source and
 * target, and writes for what changed. The layer is the one a cold copy
 * writes (same diffID), which the tests check shape by shape.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { MediaType, parseDigest, SNAPSHOT_LAYER_INDEX, SnapshotStore, type CacheRecord, type ChainId, type KeyInputs, type SourceListing } from '@strata/cache';
import type { ContextEntry } from '../context/context.js';
import { currentBootId, parseLayerIndex, type LayerIndex } from '../layer/layer-index.js';
import type { BuildSession, StageState } from '../session.js';
import { Snapshotter } from '../snapshot/snapshotter.js';

/** The last run's result, now this step's to change. */
export interface PreviousCopy {
  /** The folder holding the last result: the step's upper directory. */
  readonly upper: string;
  /** Whether a source entry is as it was in the last run (type, mode, content). */
  readonly unchanged: (entry: ContextEntry) => boolean;
  /** Source entries whose facts changed, were added or were removed since the last run. */
  readonly changed: number;
  /**
   * The last result's layer, when the store has its uncompressed blob and
   * the index written with it: the copy checks targets against the index and
   * the commit copies unchanged runs out of the blob (see layer-index.ts).
   */
  readonly layer?: {
    readonly index: LayerIndex;
    readonly blob: string;
    /** The snapshot's files are what the index says (written since the last boot: see LayerIndex.bootId). */
    readonly filesAsIndexed: boolean;
  };
}

/** Same parent, same instruction, same environment: only the sources differ. */
function sameButSources(last: KeyInputs, now: KeyInputs): boolean {
  return last.parent === now.parent && last.instruction === now.instruction && JSON.stringify(last.env) === JSON.stringify(now.env);
}

/**
 * Takes the last result of this step (at `state.cache.locator`) when the
 * step differs from its last run in its sources only, the store has that
 * run's source listing and snapshot, and nobody holds the snapshot. Returns
 * undefined otherwise (the step then copies into a fresh folder).
 */
export async function takePreviousCopy(
  session: BuildSession,
  state: StageState,
  inputs: KeyInputs,
  listing: () => Promise<SourceListing>,
): Promise<PreviousCopy | undefined> {
  const scope = state.cache;
  // --no-cache and --no-cache-filter ask for a step made from nothing
  if (scope === undefined || scope.disabled !== undefined || inputs.sources === undefined) return undefined;
  const { records, snapshots } = session.store;
  const lastKey = await records.lastKey(scope.locator);
  const last = lastKey === undefined ? undefined : await records.get(lastKey, { touch: false });
  if (last?.inputs?.sources === undefined || last.layer === undefined || !sameButSources(last.inputs, inputs)) return undefined;
  const before = await records.getSources(last.inputs.sources);
  if (before === undefined) return undefined;
  const parents = Snapshotter.chainIds(state.image.layers);
  const chainId = SnapshotStore.chainId(parents[parents.length - 1] as ChainId | undefined, last.layer.diffId);
  const snapshot = await snapshots.get(chainId);
  // a COPY layer has no whiteouts, opaque folders or device nodes; a snapshot that records some is not one
  if (snapshot === undefined || snapshot.whiteouts.length + snapshot.opaqueDirs.length + snapshot.specials.length > 0) return undefined;
  const now = await listing();
  const taken = await snapshots.take(chainId, join(session.workDir, `previous-${session.nextId()}`));
  if (taken === undefined) return undefined;
  let changed = 0;
  for (const path of new Set([...Object.keys(before), ...Object.keys(now)])) if (before[path] !== now[path]) changed += 1;
  const layer = await lastLayer(session, last.layer, dirname(taken.path));
  return {
    upper: taken.path,
    unchanged: (entry) => {
      const was = before[entry.contextPath];
      return was !== undefined && was === now[entry.contextPath];
    },
    changed,
    ...(layer === undefined ? {} : { layer }),
  };
}

/**
 * The index kept beside the taken snapshot (`dir`) and the blob it indexes:
 * only for a layer stored as its uncompressed tar (digest = diffID), which
 * is what a build writes; an imported layer has neither.
 */
async function lastLayer(session: BuildSession, layer: NonNullable<CacheRecord['layer']>, dir: string): Promise<PreviousCopy['layer']> {
  if (layer.mediaType !== MediaType.ociLayer || layer.digest !== layer.diffId) return undefined;
  const text = await readFile(join(dir, SNAPSHOT_LAYER_INDEX), 'utf8').catch(() => undefined);
  const index = text === undefined ? undefined : parseLayerIndex(text);
  if (index === undefined || index.diffId !== layer.diffId) return undefined;
  const boot = currentBootId();
  return { index, blob: session.store.blobs.blobPath(parseDigest(layer.digest)), filesAsIndexed: boot !== undefined && index.bootId === boot };
}
