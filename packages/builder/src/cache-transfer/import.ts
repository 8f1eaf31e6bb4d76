import type { CacheKey, CacheRecord, Store } from '@strata/cache';
import { artifactConfigOf, decodeArtifactConfig, type MountEntry } from './artifact.js';
import type { CacheEndpoint } from './endpoint.js';

/** The records an endpoint offers, read once at the start of a build. */
export interface ImportedCache {
  readonly endpoint: CacheEndpoint;
  readonly records: ReadonlyMap<string, CacheRecord>;
  readonly mounts: readonly MountEntry[];
}

/** Reads an endpoint's artifact (manifest and config, no layers); undefined when nothing was exported there. */
export async function readImportedCache(endpoint: CacheEndpoint): Promise<ImportedCache | undefined> {
  const manifest = await endpoint.readManifest();
  if (manifest === undefined) return undefined;
  const config = decodeArtifactConfig(await endpoint.readBlob(artifactConfigOf(manifest, endpoint.name)), endpoint.name);
  return { endpoint, records: new Map(config.records.map((r) => [r.key, r])), mounts: config.mounts ?? [] };
}

/**
 * Lookups in imported caches, in the order given. A hit downloads the layer
 * (only then: a step that the local cache or an earlier hit covers costs
 * nothing) and writes the record into the local store with its original
 * time, so the image ID is the one the exporting machine built, and the next
 * rebuild hits locally.
 */
export class CacheImporter {
  readonly #store: Store;
  readonly #caches: readonly ImportedCache[];
  readonly #pending = new Map<string, Promise<{ record: CacheRecord; source: string } | undefined>>();

  constructor(store: Store, caches: readonly ImportedCache[]) {
    this.#store = store;
    this.#caches = caches;
  }

  get size(): number {
    return this.#caches.reduce((n, c) => n + c.records.size, 0);
  }

  lookup(key: CacheKey): Promise<{ record: CacheRecord; source: string } | undefined> {
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#bring(key);
      this.#pending.set(key, pending);
    }
    return pending;
  }

  async #bring(key: CacheKey): Promise<{ record: CacheRecord; source: string } | undefined> {
    for (const cache of this.#caches) {
      const found = cache.records.get(key);
      if (found === undefined) continue;
      const layer = found.layer;
      if (layer !== undefined && !(await this.#store.hasBlob(layer.digest))) {
        await cache.endpoint.fetchInto(this.#store, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size });
      }
      const { key: _key, createdAt, ...input } = found;
      const record = await this.#store.records.put(key, input, new Date(createdAt));
      return { record, source: cache.endpoint.name };
    }
    return undefined;
  }
}
