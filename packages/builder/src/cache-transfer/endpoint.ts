import type { Descriptor, Manifest, Store } from '@strata/cache';

/** What happened to one blob on export. */
export type BlobOutcome = 'exists' | 'mounted' | 'uploaded';

/**
 * One place build cache is exported to or imported from: a registry
 * repository (registry-endpoint.ts) or an OCI layout folder
 * (local-endpoint.ts). Blob writes are skipped when the endpoint has the blob.
 */
export interface CacheEndpoint {
  /** How events and reasons name it. */
  readonly name: string;
  /** The artifact manifest, or undefined when nothing was exported there yet. */
  readManifest(): Promise<Manifest | undefined>;
  /** A small blob (the artifact config), verified. */
  readBlob(descriptor: Descriptor): Promise<Buffer>;
  /** Copies a blob into the store, verified by the store's write. */
  fetchInto(store: Store, descriptor: Descriptor): Promise<void>;
  /** Sends a blob from the store unless the endpoint has it. */
  sendFromStore(store: Store, descriptor: Descriptor): Promise<BlobOutcome>;
  /** Sends bytes unless the endpoint has them. */
  sendBytes(descriptor: Descriptor, bytes: Buffer): Promise<BlobOutcome>;
  /** Writes the artifact manifest under the endpoint's tag. */
  writeManifest(descriptor: Descriptor, bytes: Buffer): Promise<void>;
}
