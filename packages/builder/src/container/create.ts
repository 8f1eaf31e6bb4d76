import { posix } from 'node:path';
import type { ContainerConfig, ContainerRecord, ContainerVolume, Descriptor, Store } from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { openImageManifest, resolveBaseImage } from '../image/resolve-base.js';
import { DEFAULT_PATH, envMap, setEnv, type ImageState } from '../image/state.js';
import { hostPlatform, parsePlatform, type TargetPlatform } from '../platform.js';
import { Snapshotter } from '../snapshot/snapshotter.js';

export interface CreateContainerOptions {
  /** The image: a name in the store (`busybox`, `localhost/app:1.0`); what ps shows as IMAGE. */
  readonly image: string;
  /** The image's manifest when the caller has already chosen it (an image found by ID); `image` is then only its label. */
  readonly manifest?: Descriptor;
  /** The platform to pick from a multi-platform name (default: this machine's). */
  readonly platform?: string | TargetPlatform;
  /** A unique name; default a random `adjective_animal`. */
  readonly name?: string;
  /** Replaces the image's CMD (the ENTRYPOINT stays), as `docker run IMAGE CMD...`. */
  readonly command?: readonly string[];
  /** `K=V` sets, a bare `K` takes the value from `hostEnv` (and is dropped when unset there), as docker does. */
  readonly env?: readonly string[];
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /** The working folder (absolute), else the image's WORKDIR, else `/`. */
  readonly workdir?: string;
  /** USER value (`name`, `uid`, `name:group`, `uid:gid`), else the image's USER. */
  readonly user?: string;
  /** `default` (its own network namespace, as RUN steps get), `host` (the host's) or `none` (loopback only). */
  readonly network?: 'default' | 'host' | 'none';
  readonly volumes?: readonly ContainerVolume[];
  /** A pseudo-terminal for the process (`-t`). */
  readonly tty?: boolean;
  /** Keep standard input open (`-i`). */
  readonly interactive?: boolean;
  /** Remove the container when its process exits (`--rm`). */
  readonly autoRemove?: boolean;
}

function applyEnv(env: readonly string[] | undefined, given: readonly string[], hostEnv: Readonly<Record<string, string | undefined>>): string[] {
  const pairs: [string, string][] = [];
  for (const entry of given) {
    const eq = entry.indexOf('=');
    if (eq === -1) {
      const value = hostEnv[entry];
      if (value !== undefined) pairs.push([entry, value]);
    } else {
      pairs.push([entry.slice(0, eq), entry.slice(eq + 1)]);
    }
  }
  return setEnv(env, pairs);
}

async function openImage(store: Store, options: CreateContainerOptions): Promise<{ image: ImageState; manifest: Descriptor }> {
  if (options.manifest !== undefined) {
    return { image: await openImageManifest(store, options.manifest.digest, options.image), manifest: options.manifest };
  }
  const platform = options.platform === undefined ? hostPlatform() : typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform;
  const { image, manifest } = await resolveBaseImage(store, options.image, platform);
  return { image, manifest };
}

/**
 * Creates a container from an image of the store: resolves the image to one
 * manifest, settles the process (ENTRYPOINT + CMD or the given command, env,
 * working folder, user) and writes the record with an empty writable layer.
 * Nothing runs yet; `startContainer` runs it.
 */
export async function createContainer(store: Store, options: CreateContainerOptions): Promise<ContainerRecord> {
  const { image, manifest } = await openImage(store, options);
  const imageConfig: ContainerConfig = image.config.config ?? {};
  const command = options.command !== undefined && options.command.length > 0 ? [...options.command] : undefined;
  const args = [...(imageConfig.Entrypoint ?? []), ...(command ?? imageConfig.Cmd ?? [])];
  if (args.length === 0) throw buildError(BuildErrors.noCommand, [options.image]);
  let env = applyEnv(imageConfig.Env, options.env ?? [], options.hostEnv ?? {});
  const workdir = options.workdir === undefined ? undefined : posix.resolve('/', options.workdir);
  const user = options.user ?? imageConfig.User ?? '';
  // what `commit` records: docker keeps the run's command, env, workdir and user in the new image
  const config: ContainerConfig = {
    ...imageConfig,
    ...(command === undefined ? {} : { Cmd: command }),
    ...(env.length === 0 ? {} : { Env: env }),
    ...(workdir === undefined ? {} : { WorkingDir: workdir }),
    ...(options.user === undefined ? {} : { User: options.user }),
  };
  if (!envMap(env).has('PATH')) env = [`PATH=${DEFAULT_PATH}`, ...env];
  const manifestDigest = manifest.digest;
  const record = await store.containers.create({
    ...(options.name === undefined ? {} : { name: options.name }),
    imageName: options.image,
    manifest: { mediaType: manifest.mediaType, digest: manifestDigest, size: manifest.size },
    imageId: (await store.readManifest(manifestDigest)).config.digest,
    chainIds: Snapshotter.chainIds(image.layers),
    config,
    process: {
      args,
      env,
      cwd: workdir ?? (imageConfig.WorkingDir || '/'),
      user,
      tty: options.tty === true,
      interactive: options.interactive === true,
    },
    network: options.network ?? 'default',
    volumes: [...(options.volumes ?? [])],
    autoRemove: options.autoRemove === true,
  });
  return record;
}
