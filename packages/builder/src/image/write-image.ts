import { MediaType, type Descriptor, type Manifest, type Store } from '@strata/cache';
import type { ImageState } from './state.js';

export interface WrittenImage {
  /** The config digest: docker's image ID. */
  readonly imageId: string;
  readonly manifest: Descriptor;
  readonly config: Descriptor;
}

/** Writes an image's config and OCI manifest into the store (tags are separate). */
export async function writeImage(store: Store, image: ImageState, created: string): Promise<WrittenImage> {
  const config = { ...image.config, created };
  const configDesc = await store.putJson(config, MediaType.ociConfig);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDesc,
    layers: image.layers.map((l) => l.descriptor),
  };
  const manifestDesc = await store.putJson(manifest, MediaType.ociManifest);
  const platform = {
    architecture: config.architecture,
    os: config.os,
    ...(config.variant === undefined ? {} : { variant: config.variant }),
  };
  return { imageId: configDesc.digest, manifest: { ...manifestDesc, platform }, config: configDesc };
}
