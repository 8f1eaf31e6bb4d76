import type { CacheRecord, Store } from '@strata/cache';
import type { RegistryClient } from '@strata/registry';
import type { BuildOptions } from '../build-options.js';
import type { BuildEvent } from '../events.js';
import type { MountEntry } from './artifact.js';
import type { CacheEndpoint } from './endpoint.js';
import type { CacheExportResult } from './export.js';
import type { CacheImporter } from './import.js';
import type { CacheLocation } from './spec.js';

/** A cache record a build used or wrote, with where it came from in the build. */
export interface UsedRecord {
  readonly platform: string;
  readonly stage: number;
  readonly record: CacheRecord;
}

/** The cache side of one build() call: what it imports, and what it used (for export). */
export interface CacheUse {
  readonly import?: CacheImporter;
  /** RUN --mount=type=cache folders the build planned: folder -> id (for mounts=true). */
  readonly mounts: Map<string, string>;
  /** Restores an imported cache mount into its folder before a RUN uses it (once per folder). */
  mountUsed(id: string, dir: string): Promise<void>;
  readonly used: UsedRecord[];
  /** Per platform: the stages whose steps make the final image (mode=min). */
  readonly finalStages: { readonly platform: string; readonly stages: readonly number[] }[];
}

/**
 * Opens an endpoint. The registry code is loaded only here, so a build
 * without --cache-from/--cache-to never loads it.
 */
async function openEndpoint(location: CacheLocation, registry: RegistryClient | undefined): Promise<CacheEndpoint & { finish?(): Promise<void> }> {
  if (location.type === 'local') {
    const { localEndpoint } = await import('./local-endpoint.js');
    return localEndpoint(location.dir, location.tag);
  }
  const [{ registryEndpoint }, { RegistryClient: Client }] = await Promise.all([import('./registry-endpoint.js'), import('@strata/registry')]);
  return registryEndpoint(registry ?? new Client(), location.ref);
}

/** Reads every --cache-from source (manifest and records only); a source with nothing exported yet is a warning. */
export async function openCacheUse(options: BuildOptions, emit: (event: BuildEvent) => void): Promise<CacheUse> {
  const mounts = new Map<string, string>();
  const noted = (id: string, dir: string) => {
    mounts.set(dir, id);
  };
  const use: CacheUse = { used: [], finalStages: [], mounts, mountUsed: async (id, dir) => noted(id, dir) };
  const sources = options.cacheFrom ?? [];
  if (sources.length === 0 || options.noCache === true) return use;
  const { readImportedCache, CacheImporter: Importer } = await import('./import.js');
  const caches = [];
  for (const spec of sources) {
    const endpoint = await openEndpoint(spec.location, options.registry);
    const cache = await readImportedCache(endpoint);
    if (cache === undefined) {
      emit({ type: 'warning', timestamp: Date.now(), code: 'CacheSourceEmpty', message: `no build cache found at ${endpoint.name}` });
      continue;
    }
    emit({ type: 'cache-imported', timestamp: Date.now(), source: endpoint.name, records: cache.records.size, mounts: cache.mounts.length });
    caches.push(cache);
  }
  if (caches.length === 0) return use;
  const withMounts = caches.filter((c) => c.mounts.length > 0);
  const restoring = new Map<string, Promise<void>>();
  const mountUsed = async (id: string, dir: string): Promise<void> => {
    noted(id, dir);
    let pending = restoring.get(dir);
    if (pending === undefined) {
      pending = (async () => {
        for (const cache of withMounts) {
          const entry = cache.mounts.find((m) => m.id === id);
          if (entry === undefined) continue;
          const { restoreMount } = await import('./mounts.js');
          if (await restoreMount(options.store, cache.endpoint, entry, dir)) {
            emit({ type: 'cache-mount-restored', timestamp: Date.now(), id, source: cache.endpoint.name, size: entry.size });
          }
          return;
        }
      })();
      restoring.set(dir, pending);
    }
    await pending;
  };
  return { ...use, import: new Importer(options.store, caches), mountUsed };
}

/** The records to export: every stage's (max) or the final image's (min), each key once, in build order. */
export function recordsToExport(use: CacheUse, mode: 'min' | 'max'): CacheRecord[] {
  const final = new Map(use.finalStages.map((f) => [f.platform, new Set(f.stages)]));
  const out = new Map<string, CacheRecord>();
  for (const u of use.used) {
    if (mode === 'min' && final.get(u.platform)?.has(u.stage) !== true) continue;
    if (!out.has(u.record.key)) out.set(u.record.key, u.record);
  }
  return [...out.values()];
}

/** Packs every cache mount folder the build planned (each once), for mounts=true. */
async function packMounts(store: Store, mounts: ReadonlyMap<string, string>): Promise<MountEntry[]> {
  const { packMount } = await import('./mounts.js');
  const out: MountEntry[] = [];
  for (const [dir, id] of [...mounts].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const entry = await packMount(store, id, dir);
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

/** Runs every --cache-to export after the image is written. */
export async function exportCacheUse(options: BuildOptions, use: CacheUse, emit: (event: BuildEvent) => void): Promise<CacheExportResult[]> {
  const results: CacheExportResult[] = [];
  const targets = options.cacheTo ?? [];
  if (targets.length === 0) return results;
  const { exportCache } = await import('./export.js');
  let packed: MountEntry[] | undefined;
  for (const spec of targets) {
    const started = Date.now();
    const endpoint = await openEndpoint(spec.location, options.registry);
    try {
      if (spec.mounts === true) packed ??= await packMounts(options.store, use.mounts);
      const result = await exportCache(options.store, endpoint, recordsToExport(use, spec.mode ?? 'min'), spec.mounts === true ? packed : []);
      emit({ type: 'cache-exported', timestamp: Date.now(), ...result, durationMs: Date.now() - started });
      results.push(result);
    } finally {
      await endpoint.finish?.();
    }
  }
  return results;
}

