import { digestOf, MediaType, parseDiffId, type Descriptor, type DiffId, type Store } from '../src/index.js';
import { makeTar, type TarEntry } from './tar-fixtures.js';

export interface TestImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: Descriptor[];
  readonly diffIds: DiffId[];
}

/** Writes a small image (one gzip layer per entry list) into the store; tags it when `ref` is given. */
export async function writeTestImage(store: Store, layers: TarEntry[][], ref?: string): Promise<TestImage> {
  const descriptors: Descriptor[] = [];
  const diffIds: DiffId[] = [];
  for (const entries of layers) {
    const { tar, gz } = await makeTar(entries);
    const put = await store.putBlob(gz);
    descriptors.push({ mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size });
    diffIds.push(parseDiffId(digestOf(tar)));
  }
  const config = await store.putJson(
    { architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } },
    MediaType.ociConfig,
  );
  const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descriptors }, MediaType.ociManifest);
  if (ref !== undefined) await store.tag(ref, manifest);
  return { manifest, config, layers: descriptors, diffIds };
}
