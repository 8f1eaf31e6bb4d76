import type { CacheRecord } from '@strata/cache';
import type { RegistryClient } from '@strata/registry';
import type { BuildOptions } from '../build-options.js';
import type { BuildEvent } from '../events.js';
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
  const use: CacheUse = { used: [], finalStages: [] };
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
  return caches.length === 0 ? use : { ...use, import: new Importer(options.store, caches) };
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

/** Runs every --cache-to export after the image is written. */
export async function exportCacheUse(options: BuildOptions, use: CacheUse, emit: (event: BuildEvent) => void): Promise<CacheExportResult[]> {
  const results: CacheExportResult[] = [];
  const targets = options.cacheTo ?? [];
  if (targets.length === 0) return results;
  const { exportCache } = await import('./export.js');
  for (const spec of targets) {
    const started = Date.now();
    const endpoint = await openEndpoint(spec.location, options.registry);
    try {
      const result = await exportCache(options.store, endpoint, recordsToExport(use, spec.mode ?? 'min'));
      emit({ type: 'cache-exported', timestamp: Date.now(), ...result, durationMs: Date.now() - started });
      results.push(result);
    } finally {
      await endpoint.finish?.();
    }
  }
  return results;
}

