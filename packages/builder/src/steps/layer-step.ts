import type { CacheKey, CacheRecord, ContainerConfig, KeyInputs, RemoteSource, SourceListing } from '@strata/cache';
import type { BuildSession, StageState, StepOutcome } from '../session.js';
import { explainMiss } from '../cache-reason.js';
import { commitLayer } from '../image/commit.js';
import { withConfig, withHistory, type LayerInfo } from '../image/state.js';
import type { KnownFile } from '../layer/scan.js';
import type { PreviousLayer } from '../layer/write-layer.js';

export interface LayerStepSpec {
  readonly key: CacheKey;
  /** The history line (`RUN /bin/sh -c make # buildkit`). */
  readonly createdBy: string;
  /** The container config after the step. */
  readonly config: ContainerConfig;
  /**
   * Does the step's work into a fresh upper directory and returns its path
   * (or the path with what the commit may take from the step), or undefined
   * when the step changes no file. Called on a cache miss only.
   */
  readonly produce: () => Promise<string | Produced | undefined>;
  /** What the key was made of (`keyInputs`), kept in the record so a later miss can say what changed. */
  readonly inputs?: KeyInputs;
  /** COPY/ADD: the per-path listing behind `inputs.sources`, made on a miss only (a hash per file). */
  readonly sources?: () => Promise<SourceListing>;
  /** ADD of URLs without --checksum: what each download was (digest, ETag, Last-Modified), kept in the record. */
  readonly remote?: () => readonly RemoteSource[];
}

/** A step's upper directory and what its commit may take from the step (a COPY). */
export interface Produced {
  readonly upper: string;
  /** Keep the layer's index beside its snapshot: the step can run incrementally next time. */
  readonly indexed?: boolean;
  /** The last version of the layer the folder was made from (an incremental COPY). */
  readonly previous?: PreviousLayer;
  /** Files the step wrote whose facts and bytes it knows. */
  readonly known?: (path: string) => KnownFile | undefined;
}

/** A history time: SOURCE_DATE_EPOCH when set, else the given ISO time. */
export function historyTime(session: BuildSession, time: string): string {
  return session.epoch === undefined ? time : new Date(session.epoch * 1000).toISOString();
}

/**
 * The common path of every step that can make a layer (RUN, COPY, ADD,
 * WORKDIR): look the key up; on a hit reuse the recorded layer, config and
 * time; on a miss produce the upper directory, commit it, keep it as a
 * snapshot for later steps of this build, and record the result. History
 * times come from the cache records, so a cached rebuild yields the same
 * image ID.
 */
