import { rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';
import { build, contextKey, type BuildEvent, type BuildOptions, type BuildResult, type NamedContext } from '@strata/builder';
import { normalizeReference, type Descriptor, type Digest, type Store } from '@strata/cache';
import type { RegistryClient } from '@strata/registry';
import { BakeError } from './errors.js';
import type { Definition } from './resolve.js';
import { secretScratch, targetBuildOptions } from './target-options.js';

/** How one target's build went. */
export interface TargetRun {
  readonly name: string;
  status: 'waiting' | 'running' | 'built' | 'failed' | 'skipped';
  /** Targets it waits for: `target:NAME` contexts, and args that name another target's tag. */
  readonly needs: readonly string[];
  result?: BuildResult;
  error?: unknown;
  /** Why it did not run: the dependency that failed. */
  skippedFor?: string;
  startedAt?: number;
  durationMs?: number;
  /** Steps that could hit the cache (RUN, COPY, ADD, WORKDIR) and how many did. */
  cachedSteps: number;
  totalSteps: number;
}

export interface BakeRunOptions {
  readonly store: Store;
  readonly registry: RegistryClient;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly allow: readonly string[];
  /** Builds at once; default `defaultConcurrency()`. */
  readonly concurrency?: number;
  readonly onEvent: (target: string, event: BuildEvent) => void;
  /** A target will not run: a dependency failed or was skipped. */
  readonly onSkipped?: (run: TargetRun) => void;
  readonly onFailed?: (run: TargetRun) => void;
  readonly signal?: AbortSignal;
}

/**
 * Builds at once, by default: the machine's cores (at least 2). A build is
 * one Node thread plus the RUN steps' processes; with as many builds as cores
 * each core has one build's work, and two give an independent target's
 * hashing, layer writing and registry waits something to overlap with on a
 * 2-core machine; more would only contend for the cores (and memory: each
 * RUN of an emulated arm64 step is a qemu process). STRATA_BAKE_CONCURRENCY
 * overrides it.
 */
export function defaultConcurrency(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const given = Number(env.STRATA_BAKE_CONCURRENCY);
  if (Number.isInteger(given) && given > 0) return given;
  return Math.max(2, availableParallelism());
}

/** A reference as the store names it, or undefined when the text is no image reference. */
function normalized(text: string): string | undefined {
  try {
    return normalizeReference(text);
  } catch {
    return undefined;
  }
}

/** The edges of the graph: `target:NAME` contexts, and build args whose value is another target's tag (BASE_IMAGE style). */
export function dependencies(def: Definition): Map<string, { needs: string[]; byArg: Map<string, string> }> {
  const tagOwner = new Map<string, string>();
  for (const [name, t] of def.targets) for (const tag of t.tags ?? []) {
    const ref = normalized(tag);
    if (ref !== undefined) tagOwner.set(ref, name);
  }
  const out = new Map<string, { needs: string[]; byArg: Map<string, string> }>();
  for (const [name, t] of def.targets) {
    const needs = new Set<string>();
    const byArg = new Map<string, string>();
    for (const value of Object.values(t.contexts ?? {})) if (value.startsWith('target:')) needs.add(value.slice('target:'.length));
    for (const value of Object.values(t.args ?? {})) {
      if (value === null) continue;
      const ref = normalized(value);
      const owner = ref === undefined ? undefined : tagOwner.get(ref);
      if (owner !== undefined && owner !== name) {
        needs.add(owner);
        byArg.set(value, owner);
      }
    }
    out.set(name, { needs: [...needs], byArg });
  }
  return out;
}

/** The descriptor of a built image (a manifest, or the index of a multi-platform build) from the store. */
async function builtDescriptor(store: Store, digest: string): Promise<Descriptor> {
  const data = await store.readBlob(digest as Digest);
  const doc = JSON.parse(data.toString('utf8')) as { mediaType?: string; manifests?: unknown };
  const mediaType = doc.mediaType ?? (doc.manifests === undefined ? 'application/vnd.oci.image.manifest.v1+json' : 'application/vnd.oci.image.index.v1+json');
  return { mediaType, digest: digest as Digest, size: data.length };
}

/**
 * Builds a resolved definition in this process on one store: each target
 * once its dependencies are built, independent ones concurrently (at most
 * `concurrency` at a time, p-limit). A dependency's result reaches its
 * dependents directly: its image in the store by digest, as the named
 * context (`target:NAME`, or the arg's reference), no push or pull. A failed
 * target stops its dependents (skipped); the others run to their end.
 */
export async function runDefinition(def: Definition, options: BakeRunOptions): Promise<TargetRun[]> {
  const edges = dependencies(def);
  const limit = pLimit(options.concurrency ?? defaultConcurrency(options.env));
  const runs = new Map<string, TargetRun>();
  for (const [name, e] of edges) runs.set(name, { name, status: 'waiting', needs: e.needs, cachedSteps: 0, totalSteps: 0 });
  const done = new Map<string, Promise<TargetRun>>();
  const scratches: string[] = [];
  const scratch = () => {
    const dir = secretScratch();
    scratches.push(dir);
    return dir;
  };

  const runTarget = async (name: string): Promise<TargetRun> => {
    const run = runs.get(name) as TargetRun;
    const deps = await Promise.all(run.needs.map((n) => done.get(n) as Promise<TargetRun>));
    const failed = deps.find((d) => d.status !== 'built');
    if (failed !== undefined) {
      run.status = 'skipped';
      run.skippedFor = failed.name;
      options.onSkipped?.(run);
      return run;
    }
    return limit(async () => {
      run.status = 'running';
      run.startedAt = Date.now();
      try {
        const target = def.targets.get(name);
        if (target === undefined) throw new Error(`internal: no target ${name}`);
        const produced: Record<string, NamedContext> = {};
        const edge = edges.get(name) as { byArg: Map<string, string> };
        for (const [key, value] of Object.entries(target.contexts ?? {})) {
          if (!value.startsWith('target:')) continue;
          const from = runs.get(value.slice('target:'.length))?.result as BuildResult;
          produced[key] = { type: 'stored', descriptor: await builtDescriptor(options.store, from.manifestDigest), name: value };
        }
        for (const [value, owner] of edge.byArg) {
          try {
            contextKey(value);
          } catch {
            continue;
          }
          const from = runs.get(owner)?.result as BuildResult;
          produced[value] ??= { type: 'stored', descriptor: await builtDescriptor(options.store, from.manifestDigest), name: `target:${owner}` };
        }
        const given = targetBuildOptions({ name, target, linked: def.linked.has(name), cwd: options.cwd, env: options.env, allow: options.allow, produced, scratch });
        const buildOptions: BuildOptions = {
          ...given,
          store: options.store,
          registry: options.registry,
          onEvent: (event) => {
            if (event.type === 'step-cached') run.cachedSteps += 1;
            if (event.type === 'step-cached' || (event.type === 'step-completed' && event.reason !== undefined)) run.totalSteps += 1;
            options.onEvent(name, event);
          },
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        };
        run.result = await build(buildOptions);
        run.status = 'built';
      } catch (error) {
        run.status = 'failed';
        run.error = error;
        options.onFailed?.(run);
      } finally {
        run.durationMs = Date.now() - (run.startedAt ?? Date.now());
      }
      return run;
    });
  };
  // dependencies first, so that every promise a target waits for exists when it starts
  const order = topologicalOrder(edges);
  try {
    for (const name of order) done.set(name, runTarget(name));
    await Promise.all(done.values());
  } finally {
    for (const dir of scratches) rmSync(dir, { recursive: true, force: true });
  }
  return order.map((name) => runs.get(name) as TargetRun);
}

/** The targets, each after what it needs (cycles are refused by the resolver for contexts; args that form one are refused here). */
export function topologicalOrder(edges: ReadonlyMap<string, { needs: readonly string[] }>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: readonly string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new BakeError('BAKE_CYCLE', `targets need each other's images: ${[...path, name].join(' -> ')}`);
    state.set(name, 'visiting');
    for (const need of edges.get(name)?.needs ?? []) if (edges.has(need)) visit(need, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of edges.keys()) visit(name, []);
  return order;
}
