// @strata/registry: an OCI distribution client (references, auth, manifests,
// platform selection, verified blob transfers, push with mount).
export {
  RegistryErrors, RegistryError, registryError, isRegistryError,
  type RegistryErrorCode, type RegistryErrorOptions, type ErrorRule,
} from './errors.js';
export { computeDigest, isDigestString, parseDigestString, type DigestString } from './digest.js';
export {
  parseReference, formatReference, formatRepository, manifestReference, withDigest, registryEndpoint,
  credentialKey, normalizeRegistryHost, DOCKER_HUB, DOCKER_HUB_ENDPOINT, DOCKER_HUB_AUTH_KEY, DEFAULT_TAG,
  type Reference, type FormatReferenceOptions,
} from './reference.js';
export {
  parsePlatform, formatPlatform, normalizePlatform, hostPlatform, platformMatches, type Platform,
} from './platform.js';
export {
  MediaTypes, MANIFEST_ACCEPT, parseManifest, encodeManifest, selectPlatform, indexPlatforms,
  isIndexMediaType, isManifestMediaType,
  type Descriptor, type ImageManifest, type ImageIndex, type ManifestDocument,
} from './manifest.js';
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
