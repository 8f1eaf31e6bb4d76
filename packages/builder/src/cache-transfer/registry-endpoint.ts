import { isCacheError, type Descriptor, type Digest, type Manifest, type Store } from '@strata/cache';
import {
  downloadBlob,
  fetchBlob,
  bufferSource,
  isRegistryError,
  parseReference,
  pushBlob,
  registryError,
  RegistryErrors,
  formatRepository,
  type BlobSource,
  type RegistryClient,
} from '@strata/registry';

const wire = (d: Descriptor): { digest: Digest; size: number } => ({ digest: d.digest, size: d.size });
import type { BlobOutcome, CacheEndpoint } from './endpoint.js';

function storeSource(store: Store, d: Descriptor): BlobSource {
  return {
    ...wire(d),
    open: () =>
      (async function* stream() {
        for await (const chunk of await store.getBlob(d.digest)) yield chunk as Uint8Array;
      })(),
  };
}

/**
 * A registry repository as a cache endpoint, through @strata/registry: blobs
 * are HEAD-checked before upload (pushBlob), downloads verified by the store.
 */
export function registryEndpoint(client: RegistryClient, reference: string): CacheEndpoint {
  const ref = parseReference(reference);
  return {
    name: reference,
    async readManifest(): Promise<Manifest | undefined> {
      try {
        const doc = await client.getManifest(ref);
        if (doc.kind !== 'manifest') return undefined;
        return doc.manifest;
      } catch (error) {
        if (isRegistryError(error) && (error.code === 'REGISTRY_MANIFEST_UNKNOWN' || error.code === 'REGISTRY_NAME_UNKNOWN')) return undefined;
        throw error;
      }
    },
    readBlob: (d) => fetchBlob(client, ref, wire(d)),
    async fetchInto(store, d): Promise<void> {
      await downloadBlob(client, ref, wire(d), async (stream) => {
        try {
          return await store.putBlob(stream, { expected: { digest: d.digest, size: d.size } });
        } catch (error) {
          if (isCacheError(error) && error.code === 'CACHE_INTEGRITY') {
            throw registryError(RegistryErrors.digestMismatch, [`blob ${d.digest} from ${formatRepository(ref)}`, d.digest, error.found ?? 'other content'], { cause: error, retryable: true });
          }
          throw error;
        }
      }, { verify: false });
    },
    async sendFromStore(store, d): Promise<BlobOutcome> {
      return (await pushBlob(client, ref, storeSource(store, d))).outcome;
    },
    async sendBytes(d, bytes): Promise<BlobOutcome> {
      return (await pushBlob(client, ref, bufferSource(bytes, wire(d).digest))).outcome;
    },
    async writeManifest(d, bytes): Promise<void> {
      await client.putManifest(ref, bytes, d.mediaType);
    },
  };
}
