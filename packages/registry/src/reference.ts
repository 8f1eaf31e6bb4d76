// Image references as the registry client needs them: @strata/cache's
// reference grammar and type (one parser for the store's tags and the
// registry's names), failing with REGISTRY_INVALID_REFERENCE, plus what the
// HTTP API and docker's credential files add (endpoints, credential keys).
import { checkReference, DEFAULT_TAG, DOCKER_HUB, type Digest, type ParseReferenceOptions, type Reference } from '@strata/cache';
import { registryError, RegistryErrors } from './errors.js';

/** The API endpoint behind `docker.io`. */
export const DOCKER_HUB_ENDPOINT = 'registry-1.docker.io';
/** The key docker uses for Docker Hub in config.json `auths` and credential helpers. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/**
 * Parses and normalizes an image reference (@strata/cache's checkReference).
 * Throws REGISTRY_INVALID_REFERENCE naming what is wrong.
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  const reference = checkReference(input, options);
  if (typeof reference === 'string') throw registryError(RegistryErrors.invalidReference, [input, reference]);
  return reference;
}

/** The tag or digest to put in a /manifests/ URL: the digest when both are set. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

/** A copy of `ref` naming `digest` (the tag kept for display). */
export function withDigest(ref: Reference, digest: Digest): Reference {
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
