import type { CacheKey, CacheRecord, KeyInputs, SourceListing, Store } from '@strata/cache';
import { expandWord, type Stage } from '@strata/parser';
import type { BuildOptions } from './build-options.js';
import type { BuildContext } from './context/context.js';
import type { NamedContexts } from './context/named-contexts.js';
import type { BuildEvent, UrlRevalidation } from './events.js';
import { containerConfig, DEFAULT_PATH, envMap, type ImageState } from './image/state.js';
import type { TargetPlatform } from './platform.js';
import type { NetworkPool } from './runtime/network.js';
import type { SshAgents } from './runtime/ssh-agent.js';
import type { Snapshotter } from './snapshot/snapshotter.js';

/** What a step sees: the image so far, its cache key, the ARGs in scope. */
export interface StageState {
  readonly image: ImageState;
  readonly key: CacheKey;
  /** Build args declared in this stage (ARG), with their values. */
  readonly args: ReadonlyMap<string, string>;
  /**
   * The time of the latest layer step (from its cache record) or of the base
   * image: metadata steps' history and the image's `created` use it, so a
   * cached rebuild gives the same image ID.
   */
  readonly time: string;
  /** How the step being run uses the cache: set by buildStage before each step. */
  readonly cache?: StepCacheScope;
  /** A CMD came earlier in this stage: a later ENTRYPOINT keeps it (docker resets only an inherited CMD). */
  readonly cmdSet?: boolean;
}

/** The cache side of one step: where it is (for explaining a miss) and whether its stage reads the cache. */
export interface StepCacheScope {
  /** The stage's index in the Dockerfile. */
  readonly stage: number;
  /** Names the step's position (Dockerfile, platform, stage, step) across builds. */
  readonly locator: string;
  /** Set when the cache is not read for this step: the reason the step runs. */
  readonly disabled?: string;
  /**
   * A later step of this stage is a RUN whose network is `default`: a miss here
   * means it will run, so its network can start while this step works.
   */
  readonly runAhead?: boolean;
}

/** Records from elsewhere (`--cache-from`): a hit brings its layer into the store and its record into the local cache. */
export interface CacheImportSource {
  lookup(key: CacheKey): Promise<{ readonly record: CacheRecord; readonly source: string } | undefined>;
  /** For a miss reason when the step position has no last key here: the inputs the imported run of this step had. */
  previousInputs?(current: KeyInputs): KeyInputs | undefined;
  /** A COPY/ADD source listing the imports carry, for a miss reason. */
  sources?(digest: string): Promise<SourceListing | undefined>;
}

/** A built stage: its image and key, for FROM <stage> and COPY --from. */
export interface StageResult {
  readonly state: StageState;
  readonly label: string;
  /** The platform its steps ran on (FROM --platform, else its base stage's, else the target). */
  readonly platform: TargetPlatform;
}

/** Everything steps share within one build. */
export interface BuildSession {
  readonly store: Store;
  readonly options: BuildOptions;
  readonly context: BuildContext;
  /** The build's named contexts (`--build-context`), looked up before stages and images. */
  readonly named?: NamedContexts;
  readonly snapshotter: Snapshotter;
  /**
   * The platform the current stage's steps run on and are keyed with: the
   * target, or the stage's own (`FROM --platform=$BUILDPLATFORM`).
   */
  readonly platform: TargetPlatform;
  readonly platformText: string;
  /** The platform being built (what TARGETPLATFORM and friends say), whatever the stage runs on. */
  readonly targetPlatform: TargetPlatform;
  /**
   * Cache keys recorded by this build (every platform of it): with --no-cache
   * they are still reused, so work shared by the platforms runs once.
   */
  readonly builtKeys: Set<CacheKey>;
  readonly escape: '\\' | '`';
  /** The networks of RUN steps (each its own; the pool starts the next one early). */
  readonly networks: NetworkPool;
  /** The SSH agents of `--ssh` (RUN --mount=type=ssh, ADD of ssh git URLs); key-file agents start on first use. */
  readonly ssh: SshAgents;
  /** Scratch folder of this build under the store's tmp (removed at the end). */
  readonly workDir: string;
  readonly epoch: number | undefined;
  readonly results: Map<number, StageResult>;
  readonly stages: readonly Stage[];
  /** Put before stage labels in events (the platform, in a multi-platform build). */
  readonly labelPrefix: string;
  /** `--cache-from` sources, when given. */
  readonly cacheImport?: CacheImportSource;
  /** A RUN plans a cache mount folder: noted for `mounts=true`, restored from `--cache-from` when absent. */
  cacheMountUsed(id: string, dir: string): Promise<void>;
  /** Notes a cache record the build used or wrote (hit or miss), for `--cache-to`. */
  useRecord(stage: number, record: CacheRecord): void;
  /** The Dockerfile's path, part of every step locator. */
  readonly dockerfilePath: string;
  emit(event: BuildEvent): void;
  nextId(): string;
}

/** What a step returns: the state after it, and how it went. */
export interface StepOutcome {
  readonly state: StageState;
  readonly cached: boolean;
  readonly newLayer?: boolean;
  /** Why the step ran (a miss) or did not (a hit), for --progress=json. */
  readonly reason?: string;
  /** An incremental COPY: how many source entries changed since its last result. */
  readonly incremental?: { readonly changed: number };
  /** ADD of URLs without --checksum: the conditional requests made for the key and what they found. */
  readonly revalidated?: readonly UrlRevalidation[];
  /** A RUN that ran: the network its container had. */
  readonly network?: { readonly mode: 'default' | 'host' | 'none'; readonly description: string };
}

export type LogSink = (stream: 'stdout' | 'stderr', text: string) => void;

/** The environment a RUN step gets (and expansion sees): ENV, then the ARGs in scope that ENV does not set. */
export function scopeEnv(state: StageState): Map<string, string> {
  const env = envMap(containerConfig(state.image).Env);
  const out = new Map<string, string>();
  for (const [k, v] of state.args) if (!env.has(k)) out.set(k, v);
  for (const [k, v] of env) out.set(k, v);
  return out;
}

export function expanderFor(session: BuildSession, state: StageState): (word: string) => string {
  const env = Object.fromEntries(scopeEnv(state));
  return (word) => expandWord(word, env, { escape: session.escape });
}

/** `PATH` defaulted as docker build does when the image sets none. */
export function runEnvironment(state: StageState): string[] {
  const env = scopeEnv(state);
  if (!env.has('PATH')) env.set('PATH', DEFAULT_PATH);
  return [...env].map(([k, v]) => `${k}=${v}`);
}
