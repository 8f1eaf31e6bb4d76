// @strata/registry: an OCI distribution client (references, auth, manifests,
// platform selection, verified blob transfers, push with mount).
export {
  RegistryErrors, RegistryError, registryError, isRegistryError,
  type RegistryErrorCode, type RegistryErrorOptions, type ErrorRule,
} from './errors.js';
export {
  parseReference, manifestReference, withDigest, registryEndpoint, credentialKey, normalizeRegistryHost,
  DOCKER_HUB_ENDPOINT, DOCKER_HUB_AUTH_KEY,
} from './reference.js';
export { parsePlatform, formatPlatform, normalizePlatform, hostPlatform, platformMatches } from './platform.js';
export { MANIFEST_ACCEPT, parseManifest, encodeManifest, selectPlatform, indexPlatforms, type ManifestDocument } from './manifest.js';
// The OCI values, digests and references are @strata/cache's; they stay
// exported here under the names this package had when it defined its own.
export {
  formatReference, formatRepository, DOCKER_HUB, DEFAULT_TAG, type Reference, type FormatReferenceOptions,
  isIndexMediaType, isManifestMediaType, type Descriptor, type Platform,
  MediaType as MediaTypes, type Manifest as ImageManifest, type Index as ImageIndex,
  type Digest as DigestString, isOciDigest as isDigestString,
} from '@strata/cache';
export type {
  RegistryEvent, RegistryEventSink, BlobProgressEvent, BlobPushedEvent, BlobDownloadedEvent, BlobPresentEvent,
  ManifestPushedEvent, RequestRetryEvent, TokenFetchedEvent,
} from './events.js';
export { isInsecureRegistry, insecureRegistriesFromEnv, type RetryOptions, type FetchFunction, type HttpResponse } from './transport.js';
export { parseChallenges, type AuthChallenge } from './auth/challenge.js';
export {
  getCredentials, storeCredentials, eraseCredentials, dockerConfigDir, dockerConfigPath,
  type Credentials, type CredentialSource, type DockerConfigOptions,
} from './auth/docker-config.js';
export type { CredentialProvider } from './auth/session.js';
export {
  RegistryClient, manifestBlobs,
  type RegistryClientOptions, type RepositoryRef, type PingResult, type ManifestHead, type ResolvedImage, type ClientRequest,
} from './client.js';
export {
  headBlob, openBlob, downloadBlob, fetchBlob, pushBlob, pushBlobs, bufferSource,
  type BlobSource, type OpenBlobOptions, type PushBlobOptions, type PushBlobResult,
} from './blobs.js';
export {
  pullImage, pushImage,
  type PullImageOptions, type PullImageResult, type PushImageOptions, type PushImageResult,
} from './image.js';
