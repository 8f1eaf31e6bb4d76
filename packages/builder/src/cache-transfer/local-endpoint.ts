import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskContentStore, MediaType, REF_NAME_ANNOTATION, type Descriptor, type Index, type Manifest, type Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import type { BlobOutcome, CacheEndpoint } from './endpoint.js';
import { writeFileAtomic } from './fs.js';

const OCI_LAYOUT = `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`;

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * An OCI image layout folder as a cache endpoint (`type=local,dest=DIR`):
 * blobs under blobs/sha256 written through the cache package's verified,
 * atomic blob writer (temp files in DIR/.strata-tmp, removed after), the
 * artifact manifest in index.json under the ref name `tag` (default latest).
 * skopeo and umoci read the folder.
 */
export function localEndpoint(dir: string, tag = 'latest'): CacheEndpoint & { finish(): Promise<void> } {
  const tmp = join(dir, '.strata-tmp');
  const blobs = new DiskContentStore({ blobs: join(dir, 'blobs', 'sha256'), tmp, quarantine: tmp });
  const name = `${dir}${tag === 'latest' ? '' : `:${tag}`}`;
  const ready = async () => {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await mkdir(tmp, { recursive: true });
    if ((await readOptional(join(dir, 'oci-layout'))) === undefined) await writeFileAtomic(join(dir, 'oci-layout'), OCI_LAYOUT);
  };
  const readIndex = async (): Promise<Index | undefined> => {
    const bytes = await readOptional(join(dir, 'index.json'));
    if (bytes === undefined) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8')) as Index;
    } catch (error) {
      throw buildError(BuildErrors.cacheArtifact, [name, 'its index.json is not JSON'], { cause: error });
    }
  };
  const has = async (d: Descriptor) => (await blobs.statBlob(d.digest))?.size === d.size;
  return {
    name,
    async readManifest(): Promise<Manifest | undefined> {
      const index = await readIndex();
      const entry = index?.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
      if (entry === undefined) return undefined;
      return JSON.parse((await blobs.readBlob(entry.digest)).toString('utf8')) as Manifest;
    },
    readBlob: (d) => blobs.readBlob(d.digest),
    async fetchInto(store: Store, d: Descriptor): Promise<void> {
      await store.putBlob(await blobs.getBlob(d.digest), { expected: { digest: d.digest, size: d.size } });
    },
    async sendFromStore(store: Store, d: Descriptor): Promise<BlobOutcome> {
      await ready();
      if (await has(d)) return 'exists';
      await blobs.putBlob(await store.getBlob(d.digest), { expected: { digest: d.digest, size: d.size } });
      return 'uploaded';
    },
    async sendBytes(d: Descriptor, bytes: Buffer): Promise<BlobOutcome> {
      await ready();
      if (await has(d)) return 'exists';
      await blobs.putBlob(bytes, { expected: { digest: d.digest, size: d.size } });
      return 'uploaded';
    },
    async writeManifest(d: Descriptor, bytes: Buffer): Promise<void> {
      await ready();
      await blobs.putBlob(bytes, { expected: { digest: d.digest, size: d.size } });
      const index = (await readIndex()) ?? { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
      const others = index.manifests.filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
      const entry: Descriptor = { ...d, annotations: { [REF_NAME_ANNOTATION]: tag } };
      const next: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [...others, entry] };
      await writeFileAtomic(join(dir, 'index.json'), `${JSON.stringify(next)}\n`);
    },
    async finish(): Promise<void> {
      await rm(tmp, { recursive: true, force: true });
    },
  };
}

/** True when `dir` holds an OCI layout (for a clear error on --cache-from type=local,src=DIR). */
export async function isLayout(dir: string): Promise<boolean> {
  return stat(join(dir, 'oci-layout')).then(() => true, () => false);
}

