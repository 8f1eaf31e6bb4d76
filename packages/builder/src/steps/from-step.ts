import { pullImage } from '@strata/registry';
import { baseKey } from '../cache-key.js';
import { buildError, BuildErrors } from '../errors.js';
import { resolveBaseImage, type ResolvedBase } from '../image/resolve-base.js';
import { emptyImage } from '../image/state.js';
import type { PlannedStage } from '../plan/plan.js';
import type { BuildSession, StageState } from '../session.js';
import { historyTime } from './layer-step.js';
import { namedImage } from './named-base.js';

const EPOCH_ZERO = new Date(0).toISOString();

/** FROM: the state a stage starts from (scratch, an earlier stage's result, or an image). */
export async function stageBase(planned: PlannedStage, session: BuildSession): Promise<StageState> {
  switch (planned.base.kind) {
    case 'scratch':
      return { image: emptyImage(session.platform), key: baseKey({ platform: session.platformText }), args: new Map(), time: historyTime(session, EPOCH_ZERO) };
    case 'stage': {
      const result = session.results.get(planned.base.index);
      if (result === undefined) throw buildError(BuildErrors.stageCycle, [planned.label]);
      return { image: result.state.image, key: result.state.key, args: new Map(), time: result.state.time };
    }
    case 'named': {
      const found = session.named?.find(planned.base.name, session.platformText);
      if (found === undefined) throw buildError(BuildErrors.namedContextFailed, [planned.base.name, `has no value for ${session.platformText}`]);
      return (await namedImage(found, session, baseImage)).state;
    }
    case 'image': {
      const base = await baseImage(planned.base.reference, session);
      // the base image's history and created time stay; its ONBUILD triggers are consumed
      return {
        image: base.image,
        key: baseKey({ manifestDigest: base.manifestDigest, platform: session.platformText }),
        args: new Map(),
        time: historyTime(session, base.image.config.created ?? EPOCH_ZERO),
      };
    }
  }
}

/** A base image from the store; pulled first with --pull, or when the store lacks it and a registry client is given. */
export async function baseImage(reference: string, session: BuildSession): Promise<ResolvedBase> {
  const { registry, pull } = session.options;
  const fetch = async () => {
    if (registry === undefined) return;
    await pullImage(session.store, reference, { client: registry, platform: session.platform });
  };
  if (pull === true) await fetch();
  try {
    return await resolveBaseImage(session.store, reference, session.platform);
  } catch (error) {
    if (pull === true || registry === undefined || (error as { code?: string }).code !== 'BUILD_IMAGE_NOT_FOUND') throw error;
  }
  await fetch();
  return resolveBaseImage(session.store, reference, session.platform);
}

/** How errors name a stage's base: the image reference, or `stage <name>`. */
export function baseName(planned: PlannedStage, session: BuildSession): string {
  if (planned.base.kind === 'image') return planned.base.reference;
  if (planned.base.kind === 'named') return `context ${planned.base.name}`;
  if (planned.base.kind === 'stage') return `stage ${session.results.get(planned.base.index)?.label ?? planned.base.index}`;
  return 'scratch';
}
