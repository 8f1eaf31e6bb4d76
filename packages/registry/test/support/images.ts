// Test images made in memory: random layer bytes, a config, a manifest
// (OCI or Docker schema 2), and indexes over several platforms.
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { digestOf, MediaType, type Descriptor, type Digest, type Index, type Manifest, type Platform, type Reference } from '@strata/cache';
import {
  bufferSource, encodeManifest, pushBlobs,
  type BlobSource, type PushBlobOptions, type PushBlobResult, type RegistryClient,
} from '@strata/registry';

export interface TestBlob {
  readonly data: Buffer;
  readonly descriptor: Descriptor;
}

export interface TestImage {
  readonly config: TestBlob;
  readonly layers: TestBlob[];
  readonly manifest: Manifest;
  readonly manifestBytes: Buffer;
  readonly manifestDigest: Digest;
  readonly mediaType: string;
  readonly platform: Platform;
}

export function blob(data: Buffer, mediaType: string): TestBlob {
  return { data, descriptor: { mediaType, digest: digestOf(data), size: data.length } };
}

export function makeImage(options: {
  layerSizes?: number[];
  platform?: Platform;
  format?: 'oci' | 'docker';
} = {}): TestImage {
  const format = options.format ?? 'oci';
  const platform = options.platform ?? { os: 'linux', architecture: 'amd64' };
  const layerType = format === 'oci' ? MediaType.ociLayerGzip : MediaType.dockerLayerGzip;
  // real gzip streams (of random bytes): tools that sniff compression leave them alone
  const raw = (options.layerSizes ?? [2048, 4096]).map((size) => randomBytes(size));
  const layers = raw.map((data) => blob(gzipSync(data, { level: 1 }), layerType));
  const configJson = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: raw.map((data) => digestOf(data)) },
  };
  const config = blob(Buffer.from(JSON.stringify(configJson)), format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig);
  const mediaType = format === 'oci' ? MediaType.ociManifest : MediaType.dockerManifest;
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType,
    config: config.descriptor,
    layers: layers.map((l) => l.descriptor),
  };
  const encoded = encodeManifest(manifest);
  return { config, layers, manifest, manifestBytes: encoded.bytes, manifestDigest: encoded.digest, mediaType, platform };
}

export function makeIndex(images: TestImage[], format: 'oci' | 'docker' = 'oci'): { bytes: Buffer; digest: Digest; mediaType: string } {
  const mediaType = format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  const index: Index = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((image) => ({
      mediaType: image.mediaType,
      digest: image.manifestDigest,
      size: image.manifestBytes.length,
      platform: image.platform,
    })),
  };
  return encodeManifest(index);
}

export function imageSources(image: TestImage): BlobSource[] {
  return [image.config, ...image.layers].map((b) => bufferSource(b.data, b.descriptor.digest));
}

/** Pushes an image's blobs, then its manifest under the reference's tag. */
export async function pushTestImage(
  client: RegistryClient,
  ref: Reference,
  image: TestImage,
  options: PushBlobOptions = {},
): Promise<PushBlobResult[]> {
  const results = await pushBlobs(client, ref, imageSources(image), options);
  await client.putManifest(ref, image.manifestBytes, image.mediaType);
  return results;
}
