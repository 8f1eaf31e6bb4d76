import type { Store } from '@strata/cache';
import type { RegistryClient } from '@strata/registry';
import type { CacheExportResult } from './cache-transfer/export.js';
import type { CacheExportSpec, CacheImportSpec } from './cache-transfer/spec.js';
import type { NamedContext } from './context/named-contexts.js';
import type { BuildEvent } from './events.js';
import type { BuildOutput, OutputResult } from './output/output-spec.js';
import type { RuntimeName } from './runtime/runc.js';
import type { NetworkMode } from './runtime/spec.js';
import type { SshAgentSpec } from './runtime/ssh-agent.js';

export interface BuildOptions {
  /** The store images and cache live in. */
  readonly store: Store;
  /** The build context folder. */
  readonly context: string;
  /**
   * Named build contexts (`--build-context NAME=VALUE`; `parseNamedContext`
   * reads VALUE): `FROM NAME`, `COPY --from=NAME` and `RUN --mount from=NAME`
   * take the context before a stage or an image of that name, as BuildKit.
   */
  readonly namedContexts?: Readonly<Record<string, NamedContext>>;
  /** Path of the Dockerfile (default `<context>/Dockerfile`). */
  readonly dockerfile?: string;
  /** The Dockerfile's text, instead of reading `dockerfile` (it still names the file in errors). */
  readonly dockerfileText?: string;
  /** References to tag the result with (`name:tag`, normalized like docker). */
  readonly tags?: readonly string[];
  readonly buildArgs?: Readonly<Record<string, string>>;
  /** The stage to build (`--target`); default the last. */
  readonly target?: string;
  /** `os/arch[/variant]`, several separated by commas (an image index); default the host's. */
  readonly platform?: string;
  /** Pulls base images the store lacks (and, with `pull`, every base image). Without it, a missing base is an error. */
  readonly registry?: RegistryClient;
  /** Re-resolve every base image from its registry (`--pull`). */
  readonly pull?: boolean;
  /** Run every step, ignoring (but refreshing) the cache. */
  readonly noCache?: boolean;
  /**
   * Key and write COPY/ADD sources with docker's canonical modes (folders 0755, files
   * 0644, or 0755 when executable) so that machines with different umasks share cache.
   */
  readonly normalizePermissions?: boolean;
  /** Stages (by name or index) whose steps run without reading the cache (`--no-cache-filter`); other stages still hit. */
  readonly noCacheFilter?: readonly string[];
  /** Build cache to read besides the store's (`--cache-from`): a hit downloads the step's layer instead of running it. */
  readonly cacheFrom?: readonly CacheImportSpec[];
  /** Where to export the build's cache records and layers after the build (`--cache-to`). */
  readonly cacheTo?: readonly CacheExportSpec[];
  /**
   * Default network of RUN steps (`--network`): `default` (each RUN in a network
   * namespace of its own, outbound through the host's default route, no host
   * loopback or host addresses), `host` (the build machine's network) or `none`.
   * RUN --network=none|default overrides it; RUN --network=host needs `host` here
   * or `allow: ['network.host']`.
   */
  readonly network?: NetworkMode;
  /** Entitlements (`--allow`): `network.host` lets RUN --network=host steps use the host's network. */
  readonly allow?: readonly 'network.host'[];
  /** Extra /etc/hosts entries of RUN steps (`--add-host name:address`); part of their cache keys. */
  readonly extraHosts?: readonly { readonly name: string; readonly address: string }[];
  /** Labels added to the final image (`--label`). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Secrets for RUN --mount=type=secret: id → host file. */
  readonly secrets?: Readonly<Record<string, string>>;
  /**
   * SSH agents (`--ssh`) for RUN --mount=type=ssh and for ADD of ssh git URLs
   * (id `default`): an agent socket, or private key files strata serves
   * through an ssh-agent of its own; no paths: this process's SSH_AUTH_SOCK.
   * Keys reach no layer, cache key or event. `parseSshSpec` reads `--ssh` text.
   */
  readonly ssh?: readonly SshAgentSpec[];
  readonly runtime?: RuntimeName;
  /**
   * Layer compression of what the outputs write (an OCI archive, a push), for
   * those that name none: every layer converted to it. Without it, an output
   * gzips the uncompressed layers and keeps compressed ones (a base image's)
   * as they are; a docker-archive is always gzip. The image in the store is
   * never compressed (a build stores its layers uncompressed); an output
   * writes its export form, whose conversions are remembered, and whose
   * config, hence image ID, is the stored image's.
   */
  readonly compression?: 'gzip' | 'zstd';
  /**
   * Where the result goes besides the store, after it is tagged: an OCI
   * archive, a docker-archive, or the registry (push every tag; needs
   * `registry` and `tags`). `parseOutputSpec` reads docker's `--output` text.
   */
  readonly output?: BuildOutput | readonly BuildOutput[];
  /** Clamp file times and fix created times (reproducible builds). Default: the SOURCE_DATE_EPOCH environment variable. */
  readonly sourceDateEpoch?: number;
  /** Where binfmt_misc registrations are read (default /proc/sys/fs/binfmt_misc). */
  readonly binfmtDir?: string;
  readonly onEvent?: (event: BuildEvent) => void;
  readonly signal?: AbortSignal;
}

export interface StageSummary {
  readonly name: string;
  readonly imageId: string;
}

export interface BuildResult {
  /** The config digest (docker's image ID). */
  readonly imageId: string;
  readonly manifestDigest: string;
  /** The normalized references tagged. */
  readonly tags: readonly string[];
  readonly stages: readonly StageSummary[];
  /** What each output wrote or pushed, in order. */
  readonly outputs: readonly OutputResult[];
  /** One per `cacheTo` entry. */
  readonly cacheExports?: readonly CacheExportResult[];
}
