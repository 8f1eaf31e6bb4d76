import { MediaType, type Descriptor, type Index } from '@strata/cache';
import type { BuildOptions } from './build-options.js';
import type { BuildEvent } from './events.js';
import { withConfig } from './image/state.js';
import { writeImage, type WrittenImage } from './image/write-image.js';
import type { OutputResult } from './output/output-spec.js';
import { outputsOf, writeOutputs } from './output/write-outputs.js';
import type { StageResult } from './session.js';

/**
 * The target stage's image as the build's result, written to the store (not
 * tagged): `--label`s added. Its layers stay as they are (a build's own
 * uncompressed); outputs compress what they write (write-outputs.ts).
 */
export async function writeTargetImage(options: BuildOptions, target: StageResult): Promise<WrittenImage> {
  let image = target.state.image;
  if (options.labels !== undefined && Object.keys(options.labels).length > 0) {
    image = withConfig(image, (c) => ({ ...c, Labels: { ...(c.Labels ?? {}), ...options.labels } }));
  }
  return writeImage(options.store, image, target.state.time);
}

export interface PublishedImage {
  /** The manifest, or with several platforms the OCI index of their manifests. */
  readonly descriptor: Descriptor;
  readonly imageId: string;
  /** The tags as normalized by the store. */
  readonly tags: string[];
  readonly outputs: OutputResult[];
}

/**
 * Makes the written images one result (several platforms become one OCI
 * index), tags it, and writes the outputs in order.
 */
export async function publishImage(options: BuildOptions, images: readonly WrittenImage[], emit: (event: BuildEvent) => void): Promise<PublishedImage> {
  let descriptor: Descriptor;
  let imageId: string;
  if (images.length > 1) {
    const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images.map((w) => w.manifest) };
    descriptor = await options.store.putJson(index, MediaType.ociIndex);
    imageId = descriptor.digest;
  } else {
    const only = images[0] as WrittenImage;
    descriptor = only.manifest;
    imageId = only.imageId;
  }
  const tags: string[] = [];
  for (const tag of options.tags ?? []) tags.push(await options.store.tag(tag, descriptor));
  const outputs = await writeOutputs(outputsOf(options), {
    store: options.store,
    descriptor,
    tags,
    emit,
    ...(options.registry === undefined ? {} : { registry: options.registry }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  return { descriptor, imageId, tags, outputs };
}
