import { exportLayers, type CacheRecord, type Digest, type LayerExport, type SourceListing, type Store } from '@strata/cache';
import { encodeArtifact, type MountEntry } from './artifact.js';
import type { BlobOutcome, CacheEndpoint } from './endpoint.js';

export interface CacheExportResult {
  /** The endpoint, as named in events. */
  readonly destination: string;
  /** Of the artifact manifest written. */
  readonly manifestDigest: string;
  readonly records: number;
  /** COPY/ADD source listings exported with the records (in the listings blob). */
  readonly listings: number;
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
 * The source listings the records name, from the store. A record whose
 * listing is not stored (a step imported before listings were exported, or
 * a listing removed by hand) goes without: its importer's misses say
 * "sources changed".
 */
async function listingsOf(store: Store, records: readonly CacheRecord[]): Promise<Map<string, SourceListing>> {
  const out = new Map<string, SourceListing>();
  for (const r of records) {
    const digest = r.inputs?.sources;
    if (digest === undefined || out.has(digest)) continue;
    const listing = await store.records.getSources(digest);
    if (listing !== undefined) out.set(digest, listing);
  }
  return out;
}

/**
 * The records as exported: each layer in its export form. A build stores its
 * layers uncompressed; the artifact carries them gzip (compressed once, in
 * parallel, and remembered by the store: an unchanged cache exported again
 * compresses nothing). A layer stored compressed (a base image's, an
 * imported one) goes as it is. The importer adopts the gzip layer.
 */
async function exportedRecords(store: Store, records: readonly CacheRecord[]): Promise<CacheRecord[]> {
  const layers = records.flatMap((r) => (r.layer === undefined ? [] : [{ descriptor: { mediaType: r.layer.mediaType, digest: r.layer.digest, size: r.layer.size }, diffId: r.layer.diffId }]));
  const exported = new Map<Digest, LayerExport>((await exportLayers(store, layers, { compression: 'gzip' })).map((e) => [e.source.digest, e]));
  return records.map((r) => {
    const e = r.layer === undefined ? undefined : exported.get(r.layer.digest);
    if (r.layer === undefined || e === undefined || e.outcome === 'kept') return r;
    return { ...r, layer: { ...r.layer, mediaType: e.descriptor.mediaType, digest: e.descriptor.digest, size: e.descriptor.size } };
  });
}

/**
 * Exports cache records (and mount tars already in the store, and the source
 * listings the records name) to an endpoint: every blob the endpoint lacks,
 * then the config with the records, then the manifest. Blobs the endpoint has
 * are not sent again, so exporting an unchanged cache uploads nothing but the
 * manifest document.
 */
export async function exportCache(store: Store, endpoint: CacheEndpoint, records: readonly CacheRecord[], mounts: readonly MountEntry[] = []): Promise<CacheExportResult> {
  const artifact = encodeArtifact(await exportedRecords(store, records), mounts, await listingsOf(store, records));
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
  if (artifact.sources !== undefined) count(await endpoint.sendBytes(artifact.sources.descriptor, artifact.sources.bytes), artifact.sources.descriptor.size);
  count(await endpoint.sendBytes(artifact.config.descriptor, artifact.config.bytes), artifact.config.descriptor.size);
  await endpoint.writeManifest(artifact.manifest.descriptor, artifact.manifest.bytes);
  return { destination: endpoint.name, manifestDigest: artifact.manifest.descriptor.digest, records: records.length, listings: artifact.sources?.count ?? 0, uploaded, present, bytesUploaded };
}
