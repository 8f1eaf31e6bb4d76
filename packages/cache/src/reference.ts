import { cacheError, CacheErrors } from './errors.js';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/;
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;

/** The parts of a normalized image reference. */
export interface ReferenceParts {
  /** Registry host[:port]; docker.io for Docker Hub. */
  readonly domain: string;
  /** Repository path; Docker Hub official images get `library/`. */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

/**
 * Splits and normalizes an image reference as docker does: `ubuntu` becomes
 * `docker.io/library/ubuntu:latest`, `127.0.0.1:5000/test/busybox:1.0` stays.
 * Throws CACHE_INVALID_REFERENCE.
 */
export function parseReference(input: string): ReferenceParts {
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw cacheError(CacheErrors.invalidReference, [input, `'${digest}' is not a digest`]);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw cacheError(CacheErrors.invalidReference, [input, `'${tag}' is not a valid tag`]);
  }
  let domain = 'docker.io';
  let path = rest;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    path = rest.slice(slash + 1);
    if (!DOMAIN.test(domain)) throw cacheError(CacheErrors.invalidReference, [input, `'${domain}' is not a registry host`]);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (path === '' || !path.split('/').every((c) => COMPONENT.test(c))) {
    throw cacheError(CacheErrors.invalidReference, [input, 'the repository name must be lowercase letters, digits and separators']);
  }
  if (domain.length + 1 + path.length > 255) throw cacheError(CacheErrors.invalidReference, [input, 'the name is longer than 255 characters']);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** Joins reference parts: `domain/path[:tag][@digest]`. */
export function formatReference(parts: ReferenceParts): string {
  return `${parts.domain}/${parts.path}${parts.tag === undefined ? '' : `:${parts.tag}`}${parts.digest === undefined ? '' : `@${parts.digest}`}`;
}

/** The full normalized form of a reference: the name strata tags images under. */
export function normalizeReference(input: string): string {
  return formatReference(parseReference(input));
}
