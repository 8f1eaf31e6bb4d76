import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { isAbsolute, join, resolve } from 'node:path';
import {
  isIndexMediaType,
  isManifestMediaType,
  parseReference,
  REF_NAME_ANNOTATION,
  tempName,
  type Descriptor,
  type Digest,
  type Index,
  type Manifest,
  type Store,
} from '@strata/cache';
import { buildError, BuildErrors } from '../errors.js';
import { redact } from '../redact.js';
import { extractArchive, sniffArchive } from '../steps/archive.js';

/**
 * Named build contexts (`--build-context NAME=VALUE`, bake's `contexts`): a
 * name that `FROM NAME`, `COPY --from=NAME` and `RUN --mount from=NAME`
 * resolve to before a stage or an image of that name, as BuildKit does (a
 * named context with a stage's name replaces the stage). What a value can be:
 *
 * - `local`: a folder on this machine (its own .dockerignore applies);
 * - `image`: `docker-image://REF[@DIGEST]`, an image as FROM REF would take it
 *   (from the store, pulled when missing or with --pull);
 * - `oci-layout`: `oci-layout://PATH[:TAG][@DIGEST]`, an image of an OCI
 *   layout folder, copied into the store's blobs (not tagged);
 * - `url`: an `https://` (or `http://`) tarball, downloaded and extracted into
 *   a folder that is then used as a `local` one;
 * - `stored`: an image already in the store by descriptor (`strata bake`'s
 *   `target:NAME`: the producing target's result, used directly).
 *
 * Keys: an image by its manifest digest; a folder by the content of what is
 * read from it (COPY --from selects and hashes as from the context; FROM and
 * RUN --mount from= take the whole folder as one layer keyed by its content).
 */
export type NamedContext =
  | { readonly type: 'local'; readonly path: string }
  | { readonly type: 'image'; readonly reference: string }
  | { readonly type: 'oci-layout'; readonly path: string; readonly tag?: string; readonly digest?: Digest }
  | { readonly type: 'url'; readonly url: string }
  | { readonly type: 'stored'; readonly descriptor: Descriptor; readonly name?: string };

function invalid(text: string, why: string): Error {
  return buildError(BuildErrors.namedContextInvalid, [text, why]);
}

