/**
 * The catalog of registry errors. Codes are stable and documented in the
 * README: callers branch on `code`, never on message text or `instanceof`.
 * Every error this package throws is built from an entry here. Keep entries
 * sorted by code.
 */
export interface ErrorRule<A extends unknown[]> {
  readonly code: string;
  readonly message: (...args: A) => string;
  readonly hint?: string;
}

function rule<A extends unknown[]>(code: string, message: (...args: A) => string, hint?: string): ErrorRule<A> {
  return hint === undefined ? { code, message } : { code, message, hint };
}

export const RegistryErrors = {
  blobUnknown: rule('REGISTRY_BLOB_UNKNOWN', (repository: string, digest: string) =>
    `blob ${digest} is not in ${repository}`,
    'The registry no longer has this blob; push the image again or pull it from where it was built.'),
  connection: rule('REGISTRY_CONNECTION_FAILED', (url: string, detail: string) =>
    `cannot reach ${url}: ${detail}`,
    'Check that the registry is running and reachable from this machine; transient failures were already retried.'),
  credentialHelper: rule('REGISTRY_CREDENTIAL_HELPER_FAILED', (helper: string, action: string, detail: string) =>
    `docker-credential-${helper} ${action} failed: ${detail}`,
    'Check that the helper is installed and on PATH, or remove it from credsStore/credHelpers in the docker config.'),
  configInvalid: rule('REGISTRY_CONFIG_INVALID', (path: string, detail: string) =>
    `cannot read the docker config ${path}: ${detail}`,
    'Fix or remove the file; DOCKER_CONFIG selects another folder.'),
  denied: rule('REGISTRY_DENIED', (registry: string, repository: string, action: string) =>
    `access to ${repository} on ${registry} was denied (${action})`,
    'The account you are logged in with may not have this permission; check the repository name and your access rights.'),
  digestMismatch: rule('REGISTRY_DIGEST_MISMATCH', (what: string, expected: string, found: string) =>
    `${what} does not match its digest: expected ${expected}, received content hashing to ${found}`,
    'The registry or something between it and strata altered the content; nothing was stored. Try again, or report it to the registry operator.'),
  http: rule('REGISTRY_HTTP_ERROR', (method: string, url: string, status: number, detail: string) =>
    `${method} ${url} failed with HTTP ${status}${detail === '' ? '' : `: ${detail}`}`,
    'The registry refused or failed the request; server errors were already retried.'),
  internal: rule('REGISTRY_INTERNAL', (detail: string) => `internal registry client error: ${detail}`,
    'This is a bug in strata; please report it.'),
  invalidManifest: rule('REGISTRY_INVALID_MANIFEST', (what: string, detail: string) => `invalid manifest ${what}: ${detail}`,
    'The registry returned something that is not an image manifest or index.'),
  invalidPlatform: rule('REGISTRY_INVALID_PLATFORM', (value: string) => `'${value}' is not a platform`,
    'Platforms look like os/arch[/variant], for example linux/amd64 or linux/arm64/v8.'),
  invalidReference: rule('REGISTRY_INVALID_REFERENCE', (ref: string, detail: string) =>
    `invalid image reference '${ref}': ${detail}`,
    'References look like name[:tag][@sha256:digest] or registry.example:5000/path/name:tag; repository names are lowercase.'),
  manifestUnknown: rule('REGISTRY_MANIFEST_UNKNOWN', (reference: string) => `manifest for ${reference} not found`,
    'Check the name and tag; the image may not exist or may not have been pushed yet.'),
  nameUnknown: rule('REGISTRY_NAME_UNKNOWN', (registry: string, repository: string) =>
    `repository ${repository} is not known to ${registry}`,
    'Check the repository name; the registry may need it created before pushing.'),
  noMatchingPlatform: rule('REGISTRY_NO_MATCHING_PLATFORM', (reference: string, wanted: string, available: string[]) =>
    `${reference} has no image for ${wanted}; it has: ${available.length === 0 ? '(none)' : available.join(', ')}`,
    'Choose one of the listed platforms with --platform.'),
  sizeMismatch: rule('REGISTRY_SIZE_MISMATCH', (what: string, expected: number, found: number) =>
    `${what} has ${found} bytes, expected ${expected}`,
    'The registry or something between it and strata altered the content; nothing was stored.'),
  tls: rule('REGISTRY_TLS_FAILED', (host: string, detail: string) => `TLS connection to ${host} failed: ${detail}`,
    'If the registry uses a private CA, add it with NODE_EXTRA_CA_CERTS=/path/ca.pem; if it speaks plain HTTP on a network you trust, pass --insecure-registry HOST (or STRATA_INSECURE_REGISTRIES).'),
  tokenFailed: rule('REGISTRY_TOKEN_FAILED', (realm: string, detail: string) =>
    `cannot get an access token from ${realm}: ${detail}`,
    'The registry\'s token service failed; try again later.'),
  unauthorized: rule('REGISTRY_UNAUTHORIZED', (registry: string, detail: string) =>
    `${registry} requires authentication: ${detail}; run \`strata login ${registry}\``,
    'Log in first: `strata login REGISTRY` (the registry host), then retry.'),
  unknownHost: rule('REGISTRY_UNKNOWN_HOST', (host: string) => `cannot resolve the registry host ${host}`,
    'Check the spelling of the registry in the image reference and your DNS settings.'),
  unsupportedMediaType: rule('REGISTRY_UNSUPPORTED_MEDIA_TYPE', (what: string, mediaType: string) =>
    `${what} has media type ${mediaType}, which strata does not support`,
    'strata reads Docker schema 2 manifests and lists, and OCI manifests and indexes; schema 1 images must be converted first.'),
} as const;

/** Every error code this package can throw. */
export type RegistryErrorCode = (typeof RegistryErrors)[keyof typeof RegistryErrors]['code'];

export interface RegistryErrorOptions {
  readonly cause?: unknown;
  /** HTTP status, when the error comes from a response. */
  readonly status?: number;
  /** Registry error codes from the response body (`{errors: [{code}]}`), e.g. DENIED. */
  readonly registryCodes?: readonly string[];
  /** False when retrying cannot help (defaults by code). */
  readonly retryable?: boolean;
}

/** The only exception type this package throws. */
export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly code: string;
  readonly hint: string | undefined;
  readonly status: number | undefined;
  readonly registryCodes: readonly string[];
  readonly retryable: boolean;

  constructor(code: string, message: string, hint?: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = hint;
    this.status = options.status;
    this.registryCodes = options.registryCodes ?? [];
    this.retryable = options.retryable ?? false;
  }
}

/** Builds a RegistryError from a catalog entry. */
export function registryError<A extends unknown[]>(
  entry: ErrorRule<A>,
  args: A,
  options: RegistryErrorOptions = {},
): RegistryError {
  return new RegistryError(entry.code, entry.message(...args), entry.hint, options);
}

/** Like registryError, with a hint made for this case instead of the catalog's. */
export function registryErrorWithHint<A extends unknown[]>(
  entry: ErrorRule<A>,
  args: A,
  hint: string,
  options: RegistryErrorOptions = {},
): RegistryError {
  return new RegistryError(entry.code, entry.message(...args), hint, options);
}

/** True for a RegistryError, also one from another installed copy of this package. */
export function isRegistryError(value: unknown): value is RegistryError {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { name?: unknown }).name === 'RegistryError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
