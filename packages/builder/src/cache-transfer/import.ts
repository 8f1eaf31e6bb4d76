import type { CacheKey, CacheRecord, Descriptor, KeyInputs, SourceListing, Store } from '@strata/cache';
import { artifactConfigOf, decodeArtifactConfig, decodeSourceListings, sourcesDescriptorOf, type MountEntry } from './artifact.js';
import type { CacheEndpoint } from './endpoint.js';

/** The records an endpoint offers, read once at the start of a build. */
export interface ImportedCache {
  readonly endpoint: CacheEndpoint;
  readonly records: ReadonlyMap<string, CacheRecord>;
  readonly mounts: readonly MountEntry[];
  /** The source listings blob, when the artifact has one (fetched only when a listing is needed). */
  readonly sources?: Descriptor;
}

/** Reads an endpoint's artifact (manifest and config, no layers); undefined when nothing was exported there. */
export async function readImportedCache(endpoint: CacheEndpoint): Promise<ImportedCache | undefined> {
  const manifest = await endpoint.readManifest();
  if (manifest === undefined) return undefined;
  const config = decodeArtifactConfig(await endpoint.readBlob(artifactConfigOf(manifest, endpoint.name)), endpoint.name);
  const sources = sourcesDescriptorOf(manifest);
  return { endpoint, records: new Map(config.records.map((r) => [r.key, r])), mounts: config.mounts ?? [], ...(sources === undefined ? {} : { sources }) };
}

/**
 * Lookups in imported caches, in the order given. A hit downloads the layer
 * (only then: a step that the local cache or an earlier hit covers costs
 * nothing) and writes the record into the local store with its original
 * time, so the image ID is the one the exporting machine built, and the next
 * rebuild hits locally.
 *
 * Source listings (what names the changed file in a COPY's miss reason) go
 * into the store's listings with the record that names them, when a hit
 * adopts it: a later build of this machine explains a miss against the
 * adopted record whether or not it imports again, and prune keeps such a
 * listing exactly as long as that record (its rule: listings a kept record
 * names). Listings of records never adopted are not written (prune would
 * only remove them again); a miss explained against such a record reads the
 * listing from the import (`sources`).
 */
export class CacheImporter {
  readonly #store: Store;
  readonly #caches: readonly ImportedCache[];
  readonly #pending = new Map<string, Promise<{ record: CacheRecord; source: string } | undefined>>();
  readonly #listings = new Map<ImportedCache, Promise<Map<string, SourceListing>>>();
  #byInstruction: Map<string, CacheRecord[]> | undefined;

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

  /** The listing an imported cache carries for a sources digest, or undefined. */
  async sources(digest: string): Promise<SourceListing | undefined> {
    for (const cache of this.#caches) {
      const listing = (await this.#listingsOf(cache)).get(digest);
      if (listing !== undefined) return listing;
    }
    return undefined;
  }

  /**
   * The inputs a step most likely had when the exporting machine ran it, for
   * a miss whose step position has no last key here (a first build on this
   * machine, or positions last met through hits): the imported record with the
   * same instruction (kind, platform, expanded text) and the same parent;
   * failing that, the only imported record with the same instruction (with
   * several, which one ran at this position cannot be told, and a reason
   * compared against the wrong one would mislead).
   */
  previousInputs(current: KeyInputs): KeyInputs | undefined {
    if (this.#byInstruction === undefined) {
      this.#byInstruction = new Map();
      for (const cache of this.#caches) {
        for (const r of cache.records.values()) {
          if (r.inputs === undefined) continue;
          const list = this.#byInstruction.get(r.inputs.instruction) ?? [];
          list.push(r);
          this.#byInstruction.set(r.inputs.instruction, list);
        }
      }
    }
    const candidates = this.#byInstruction.get(current.instruction) ?? [];
    const sameParent = candidates.find((r) => r.inputs?.parent === current.parent);
    if (sameParent !== undefined) return sameParent.inputs;
    return candidates.length === 1 ? candidates[0]?.inputs : undefined;
  }

  /**
   * The listings blob of one imported cache, fetched once. Listings only
   * explain misses: a blob that cannot be fetched reads as none (the layers
   * and records, which make the image, came through their own verified
   * downloads), so a flaky registry costs a vaguer reason, not the build.
   */
  #listingsOf(cache: ImportedCache): Promise<Map<string, SourceListing>> {
    let pending = this.#listings.get(cache);
    if (pending === undefined) {
      const descriptor = cache.sources;
      pending =
        descriptor === undefined
          ? Promise.resolve(new Map<string, SourceListing>())
          : cache.endpoint.readBlob(descriptor).then(decodeSourceListings, () => new Map<string, SourceListing>());
      this.#listings.set(cache, pending);
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
      const sources = found.inputs?.sources;
      if (sources !== undefined && !(await this.#store.records.hasSources(sources))) {
        const listing = (await this.#listingsOf(cache)).get(sources);
        if (listing !== undefined) await this.#store.records.putSources(sources, listing);
      }
      const { key: _key, createdAt, ...input } = found;
      const record = await this.#store.records.put(key, input, new Date(createdAt));
      return { record, source: cache.endpoint.name };
    }
    return undefined;
  }
}
