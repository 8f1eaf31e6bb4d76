// What the store verbs share: opening the store, finding an image by name or
// ID, platform choice for multi-platform tags, sizes and times for people,
// and error reports with code and hint.
import {
  defaultStoreRoot, digestHex, isCacheError, maxLayerSizeFromEnv, normalizeReference, readImage, Store,
  type Descriptor, type PlatformChooser, type StoredImage,
} from '@strata/cache';
import { formatPlatform, hostPlatform, isRegistryError, parsePlatform, platformMatches, type Platform } from '@strata/registry';
import { ExitCode } from './exit-codes.js';
import type { CliIo } from './io.js';

/**
 * A @strata/parser DockerfileError (from `--change` text), told by name and
 * code as the parser's own isDockerfileError does: importing the parser here
 * would load its grammar into every image and registry verb.
 */
function isDockerfileError(value: unknown): value is Error & { code: string } {
  return typeof value === 'object' && value !== null && (value as { name?: unknown }).name === 'DockerfileError' && typeof (value as { code?: unknown }).code === 'string';
}

/** Opens the store named by STRATA_ROOT (or the default root), with the layer size limit of STRATA_MAX_LAYER_SIZE. */
export function openStore(io: CliIo): Promise<Store> {
  return Store.open(defaultStoreRoot(io.env), { maxLayerSize: maxLayerSizeFromEnv(io.env) });
}

/** Bytes for people, decimal like docker: `0B`, `1.2kB`, `34.5MB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i += 1;
  }
  return i === 0 ? `${value}B` : `${value >= 100 ? value.toFixed(0) : value.toFixed(1)}${units[i]}`;
}

/** Prints a store error with its code and hint; other errors go up. */
export function reportStoreError(io: CliIo, command: string, error: unknown): number {
  if (!isCacheError(error)) throw error;
  io.stderr.write(`strata ${command}: ${error.code}: ${error.message}\n${error.hint === undefined ? '' : `hint: ${error.hint}\n`}`);
  return ExitCode.failure;
}

/** Like reportStoreError, also for registry (platform) and parser (--change) errors. */
export function reportImageError(io: CliIo, command: string, error: unknown): number {
  if (isCacheError(error) || isRegistryError(error) || isDockerfileError(error)) {
    const hint = (error as { hint?: string }).hint;
    io.stderr.write(`strata ${command}: ${error.code}: ${error.message}\n${hint === undefined ? '' : `hint: ${hint}\n`}`);
    return ExitCode.failure;
  }
  if (error instanceof AmbiguousIdError) {
    io.stderr.write(`strata ${command}: ${error.message}\n`);
    return ExitCode.failure;
  }
  throw error;
}

/** A platform chooser for multi-platform tags: the one asked for (strict), else the host's, else the first stored. */
export function platformChooser(text: string | undefined): { choose: PlatformChooser; wanted: string } {
  if (text !== undefined) {
    const wanted: Platform = parsePlatform(text);
    return { choose: (candidates) => candidates.find((d) => d.platform !== undefined && platformMatches(wanted, d.platform)), wanted: formatPlatform(wanted) };
  }
  const host = hostPlatform();
  return {
    choose: (candidates) => candidates.find((d) => d.platform !== undefined && platformMatches(host, d.platform)) ?? candidates[0],
    wanted: formatPlatform(host),
  };
}

/** docker's short image ID: the first 12 hex digits of the config digest. */
export function shortImageId(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** A stored image found by a user's word: a name, or an image ID (full, `sha256:…`, or a prefix of 4+ hex digits). */
export interface FoundImage {
  /** The tags that point at it: the one named, or every tag of the ID. */
  readonly names: readonly string[];
  readonly descriptor: Descriptor;
  readonly image: StoredImage;
  readonly byId: boolean;
}

const ID_RE = /^(?:sha256:)?([0-9a-f]{4,64})$/;

/**
 * Finds an image by name (normalized as docker does) or ID; undefined when
 * nothing matches. An ID prefix that matches several images is an error.
 */
export async function findImage(store: Store, word: string, platform?: string): Promise<FoundImage | undefined> {
  const { choose, wanted } = platformChooser(platform);
  let name: string | undefined;
  try {
    name = normalizeReference(word);
  } catch (error) {
    if (!ID_RE.test(word)) throw error;
  }
  const tagged = await store.images();
  const exact = name === undefined ? undefined : tagged.find((t) => t.ref === name);
  if (exact !== undefined) {
    const image = await readImage(store, exact.descriptor, { choose, wanted, name: exact.ref });
    return { names: [exact.ref], descriptor: exact.descriptor, image, byId: false };
  }
  const id = ID_RE.exec(word);
  if (id === null) return undefined;
  const prefix = id[1] ?? '';
  const matches = new Map<string, { names: string[]; descriptor: Descriptor; image: StoredImage }>();
  for (const t of tagged) {
    let image: StoredImage;
    try {
      image = await readImage(store, t.descriptor, { choose, wanted, name: t.ref });
    } catch {
      continue;
    }
    if (!digestHex(image.configDigest).startsWith(prefix) && !(word.startsWith('sha256:') && digestHex(t.descriptor.digest) === prefix)) continue;
    const key = image.configDigest;
    const entry = matches.get(key) ?? { names: [], descriptor: t.descriptor, image };
    entry.names.push(t.ref);
    matches.set(key, entry);
  }
  if (matches.size > 1) throw new AmbiguousIdError(word, [...matches.keys()]);
  const [only] = matches.values();
  return only === undefined ? undefined : { ...only, byId: true };
}

/** An ID prefix that names several images. */
export class AmbiguousIdError extends Error {
  override readonly name = 'AmbiguousIdError';
  constructor(readonly word: string, readonly ids: readonly string[]) {
    super(`the ID prefix '${word}' matches ${ids.length} images: ${ids.map(shortImageId).join(', ')}; give more digits`);
  }
}

/** "2 hours ago", like docker's CREATED column (go-units HumanDuration). */
export function timeAgo(when: Date, now: Date = new Date()): string {
  const seconds = Math.max(0, Math.round((now.getTime() - when.getTime()) / 1000));
  if (Number.isNaN(seconds)) return 'N/A';
  const ago = (text: string) => `${text} ago`;
  if (seconds < 1) return 'Less than a second ago';
  if (seconds === 1) return ago('1 second');
  if (seconds < 60) return ago(`${seconds} seconds`);
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return ago('About a minute');
  if (minutes < 60) return ago(`${minutes} minutes`);
  const hours = Math.floor(seconds / 3600 + 0.5);
  if (hours === 1) return ago('About an hour');
  if (hours < 48) return ago(`${hours} hours`);
  if (hours < 24 * 7 * 2) return ago(`${Math.floor(hours / 24)} days`);
  if (hours < 24 * 30 * 2) return ago(`${Math.floor(hours / 24 / 7)} weeks`);
  if (hours < 24 * 365 * 2) return ago(`${Math.floor(hours / 24 / 30)} months`);
  return ago(`${Math.floor(hours / 24 / 365)} years`);
}
