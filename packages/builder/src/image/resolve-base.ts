import { isIndexMediaType, type Descriptor, type Digest, type Manifest, type Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { formatPlatform, platformMatches, type TargetPlatform } from '../platform.js';
import type { ImageState, LayerInfo } from './state.js';

export interface ResolvedBase {
  readonly image: ImageState;
  readonly manifestDigest: Digest;
  /** The manifest's descriptor (from the tag or the index). */
  readonly manifest: Descriptor;
}

/**
 * Opens an image of the store for a platform: follows an index to the
 * matching manifest, reads manifest and config, and checks the platform.
 */
export async function resolveBaseImage(store: Store, reference: string, platform: TargetPlatform): Promise<ResolvedBase> {
  let descriptor: Descriptor;
  try {
    descriptor = await store.resolve(reference);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'CACHE_REF_NOT_FOUND' || code === 'CACHE_NOT_FOUND') {
      throw buildError(BuildErrors.imageNotFound, [reference, 'is not in the store'], { cause: error });
    }
    throw error;
  }
  return resolveStoredImage(store, descriptor, reference, platform);
}

/**
 * Opens an image the store holds by descriptor (a manifest, or an index
 * followed to the platform's manifest); `name` is for messages.
 */
export async function resolveStoredImage(store: Store, top: Descriptor, reference: string, platform: TargetPlatform): Promise<ResolvedBase> {
  let descriptor = top;
  if (isIndexMediaType(descriptor.mediaType)) {
    const index = await store.readImageIndex(descriptor.digest);
    const match = index.manifests.find((m) => m.platform !== undefined && platformMatches(platform, m.platform));
    if (match === undefined) {
      const have = index.manifests.map((m) => (m.platform ? `${m.platform.os}/${m.platform.architecture}${m.platform.variant ? `/${m.platform.variant}` : ''}` : '?'));
      throw buildError(BuildErrors.platformMismatch, [reference, formatPlatform(platform), have.join(', ')]);
    }
    descriptor = match;
  }
  const image = await openImageManifest(store, descriptor.digest, reference);
  const config = image.config;
  if (!platformMatches(platform, config)) {
    throw buildError(BuildErrors.platformMismatch, [
      reference,
      formatPlatform(platform),
      `${config.os}/${config.architecture}${config.variant ? `/${config.variant}` : ''}`,
    ]);
  }
  return { image, manifestDigest: descriptor.digest, manifest: descriptor };
}

/** Reads an image manifest and its config into an ImageState (`name` is for messages). */
export async function openImageManifest(store: Store, digest: Digest, name: string): Promise<ImageState> {
  const manifest: Manifest = await store.readManifest(digest);
  const config = await store.readConfig(manifest.config.digest);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw buildError(BuildErrors.imageNotFound, [name, `is damaged: ${manifest.layers.length} layers but ${diffIds.length} diff IDs`]);
  }
  const layers: LayerInfo[] = manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] as LayerInfo['diffId'] }));
  return { config, layers };
}
