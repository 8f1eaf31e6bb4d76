// Image references with docker's normalization, for every strata package:
// `ubuntu` is docker.io/library/ubuntu:latest; the first path component is a
// registry when it has a '.' or ':' or is `localhost`; tags and digests may
// both appear. The store tags images under formatReference(parseReference(x));
// @strata/registry parses with checkReference too and adds what the HTTP API
// needs (endpoints, credential keys).
import { isOciDigest, type Digest } from './digest.js';
import { cacheError, CacheErrors } from './errors.js';

export const DOCKER_HUB = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface Reference {
  /** Registry host as written, lowercased, `docker.io` for Docker Hub (`index.docker.io` folds into it). */
  readonly registry: string;
  /** Repository path, e.g. `library/ubuntu`. */
  readonly repository: string;
  /** Tag; `latest` when neither a tag nor a digest was written (unless `defaultTag: false`). */
  readonly tag?: string;
  /** sha256 or sha512 (isOciDigest). */
  readonly digest?: Digest;
}

export interface ParseReferenceOptions {
  /** False to leave the tag out when the reference has neither a tag nor a digest; default true (`latest`). */
  readonly defaultTag?: boolean;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const MAX_NAME_LENGTH = 255;

/** True when the first path component names a registry rather than a namespace. */
function looksLikeRegistry(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/**
 * Parses and normalizes an image reference: the reference, or a phrase saying
 * what is wrong with it. parseReference here and in @strata/registry throw
 * that phrase with their package's code.
 */
export function checkReference(input: string, options: ParseReferenceOptions = {}): Reference | string {
  const text = input.trim();
  if (text === '') return 'the reference is empty';
  if (/\s/.test(text)) return 'it contains whitespace';

  let rest = text;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const candidate = rest.slice(at + 1);
    if (!isOciDigest(candidate)) return `'${candidate}' is not a digest (sha256: followed by 64 lowercase hex characters)`;
    digest = candidate;
    rest = rest.slice(0, at);
  }

  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  let remainder = rest;
  if (slash >= 0 && looksLikeRegistry(rest.slice(0, slash))) {
    registry = rest.slice(0, slash);
    remainder = rest.slice(slash + 1);
    if (!DOMAIN_RE.test(registry)) return `'${registry}' is not a valid registry host`;
    const port = /:(\d+)$/.exec(registry)?.[1];
    if (port !== undefined && Number(port) > 65535) return `port ${port} is out of range`;
    registry = registry.toLowerCase();
    if (registry === 'index.docker.io') registry = DOCKER_HUB;
  }

  let tag: string | undefined;
  const colon = remainder.lastIndexOf(':');
  if (colon >= 0) {
    tag = remainder.slice(colon + 1);
    remainder = remainder.slice(0, colon);
    if (!TAG_RE.test(tag)) return `'${tag}' is not a valid tag (letters, digits, _ . -, at most 128, not starting with . or -)`;
  }

  let repository = remainder;
  if (repository === '') return 'the repository name is empty';
  if (repository !== repository.toLowerCase()) return 'repository names must be lowercase';
  if (!PATH_RE.test(repository)) {
    return `'${repository}' is not a valid repository name (lowercase letters, digits and . _ - separators, components split by /)`;
  }
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) return `the name is longer than ${MAX_NAME_LENGTH} characters`;
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;

  return {
    registry,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** Parses and normalizes an image reference. Throws CACHE_INVALID_REFERENCE naming what is wrong. */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  const reference = checkReference(input, options);
  if (typeof reference === 'string') throw cacheError(CacheErrors.invalidReference, [input, reference]);
  return reference;
}

export interface FormatReferenceOptions {
  /**
   * Docker's short ("familiar") form: `ubuntu:latest` rather than
   * `docker.io/library/ubuntu:latest`.
   */
  readonly familiar?: boolean;
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

/** Formats a reference: `registry/repository[:tag][@digest]`; parseReference(formatReference(r)) equals r. */
export function formatReference(ref: Reference, options: FormatReferenceOptions = {}): string {
  let out = formatRepository(ref, options);
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** The full normalized form of a reference: the name strata tags images under. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}