/** `oci-layout://PATH[:TAG][@DIGEST]` (the tag is the part after the last colon past the last slash). */
function parseLayoutValue(rest: string, text: string, cwd: string): NamedContext {
  let path = rest;
  let digest: Digest | undefined;
  const at = path.lastIndexOf('@');
  if (at > 0 && /^sha256:[0-9a-f]{64}$/.test(path.slice(at + 1))) {
    digest = path.slice(at + 1) as Digest;
    path = path.slice(0, at);
  }
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon > path.lastIndexOf('/') && colon > 0) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
  }
  if (path === '') throw invalid(text, 'oci-layout:// needs the path of an OCI layout folder');
  return { type: 'oci-layout', path: resolve(cwd, path), ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/**
 * Reads a named context's VALUE as `--build-context` takes it: a URL scheme
 * picks the kind, anything else is a local folder (relative to `cwd`).
 * `git` repositories and `target:` (bake only) are refused here.
 */
export function parseNamedContext(value: string, options: { cwd?: string } = {}): NamedContext {
  const cwd = options.cwd ?? process.cwd();
  if (value === '') throw invalid(value, 'the value is empty');
  if (value.startsWith('docker-image://')) {
    const reference = value.slice('docker-image://'.length);
    try {
      parseReference(reference);
    } catch (error) {
      throw invalid(value, `${reference} is not an image reference (${(error as Error).message})`);
    }
    return { type: 'image', reference };
  }
  if (value.startsWith('oci-layout://')) return parseLayoutValue(value.slice('oci-layout://'.length), value, cwd);
  if (/^https?:\/\//.test(value)) {
    if (/\.git(#.*)?$/.test(value) || value.includes('.git#')) throw buildError(BuildErrors.unsupported, [`a git repository as a named context (${value})`]);
    try {
      new URL(value);
    } catch {
      throw invalid(value, 'not a valid URL');
    }
    return { type: 'url', url: value };
  }
  if (value.startsWith('target:')) throw invalid(value, 'target: names a bake target; it is only valid in strata bake');
  if (/^(git|ssh|git@)/.test(value) || /^[a-z][a-z0-9+.-]*:\/\//.test(value)) throw buildError(BuildErrors.unsupported, [`a named context of the kind ${value.split(':')[0] ?? ''}`]);
  return { type: 'local', path: isAbsolute(value) ? value : resolve(cwd, value) };
}

/** `NAME=VALUE` of `--build-context`. */
export function parseBuildContextFlag(text: string, options: { cwd?: string } = {}): { name: string; context: NamedContext } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw invalid(text, 'expected NAME=VALUE');
  const name = text.slice(0, eq);
  contextKey(name);
  return { name, context: parseNamedContext(text.slice(eq + 1), options) };
}

/**
 * The name a context is looked up by: BuildKit parses the name as an image
 * reference and takes its familiar form without `:latest`, so that
 * `FROM docker.io/library/alpine:latest` finds a context named `alpine`.
 */
export function contextKey(name: string): string {
  let ref;
  try {
    ref = parseReference(name);
  } catch {
    throw invalid(name, 'a context name must be a valid image name (lowercase letters, digits, . _ - /)');
  }
  let repo = ref.registry === 'docker.io' ? ref.repository.replace(/^library\//, '') : `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined && !(ref.tag === 'latest' && ref.digest === undefined)) repo += `:${ref.tag}`;
  if (ref.digest !== undefined) repo += `@${ref.digest}`;
  return repo;
}

/** A name as it may be looked up, or undefined when it cannot name a context (a stage index, a word that is no reference). */
function lookupKey(ref: string): string | undefined {
  if (/^[0-9]+$/.test(ref)) return undefined;
  try {
    return contextKey(ref);
  } catch {
    return undefined;
  }
}

/** A named context found for a reference: the key it was given under and its value. */
export interface FoundContext {
  readonly name: string;
  readonly context: NamedContext;
}

/**
 * One build's named contexts: lookup by name (with BuildKit's
 * `NAME::PLATFORM` keys first), and the work they need done once per build
 * (a tarball downloaded and extracted, an OCI layout's blobs copied into the
 * store). `close` removes the downloads.
 */
export class NamedContexts {
  readonly #byKey = new Map<string, FoundContext>();
  readonly #store: Store;
  readonly #once = new Map<string, Promise<unknown>>();
  readonly #temp: string[] = [];

  constructor(store: Store, contexts: Readonly<Record<string, NamedContext>> = {}) {
    this.#store = store;
    for (const [name, context] of Object.entries(contexts)) {
      const at = name.indexOf('::');
      const key = at < 0 ? contextKey(name) : `${contextKey(name.slice(0, at))}::${name.slice(at + 2)}`;
      this.#byKey.set(key, { name, context });
    }
  }

  /** The context a FROM / COPY --from / RUN --mount from= reference names, if any (`platform` as `os/arch[/variant]`). */
  find(ref: string, platform?: string): FoundContext | undefined {
    if (this.#byKey.size === 0) return undefined;
    const key = lookupKey(ref);
    if (key === undefined) return undefined;
    return (platform === undefined ? undefined : this.#byKey.get(`${key}::${platform}`)) ?? this.#byKey.get(key);
  }

  /** Whether some context (for any platform) has this name: the planner's question. */
  has(ref: string): boolean {
    const key = lookupKey(ref);
    if (key === undefined) return false;
    return [...this.#byKey.keys()].some((k) => k === key || k.startsWith(`${key}::`));
  }

  /** Runs `work` once per `key` for this build; later calls share its promise. */
  once<T>(key: string, work: () => Promise<T>): Promise<T> {
    let pending = this.#once.get(key) as Promise<T> | undefined;
    if (pending === undefined) {
      pending = work();
      this.#once.set(key, pending);
    }
    return pending;
  }

  /** The host folder of a `local` or `url` context (a tarball is downloaded and extracted first, once). */
  localDir(found: FoundContext, signal?: AbortSignal): Promise<string> {
    const { context } = found;
    if (context.type === 'local') return Promise.resolve(context.path);
    if (context.type !== 'url') throw new Error(`internal: ${found.name} is no folder`);
    return this.once(`url:${context.url}`, () => this.#download(found.name, context.url, signal));
  }

  /** The descriptor of an `oci-layout` or `stored` context's image in the store (a layout's blobs are copied in first, once). */
  storedImage(found: FoundContext): Promise<Descriptor> {
    const { context } = found;
    if (context.type === 'stored') return Promise.resolve(context.descriptor);
    if (context.type !== 'oci-layout') throw new Error(`internal: ${found.name} is no stored image`);
    return this.once(`layout:${context.path}:${context.tag ?? ''}@${context.digest ?? ''}`, () => copyLayoutImage(this.#store, found.name, context));
  }

  /** Removes what the build downloaded. */
  async close(): Promise<void> {
    for (const dir of this.#temp.splice(0)) await rm(dir, { recursive: true, force: true });
  }

  async #download(name: string, url: string, signal?: AbortSignal): Promise<string> {
    // as messages show it: a password in the URL is not printed
    const shown = redact(url);
    const dir = join(this.#store.paths.tmp, tempName('named-context'));
    this.#temp.push(dir);
    await mkdir(dir, { recursive: true });
    let response: Response;
    try {
      response = await fetch(url, { redirect: 'follow', ...(signal === undefined ? {} : { signal }) });
    } catch (error) {
      throw buildError(BuildErrors.namedContextFailed, [name, `${shown} could not be downloaded: ${(error as Error).message}`], { cause: error });
    }
    if (!response.ok || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw buildError(BuildErrors.namedContextFailed, [name, `${shown} answered ${response.status} ${response.statusText}`]);
    }
    const file = join(dir, 'download');
    // streamed to the file: a tarball of any size, never whole in memory
    try {
      await pipeline(Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>), createWriteStream(file, { mode: 0o600 }));
    } catch (error) {
      throw buildError(BuildErrors.namedContextFailed, [name, `${shown} could not be downloaded: ${(error as Error).message}`], { cause: error });
    }
    const compression = await sniffArchive(file);
    if (compression === undefined) throw buildError(BuildErrors.namedContextFailed, [name, `${shown} is not a tar archive (plain, gzip, bzip2, xz or zstd)`]);
    const root = join(dir, 'root');
    await mkdir(root, { recursive: true });
    await extractArchive(file, compression, root, [], { targetRel: '', staging: join(dir, 'staging'), source: shown, epoch: Math.floor(Date.now() / 1000) });
    await rm(file, { force: true });
    return root;
  }
}

/** The layout's entry a tag or digest names: by digest anywhere in index.json; by tag in the ref.name annotation (`TAG` or `…:TAG`). */
function chooseLayoutEntry(index: Index, context: Extract<NamedContext, { type: 'oci-layout' }>): Descriptor | undefined {
  if (context.digest !== undefined) return index.manifests.find((m) => m.digest === context.digest);
  const tag = context.tag ?? 'latest';
  const named = index.manifests.find((m) => {
    const ref = m.annotations?.[REF_NAME_ANNOTATION];
    return ref !== undefined && (ref === tag || ref.endsWith(`:${tag}`));
  });
  if (named !== undefined) return named;
  // a layout with one image and no name for it: that one, when no tag was asked for
  return context.tag === undefined && index.manifests.length === 1 ? index.manifests[0] : undefined;
}

/** Copies the image (an index with its manifests, or a manifest) a layout entry names into the store's blobs, verified; returns its descriptor. */
async function copyLayoutImage(store: Store, name: string, context: Extract<NamedContext, { type: 'oci-layout' }>): Promise<Descriptor> {
  const fail = (why: string, cause?: unknown) => buildError(BuildErrors.namedContextFailed, [name, `oci-layout ${context.path}: ${why}`], cause === undefined ? {} : { cause });
  let index: Index;
  try {
    index = JSON.parse(await readFile(join(context.path, 'index.json'), 'utf8')) as Index;
  } catch (error) {
    throw fail('no readable index.json (is it an OCI image layout folder?)', error);
  }
  const entry = chooseLayoutEntry(index, context);
  if (entry === undefined) throw fail(context.digest !== undefined ? `no entry ${context.digest}` : `no image tagged ${context.tag ?? 'latest'}`);
  const blob = (digest: string) => join(context.path, 'blobs', ...digest.split(':'));
  const copy = async (d: Descriptor): Promise<void> => {
    if (!(await store.hasBlob(d.digest))) await store.putBlob(createReadStream(blob(d.digest)), { expected: { digest: d.digest, size: d.size } });
    if (isIndexMediaType(d.mediaType)) {
      const child = JSON.parse((await store.readBlob(d.digest)).toString('utf8')) as Index;
      // an index may hold only some of its platforms: those whose blobs the layout lacks are skipped
      for (const m of child.manifests) await copy(m).catch((error: unknown) => ((error as { code?: string }).code === 'ENOENT' ? undefined : Promise.reject(error)));
    } else if (isManifestMediaType(d.mediaType)) {
      const manifest = JSON.parse((await store.readBlob(d.digest)).toString('utf8')) as Manifest;
      for (const b of [manifest.config, ...manifest.layers]) {
        if (!(await store.hasBlob(b.digest))) await store.putBlob(createReadStream(blob(b.digest)), { expected: { digest: b.digest, size: b.size } });
      }
    }
  };
  try {
    await copy(entry);
  } catch (error) {
    throw fail(`its blobs could not be copied: ${(error as Error).message}`, error);
  }
  return { mediaType: entry.mediaType, digest: entry.digest, size: entry.size, ...(entry.platform === undefined ? {} : { platform: entry.platform }) };
}
