import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, type Descriptor, type Digest, type Store } from '@strata/cache';

/** One image made by scripts/test-images (its images.json entry). */
export interface TestImage {
  readonly name: string;
  readonly image: string;
  readonly platform: { os: string; architecture: string; variant?: string };
  readonly ref: string;
  readonly layout: string;
  readonly archive: string;
  readonly rootfs: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
}

export const TEST_IMAGES_DIR = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';

/** The test images; fails with the command to run when scripts/test-images has not run. */
export function testImages(): TestImage[] {
  const file = join(TEST_IMAGES_DIR, 'images.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: run scripts/test-images (scripts/test does) before the tests`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { images: TestImage[] }).images;
}

export function testImage(name: string, architecture: string): TestImage {
  const found = testImages().find((i) => i.name === name && i.platform.architecture === architecture);
  if (found === undefined) throw new Error(`no test image ${name} for ${architecture} in ${TEST_IMAGES_DIR}/images.json: run scripts/test-images`);
  return found;
}

/**
 * Copies a test image's OCI layout into a store and tags it `ref`: every blob
 * through putBlob (verified), then the tag. Returns the normalized reference.
 */
export async function loadTestImage(store: Store, image: TestImage, ref: string): Promise<string> {
  const index = JSON.parse(readFileSync(join(image.layout, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const top = index.manifests[0];
  if (top === undefined) throw new Error(`${image.layout} has an empty index`);
  const blob = (digest: string) => join(image.layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
  for (const d of [manifest.config, ...manifest.layers, top]) {
    await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest as Digest, size: d.size } });
  }
  return store.tag(ref, { mediaType: top.mediaType, digest: top.digest, size: top.size });
}

/**
 * Loads busybox for amd64 and arm64 (tagged `<name>:amd64` / `<name>:arm64`)
 * and tags an OCI index of both as `<name>:multi`, the shape a multi-arch
 * image on a registry has. Returns the index's reference.
 */
export async function loadMultiArchBusybox(store: Store, name = 'localhost/test/busybox'): Promise<string> {
  const manifests: Descriptor[] = [];
  for (const arch of ['amd64', 'arm64']) {
    const ref = await loadTestImage(store, testImage('busybox', arch), `${name}:${arch}`);
    const d = await store.resolve(ref);
    const config = await store.readConfig((await store.readManifest(d.digest)).config.digest);
    manifests.push({ ...d, platform: { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) } });
  }
  return store.tag(`${name}:multi`, await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }, MediaType.ociIndex));
}
