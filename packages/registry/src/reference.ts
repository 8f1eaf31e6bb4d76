// Image references with docker's normalization: `ubuntu` is
// docker.io/library/ubuntu:latest; the first path component is a registry
// when it has a '.' or ':' or is `localhost`; tags and digests may both appear.
import { isDigestString, type DigestString } from './digest.js';
import { registryError, RegistryErrors } from './errors.js';

export const DOCKER_HUB = 'docker.io';
/** The API endpoint behind `docker.io`. */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
/** The key docker uses for Docker Hub in config.json `auths` and credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host as written, lowercased, `docker.io` for Docker Hub (`index.docker.io` folds into it). */
  readonly registry: string;
  /** Repository path, e.g. `library/ubuntu`. */
  readonly repository: string;
  /** Tag; `latest` when neither a tag nor a digest was written. */
  readonly tag?: string;
  readonly digest?: DigestString;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

function invalid(ref: string, detail: string): never {
  throw registryError(RegistryErrors.invalidReference, [ref, detail]);
}

/** True when the first path component names a registry rather than a namespace. */
function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/**
 * Parses and normalizes an image reference. Throws REGISTRY_INVALID_REFERENCE
 * naming what is wrong.
 */
export function parseReference(input: string, options: { defaultTag?: boolean } = {}): Reference {
  const text = input.trim();
  if (text === '') invalid(input, 'the reference is empty');
  if (/\s/.test(text)) invalid(input, 'it contains whitespace');

  let rest = text;
  let digest: DigestString | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const candidate = rest.slice(at + 1);
    if (!isDigestString(candidate)) {
      invalid(input, `'${candidate}' is not a digest (sha256: followed by 64 lowercase hex characters)`);
    }
    digest = candidate;
    rest = rest.slice(0, at);
  }

  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  let remainder = rest;
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    remainder = rest.slice(slash + 1);
    if (!DOMAIN_RE.test(registry)) invalid(input, `'${registry}' is not a valid registry host`);
    const port = /:(\d+)$/.exec(registry)?.[1];
    if (port !== undefined && Number(port) > 65535) invalid(input, `port ${port} is out of range`);
    registry = registry.toLowerCase();
    if (registry === 'index.docker.io') registry = DOCKER_HUB;
  }

  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon >= 0) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!TAG_RE.test(tag)) invalid(input, `'${tag}' is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }

  let repository = remainder;
  if (repository === '') invalid(input, 'the repository name is empty');
  if (repository !== repository.toLowerCase()) invalid(input, 'repository names must be lowercase');
  if (!PATH_RE.test(repository)) {
    invalid(input, `'${repository}' is not a valid repository name (lowercase letters, digits and . _ - separators, components split by /)`);
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    invalid(input, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;

  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

export interface FormatReferenceOptions {
  /**
   * Docker's short ("familiar") form: `ubuntu:latest` rather than
   * `docker.io/library/ubuntu:latest`.
   */
  familiar?: boolean;
}

/** The name part: `registry/repository` (or its familiar form). */
export function formatRepository(ref: Pick<Reference, 'registry' | 'repository'>, options: FormatReferenceOptions = {}): string {
  if (options.familiar && ref.registry === DOCKER_HUB) {
    return ref.repository.startsWith('library/') && ref.repository.split('/').length === 2
      ? ref.repository.slice('library/'.length)
      : ref.repository;
  }
  return `${ref.registry}/${ref.repository}`;
}

/** Formats a reference; parseReference(formatReference(r)) equals r. */
export function formatReference(ref: Reference, options: FormatReferenceOptions = {}): string {
  let out = formatRepository(ref, options);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** The tag or digest to put in a /manifests/ URL: the digest when both are set. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** A copy of `ref` naming `digest` (the tag kept for display). */
export function withDigest(ref: Reference, digest: DigestString): Reference {
  return { ...ref, digest };
}

/** The host the HTTP API lives on: docker.io maps to registry-1.docker.io. */
export function registryEndpoint(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry;
}

/** The key credentials are stored under: Docker Hub's historical URL, else the host. */
export function credentialKey(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

/**
 * Normalizes what users type to `strata login` or find in config.json keys
 * (`https://host/v1/`, `host`, `index.docker.io`) to a registry host.
 */
export function normalizeRegistryHost(value: string): string {
  let host = value.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === '') return DOCKER_HUB;
  return host;
}
