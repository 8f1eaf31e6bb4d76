import type { CacheKey, ChainId, ContainerConfig } from '@strata/cache';
import type { BuildSession, StageState, StepOutcome } from '../build.js';
import { commitLayer } from '../image/commit.js';
import { withConfig, withHistory, type LayerInfo } from '../image/state.js';
import { Snapshotter } from '../snapshot/snapshotter.js';

export interface LayerStepSpec {
  readonly key: CacheKey;
  /** The history line (`RUN /bin/sh -c make # buildkit`). */
  readonly createdBy: string;
  /** The container config after the step. */
  readonly config: ContainerConfig;
  /**
   * Does the step's work into a fresh upper directory and returns its path,
   * or undefined when the step changes no file. Called on a cache miss only.
   */
  readonly produce: () => Promise<string | undefined>;
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
  if (session.options.noCache !== true || session.builtKeys.has(spec.key)) {
    const record = await session.store.getCacheRecord(spec.key);
    if (record !== undefined) {
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
      return { state: { ...state, image, key: spec.key, time }, cached: true };
    }
  }
  const upper = await spec.produce();
  const layer =
    upper === undefined
      ? undefined
      : await commitLayer(session.store, upper, session.nextId(), {
          workDir: session.workDir,
          ...(session.options.compression === undefined ? {} : { compression: session.options.compression }),
          ...(session.epoch === undefined ? {} : { sourceDateEpoch: session.epoch }),
        });
  if (layer !== undefined && upper !== undefined) {
    const chain = Snapshotter.chainIds([...state.image.layers, layer]);
    session.snapshotter.adopt(chain[chain.length - 1] as ChainId, upper);
  }
  const record = await session.store.putCacheRecord(spec.key, {
    ...(layer === undefined
      ? {}
      : { layer: { mediaType: layer.descriptor.mediaType, digest: layer.descriptor.digest, size: layer.descriptor.size, diffId: layer.diffId } }),
    config: spec.config,
    createdBy: spec.createdBy,
  });
  session.builtKeys.add(spec.key);
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
    reason: session.options.noCache === true ? 'cache disabled (--no-cache)' : 'not in the cache',
  };
}