export async function layerStep(session: BuildSession, state: StageState, spec: LayerStepSpec): Promise<StepOutcome> {
  const scope = state.cache;
  const disabled = scope?.disabled;
  // with the cache disabled, a key this build already ran is still reused (a stage built once for several targets)
  if (disabled === undefined || session.builtKeys.has(spec.key)) {
    const local = await session.store.getCacheRecord(spec.key);
    if (local !== undefined) return cachedOutcome(session, state, spec, local, disabled === undefined ? 'inputs unchanged' : 'built earlier in this build');
  }
  if (disabled === undefined) {
    const imported = await session.cacheImport?.lookup(spec.key);
    if (imported !== undefined) {
      // The import already wrote the record here; the position now has a last key, so the next miss at it
      // (this machine's next change) is explained against what was imported, with or without --cache-from.
      if (scope !== undefined) await session.store.records.setLastKey(scope.locator, spec.key);
      return cachedOutcome(session, state, spec, imported.record, `imported from ${imported.source}`);
    }
  }
  let listing: Promise<SourceListing> | undefined;
  const sources = spec.sources === undefined ? undefined : () => (listing ??= (spec.sources as () => Promise<SourceListing>)());
  // a miss: every later step of the stage runs too; a RUN among them finds its network ready
  if (scope?.runAhead === true) session.networks.prepare();
  const reason = disabled ?? (await missReason(session, scope?.locator, spec, sources));
  const result = await spec.produce();
  const produced: Produced | undefined = typeof result === 'string' ? { upper: result } : result;
  const committed =
    produced === undefined
      ? undefined
      : await commitLayer(session.store, produced.upper, {
          ...(session.epoch === undefined ? {} : { sourceDateEpoch: session.epoch }),
          ...(session.options.signal === undefined ? {} : { signal: session.options.signal }),
          ...(produced.previous === undefined ? {} : { previous: produced.previous }),
          ...(produced.known === undefined ? {} : { known: produced.known }),
        });
  const layer = committed?.layer;
  if (committed !== undefined && produced !== undefined) {
    const { index, ...facts } = committed;
    await session.snapshotter.adopt([...state.image.layers, committed.layer], produced.upper, produced.indexed === true && index !== undefined ? { ...facts, index } : facts);
  }
  const remote = spec.remote?.();
  if (sources !== undefined && spec.inputs?.sources !== undefined) await session.store.records.putSources(spec.inputs.sources, await sources());
  const record = await session.store.putCacheRecord(spec.key, {
    ...(spec.inputs === undefined ? {} : { inputs: spec.inputs }),
    ...(remote === undefined || remote.length === 0 ? {} : { remote }),
    ...(layer === undefined
      ? {}
      : { layer: { mediaType: layer.descriptor.mediaType, digest: layer.descriptor.digest, size: layer.descriptor.size, diffId: layer.diffId } }),
    config: spec.config,
    createdBy: spec.createdBy,
  });
  session.builtKeys.add(spec.key);
  if (scope !== undefined) {
    await session.store.records.setLastKey(scope.locator, spec.key);
    session.useRecord(scope.stage, record);
  }
  const time = historyTime(session, record.createdAt);
  const image = withHistory(
    withConfig(state.image, () => spec.config),
    { created: time, created_by: spec.createdBy, comment: 'buildkit.dockerfile.v0' },
    layer,
  );
  return {
    state: { ...state, image, key: spec.key, time },
    cached: false,
    newLayer: layer !== undefined,
    reason,
  };
}

/** A hit: the recorded layer, config and time, no work. */
function cachedOutcome(session: BuildSession, state: StageState, spec: LayerStepSpec, record: CacheRecord, reason: string): StepOutcome {
  const layer: LayerInfo | undefined =
    record.layer === undefined
      ? undefined
      : { descriptor: { mediaType: record.layer.mediaType, digest: record.layer.digest, size: record.layer.size }, diffId: record.layer.diffId };
  const time = historyTime(session, record.createdAt);
  const image = withHistory(
    withConfig(state.image, () => record.config ?? spec.config),
    { created: time, created_by: record.createdBy ?? spec.createdBy, comment: 'buildkit.dockerfile.v0' },
    layer,
  );
  if (state.cache !== undefined) session.useRecord(state.cache.stage, record);
  return { state: { ...state, image, key: spec.key, time }, cached: true, reason };
}

/**
 * Why this step ran: compared with the inputs the same step had when it last
 * ran (its position's last key), or, when this machine never ran it or met it
 * through a hit, with the imported record of the same step (`--cache-from`).
 * A listing missing from the store (a record adopted before listings were
 * exported) is looked up in the import too.
 */
async function missReason(session: BuildSession, locator: string | undefined, spec: LayerStepSpec, sources: (() => Promise<SourceListing>) | undefined): Promise<string> {
  if (locator === undefined || spec.inputs === undefined) return 'not in the cache';
  const lastKey = await session.store.records.lastKey(locator);
  const last = lastKey === undefined ? undefined : await session.store.records.get(lastKey, { touch: false });
  const previous = last?.inputs ?? session.cacheImport?.previousInputs?.(spec.inputs);
  const bothHaveSources = previous?.sources !== undefined && spec.inputs.sources !== undefined && previous.sources !== spec.inputs.sources;
  const before = bothHaveSources ? await listingOf(session, previous.sources as string) : undefined;
  return explainMiss(previous, spec.inputs, {
    ...(before === undefined ? {} : { previous: before }),
    ...(sources === undefined ? {} : { current: await sources() }),
  });
}

/** A stored source listing, else one the imports carry. */
async function listingOf(session: BuildSession, digest: string): Promise<SourceListing | undefined> {
  return (await session.store.records.getSources(digest)) ?? (await session.cacheImport?.sources?.(digest));
}
