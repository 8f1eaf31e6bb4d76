import type { CacheRecord, Store } from '@strata/cache';
import { encodeArtifact, type MountEntry } from './artifact.js';
import type { BlobOutcome, CacheEndpoint } from './endpoint.js';

export interface CacheExportResult {
  /** The endpoint, as named in events. */
  readonly destination: string;
  /** Of the artifact manifest written. */
  readonly manifestDigest: string;
  readonly records: number;
  /** Blobs sent, and blobs the endpoint already had (HEAD check or mount). */
  readonly uploaded: number;
  readonly present: number;
  readonly bytesUploaded: number;
}

/** At most this many blob transfers at once (the registry client bounds its own requests too). */
const PARALLEL = 4;

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Exports cache records (and mount tars already in the store) to an endpoint:
 * every blob the endpoint lacks, then the config with the records, then the
 * manifest. Blobs the endpoint has are not sent again, so exporting an
 * unchanged cache uploads nothing but the manifest document.
 */
export async function exportCache(store: Store, endpoint: CacheEndpoint, records: readonly CacheRecord[], mounts: readonly MountEntry[] = []): Promise<CacheExportResult> {
  const artifact = encodeArtifact(records, mounts);
  let uploaded = 0;
  let present = 0;
  let bytesUploaded = 0;
  const count = (outcome: BlobOutcome, size: number) => {
    if (outcome === 'uploaded') {
      uploaded += 1;
      bytesUploaded += size;
    } else present += 1;
  };
  await eachLimited(artifact.blobs, PARALLEL, async (d) => count(await endpoint.sendFromStore(store, d), d.size));
  count(await endpoint.sendBytes(artifact.config.descriptor, artifact.config.bytes), artifact.config.descriptor.size);
  await endpoint.writeManifest(artifact.manifest.descriptor, artifact.manifest.bytes);
  return { destination: endpoint.name, manifestDigest: artifact.manifest.descriptor.digest, records: records.length, uploaded, present, bytesUploaded };
}
