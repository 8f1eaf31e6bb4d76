import type { ContainerConfig, Descriptor, Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { commitLayer } from '../image/commit.js';
import { openImageManifest } from '../image/resolve-base.js';
import { withHistory, type ImageState, type LayerInfo } from '../image/state.js';
import { writeImage } from '../image/write-image.js';
import { containerPaths } from './paths.js';

export interface CommitContainerOptions {
  /** The history entry's comment (`commit -m`). */
  readonly message?: string;
  /** The image's and the history entry's author (`commit -a`). */
  readonly author?: string;
  /** Changes the container's config before it becomes the image's (`commit -c 'CMD ...'`). */
  readonly change?: (config: ContainerConfig) => ContainerConfig;
  /** Tag the new image with this name. */
  readonly tag?: string;
}

export interface CommitContainerResult {
  /** The config digest: the image ID docker prints. */
  readonly imageId: string;
  readonly manifest: Descriptor;
  /** The normalized name it was tagged with, if any. */
  readonly tag?: string;
  /** The new layer; undefined when the container changed nothing (the history entry is then an empty layer). */
  readonly layer?: LayerInfo;
}

/**
 * Makes an image from a container: its writable (upper) folder becomes one
 * layer with the same rules as a build step (overlay whiteouts become `.wh.`
 * files, opaque folders `.wh..wh..opq`), appended to the container's image
 * with a history entry carrying the command, message and author; the config
 * is the container's (its command, env, workdir, user) after `change`.
 * A running container is BUILD_CONTAINER_RUNNING: its layer is still moving.
 */
export async function commitContainer(store: Store, word: string, options: CommitContainerOptions = {}): Promise<CommitContainerResult> {
  const record = await store.containers.find(word);
  if (record.status === 'running') throw buildError(BuildErrors.containerRunning, [record.name, 'commit']);
  const paths = containerPaths(store, record.id);
  const base = await openImageManifest(store, record.manifest.digest, record.imageName);
  // the layer file is spooled in the container's folder: on the store's filesystem, and not in tmp/ (swept by other processes)
  const layer = (await commitLayer(store, paths.upper))?.layer;
  const created = new Date().toISOString();
  const config = options.change === undefined ? record.config : options.change(record.config);
  const withConfig: ImageState = {
    ...base,
    config: {
      ...base.config,
      config,
      ...(options.author === undefined ? {} : { author: options.author }),
    },
  };
  const image = withHistory(
    withConfig,
    {
      created,
      created_by: record.process.args.join(' '),
      ...(options.author === undefined ? {} : { author: options.author }),
      ...(options.message === undefined ? {} : { comment: options.message }),
    },
    layer,
  );
  const written = await writeImage(store, image, created);
  const tag = options.tag === undefined ? undefined : await store.tag(options.tag, written.manifest);
  return {
    imageId: written.imageId,
    manifest: written.manifest,
    ...(tag === undefined ? {} : { tag }),
    ...(layer === undefined ? {} : { layer }),
  };
}
