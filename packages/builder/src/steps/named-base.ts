import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CacheKey } from '@strata/cache';
import { baseKey, keyInputs, sourceFacts, sourcesDigest, stepKey, type StepKeyInput } from '../cache-key.js';
import { openContext } from '../context/context.js';
import type { FoundContext } from '../context/named-contexts.js';
import { resolveStoredImage, type ResolvedBase } from '../image/resolve-base.js';
import { emptyImage, type ImageState } from '../image/state.js';
import type { BuildSession, StageState } from '../session.js';
import { copyIntoUpper } from './copy.js';
import { historyTime, layerStep } from './layer-step.js';

const EPOCH_ZERO = new Date(0).toISOString();

/** FROM's way to an image reference (store, pulled when missing or with --pull): from-step.ts's baseImage, passed in. */
export type BaseImageLookup = (reference: string, session: BuildSession) => Promise<ResolvedBase>;

/** What a named context gives FROM and RUN --mount from=: a stage's starting state, and the identity a mount's key holds. */
export interface NamedImage {
  readonly state: StageState;
  readonly image: ImageState;
  readonly identity: string;
}

function fromResolved(base: ResolvedBase, session: BuildSession): NamedImage {
  const state: StageState = {
    image: base.image,
    key: baseKey({ manifestDigest: base.manifestDigest, platform: session.platformText }),
    args: new Map(),
    time: historyTime(session, base.image.config.created ?? EPOCH_ZERO),
  };
  return { state, image: base.image, identity: `image:${base.manifestDigest}` };
}

/**
 * The image a named context stands for on the session's platform. Images
 * (docker-image://, oci-layout://, a stored image) are opened as FROM opens
 * one, keyed by manifest digest. A folder (or a downloaded tarball) becomes
 * one layer holding the whole folder (its .dockerignore applied, files owned
 * by 0:0 as COPY writes them), keyed by the folder's content and recorded
 * like a COPY, so an unchanged folder is hashed (through the memo) and not
 * copied again; made once a build and platform.
 */
export async function namedImage(found: FoundContext, session: BuildSession, baseImage: BaseImageLookup): Promise<NamedImage> {
  const named = session.named;
  if (named === undefined) throw new Error(`internal: named context ${found.name} without the build's contexts`);
  const { context } = found;
  switch (context.type) {
    case 'image':
      return fromResolved(await baseImage(context.reference, session), session);
    case 'stored':
    case 'oci-layout': {
      const descriptor = await named.storedImage(found);
      return fromResolved(await resolveStoredImage(session.store, descriptor, `context ${found.name}`, session.platform), session);
    }
    case 'local':
    case 'url':
      return named.once(`folder-image:${found.name}:${session.platformText}`, async () => folderImage(found, await named.localDir(found, session.options.signal), session));
  }
}

/** A folder as a one-layer image on scratch: keyed by its content, the layer made on a miss only. */
async function folderImage(found: FoundContext, dir: string, session: BuildSession): Promise<NamedImage> {
  const context = await openContext(dir);
  const [selected] = await context.select(['.']);
  if (selected === undefined) throw new Error(`internal: ${dir} selected nothing`);
  const facts = await sourceFacts([selected], async (file) => (await session.store.memo.hashFile(file, { root: context.root })).digest);
  const scratch: StageState = {
    image: emptyImage(session.platform),
    key: baseKey({ platform: session.platformText }),
    args: new Map(),
    time: historyTime(session, EPOCH_ZERO),
  };
  const input: StepKeyInput = { parent: scratch.key, platform: session.platformText, kind: 'named-context', instruction: { type: 'folder' }, env: [], sources: sourcesDigest(facts) };
  const key: CacheKey = stepKey(input);
  const outcome = await layerStep(session, scratch, {
    key,
    inputs: keyInputs(input),
    createdBy: `COPY --from=${found.name} / / # named context`,
    config: {},
    produce: async () => {
      const upper = join(session.workDir, session.nextId());
      await mkdir(upper, { recursive: true });
      const epoch = session.epoch ?? Math.floor(Date.now() / 1000);
      const plan = { destination: '/', destIsDir: true, epoch, scratch: () => join(session.workDir, `staging-${session.nextId()}`) };
      await copyIntoUpper(upper, [], [{ source: selected, label: found.name }], plan);
      return upper;
    },
  });
  return { state: outcome.state, image: outcome.state.image, identity: `named:${outcome.state.key}` };
}
