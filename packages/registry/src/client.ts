// The registry client: authenticated requests (challenge, then Basic or
// Bearer), ping and login checks, and manifest operations. Blob transfers
// live in blobs.ts on top of `request`.
import pLimit, { type LimitFunction } from 'p-limit';
import { getCredentials, type Credentials, type DockerConfigOptions } from './auth/docker-config.js';
import { AuthSession, type Authorization, type CredentialProvider } from './auth/session.js';
import {
  digestAlgorithm, digestOf, formatReference, isDigest, isOciDigest,
  type Descriptor, type Digest, type Manifest, type Platform, type Reference,
} from '@strata/cache';
import { registryError, RegistryErrors } from './errors.js';
import { discardEvents, type RegistryEventSink } from './events.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, parseManifest, selectPlatform, type ManifestDocument } from './manifest.js';
import { hostPlatform } from './platform.js';
import { manifestReference } from './reference.js';
import { isRetryableStatus, readErrorBody, Transport, type FetchFunction, type HttpResponse, type RetryOptions } from './transport.js';

/** A repository on a registry: what blob operations need. */
export interface RepositoryRef {
  readonly registry: string;
  readonly repository: string;
}

export interface RegistryClientOptions extends RetryOptions {
  /** Where credentials come from; default: the docker config (see `dockerConfig`). */
  readonly credentials?: CredentialProvider;
  /** Options for reading the docker config when `credentials` is not given. */
  readonly dockerConfig?: DockerConfigOptions;
  /** Registries reached over plain HTTP besides localhost and 127.0.0.0/8. */
  readonly insecureRegistries?: readonly string[];
  /** Parallel blob transfers; default 4. */
  readonly concurrency?: number;
  /** Fail (and retry) an attempt that sees no answer for this long; default 300000 ms. */
  readonly idleTimeoutMs?: number;
  /** Blobs larger than this are uploaded in PATCH chunks of this size; default: one PUT. */
  readonly chunkSize?: number;
  readonly onEvent?: RegistryEventSink;
  readonly fetch?: FetchFunction;
  readonly userAgent?: string;
  /** Clock for token expiry (epoch ms); default Date.now. */
  readonly now?: () => number;
}

export interface ClientRequest {
  readonly method: string;
  /** Path below the registry base URL (`/v2/...`), or an absolute URL (upload locations). */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: () => RequestInit['body'] | AsyncIterable<Uint8Array>;
  /** Token scopes the request needs (`repository:name:pull`). */
  readonly scopes: readonly string[];
  readonly retry?: boolean;
  /** A large upload body (see SendRequest.upload). */
  readonly upload?: boolean;
  /** A large download: a 2xx body comes as a Node stream (see SendRequest.download). */
  readonly download?: boolean;
}

export interface PingResult {
  /** The auth scheme the registry asks for, `none` when /v2/ answered 200 anonymously. */
  readonly auth: 'none' | 'basic' | 'bearer' | string;
  readonly apiVersion: string | undefined;
}

export interface ManifestHead {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
}

/** A runnable image resolved from a reference: the manifest and, when the reference named an index, that index. */
export interface ResolvedImage {
  readonly reference: Reference;
  readonly manifest: Extract<ManifestDocument, { kind: 'manifest' }>;
  readonly index?: Extract<ManifestDocument, { kind: 'index' }>;
}

export class RegistryClient {
  readonly transport: Transport;
  readonly onEvent: RegistryEventSink;
  readonly chunkSize: number | undefined;
  /** Bounds parallel blob transfers across everything this client does. */
  readonly limit: LimitFunction;
  private readonly sessions = new Map<string, AuthSession>();
  private readonly pings = new WeakMap<AuthSession, Promise<PingResult>>();
  private readonly credentials: CredentialProvider;
  private readonly now: () => number;

  constructor(options: RegistryClientOptions = {}) {
    this.onEvent = options.onEvent ?? discardEvents;
    this.transport = new Transport({ ...options, onEvent: this.onEvent });
    const dockerConfig = options.dockerConfig ?? {};
    this.credentials = options.credentials ?? ((registry) => getCredentials(registry, dockerConfig));
    this.chunkSize = options.chunkSize;
    this.limit = pLimit(options.concurrency ?? 4);
    this.now = options.now ?? Date.now;
  }

  /** The auth state for a registry (one per client and registry). */
  session(registry: string): AuthSession {
    let session = this.sessions.get(registry);
    if (session === undefined) {
      session = this.newSession(registry, this.credentials);
      this.sessions.set(registry, session);
    }
    return session;
  }

  private newSession(registry: string, credentials: CredentialProvider): AuthSession {
    return new AuthSession({ registry, transport: this.transport, credentials, onEvent: this.onEvent, now: this.now, clientId: 'strata' });
  }

  /** The full URL of a path on a registry (absolute URLs pass through). */
  url(registry: string, path: string): string {
    return /^https?:\/\//i.test(path) ? path : `${this.transport.baseUrl(registry)}${path}`;
  }

  /**
   * Sends a request with the registry's authorization; on a 401 learns the
   * challenge and retries once with (new) credentials. Resolves any status.
   */
  async request(registry: string, request: ClientRequest, session = this.session(registry)): Promise<HttpResponse> {
    const url = this.url(registry, request.path);
    // learn the auth scheme once up front, so parallel first requests do not all meet a 401
    await this.pingOnce(registry, session);
    for (let round = 0; ; round++) {
      // credentials go to the registry only, never to another host an upload Location names
      const sameOrigin = new URL(url).origin === new URL(this.transport.baseUrl(registry)).origin;
      const auth: Authorization = sameOrigin ? await session.authorize(request.scopes) : { header: undefined, fresh: true };
      const headers = { ...request.headers, ...(auth.header !== undefined ? { authorization: auth.header } : {}) };
      const response = await this.transport.send({
        method: request.method,
        url,
        headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
        ...(request.retry !== undefined ? { retry: request.retry } : {}),
        ...(request.upload !== undefined ? { upload: request.upload } : {}),
        ...(request.download !== undefined ? { download: request.download } : {}),
      });
      if (response.status !== 401 || round > 0) return response;
      const retry = await session.onUnauthorized(response.headers.get('www-authenticate'), request.scopes, auth);
      if (!retry) return response;
      await response.arrayBuffer().catch(() => undefined);
    }
  }

  /** Turns an unexpected response into a typed error (reads and discards the body). */
  async failure(registry: string, response: HttpResponse, method: string, url: string, subject?: string, session = this.session(registry)): Promise<Error> {
    const { codes, detail } = await readErrorBody(response);
    const status = response.status;
    if (status === 401) return session.unauthorizedError(`${method} ${subject ?? url}`, status, codes);
    const repository = /\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(new URL(url).pathname)?.[1] ?? '';
    if (status === 403 || codes.includes('DENIED')) {
      return registryError(RegistryErrors.denied, [registry, repository, method], { status, registryCodes: codes });
    }
    if (status === 404 && codes.includes('NAME_UNKNOWN')) {
      return registryError(RegistryErrors.nameUnknown, [registry, repository], { status, registryCodes: codes });
    }
    if (status === 404 && codes.includes('BLOB_UNKNOWN')) {
      return registryError(RegistryErrors.blobUnknown, [repository, subject ?? url], { status, registryCodes: codes });
    }
    if (status === 404 && (codes.includes('MANIFEST_UNKNOWN') || /\/manifests\//.test(url))) {
      return registryError(RegistryErrors.manifestUnknown, [subject ?? url], { status, registryCodes: codes });
    }
    return registryError(RegistryErrors.http, [method, url, status, detail], {
      status, registryCodes: codes, retryable: isRetryableStatus(status),
    });
  }

  private pingOnce(registry: string, session: AuthSession): Promise<unknown> {
    let pending = this.pings.get(session);
    if (pending === undefined) {
      pending = this.ping(registry, session);
      this.pings.set(session, pending);
      pending.catch(() => this.pings.delete(session));
    }
    return pending;
  }

  /** GET /v2/: checks the registry speaks the API and learns its auth scheme. */
  async ping(registry: string, session = this.session(registry)): Promise<PingResult> {
    const url = this.url(registry, '/v2/');
    const response = await this.transport.send({ method: 'GET', url });
    await response.arrayBuffer().catch(() => undefined);
    const apiVersion = response.headers.get('docker-distribution-api-version') ?? undefined;
    if (response.status === 200) return { auth: 'none', apiVersion };
    if (response.status === 401) {
      await session.onUnauthorized(response.headers.get('www-authenticate'), [], { header: undefined, fresh: true });
      return { auth: session.scheme ?? 'unknown', apiVersion };
    }
    throw registryError(RegistryErrors.http, ['GET', url, response.status, 'the registry did not answer the /v2/ API check']);
  }

  /**
   * Checks credentials against a registry (what `login` does before storing
   * them): /v2/ with Basic, or a token fetched with them. Throws
   * REGISTRY_UNAUTHORIZED when they are refused.
   */
  async checkCredentials(registry: string, credentials: Credentials): Promise<void> {
    const session = this.newSession(registry, async () => credentials);
    const response = await this.request(registry, { method: 'GET', path: '/v2/', scopes: [] }, session);
    if (response.ok) {
      await response.arrayBuffer().catch(() => undefined);
      return;
    }
    throw await this.failure(registry, response, 'GET', this.url(registry, '/v2/'), 'login', session);
  }

  // ---- manifests --------------------------------------------------------

  private manifestPath(ref: Reference, reference = manifestReference(ref)): string {
    return `/v2/${ref.repository}/manifests/${reference}`;
  }

  /** HEAD of a manifest: its digest, media type and size, or undefined when it does not exist. */
  async headManifest(ref: Reference): Promise<ManifestHead | undefined> {
    const path = this.manifestPath(ref);
    const response = await this.request(ref.registry, {
      method: 'HEAD', path, headers: { accept: MANIFEST_ACCEPT.join(', ') }, scopes: [`repository:${ref.repository}:pull`],
    });
    if (response.status === 404) return undefined;
    if (!response.ok) throw await this.failure(ref.registry, response, 'HEAD', this.url(ref.registry, path), formatReference(ref));
    const digest = response.headers.get('docker-content-digest') ?? ref.digest;
    if (!isOciDigest(digest)) {
      throw registryError(RegistryErrors.invalidManifest, [formatReference(ref), 'the registry named no digest for it']);
    }
    return {
      digest,
      mediaType: (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '',
      size: Number(response.headers.get('content-length') ?? 0),
    };
  }

  /**
   * GET a manifest or index; verifies it against the reference's digest (or
   * the registry's Docker-Content-Digest). Throws REGISTRY_MANIFEST_UNKNOWN,
   * REGISTRY_DIGEST_MISMATCH, REGISTRY_INVALID_MANIFEST.
   */
  async getManifest(ref: Reference, reference = manifestReference(ref)): Promise<ManifestDocument> {
    const path = this.manifestPath(ref, reference);
    const what = `${ref.registry}/${ref.repository}${reference.includes(':') ? '@' : ':'}${reference}`;
    for (let attempt = 1; ; attempt++) {
      const response = await this.request(ref.registry, {
        method: 'GET', path, headers: { accept: MANIFEST_ACCEPT.join(', ') }, scopes: [`repository:${ref.repository}:pull`],
      });
      if (!response.ok) throw await this.failure(ref.registry, response, 'GET', this.url(ref.registry, path), what);
      const length = Number(response.headers.get('content-length') ?? 0);
      if (length > MAX_MANIFEST_BYTES) {
        await response.body?.cancel();
        throw registryError(RegistryErrors.invalidManifest, [what, `it is ${length} bytes, more than the ${MAX_MANIFEST_BYTES} allowed`]);
      }
      const bytes = Buffer.from(await response.arrayBuffer());
      const expected = isOciDigest(reference) ? reference : (response.headers.get('docker-content-digest') ?? undefined);
      if (expected !== undefined && isOciDigest(expected)) {
        const found = digestOf(bytes, digestAlgorithm(expected));
        if (found !== expected) {
          if (attempt < this.transport.attempts) {
            await this.transport.sleepBeforeRetry('GET', this.url(ref.registry, path), attempt, 'manifest digest mismatch');
            continue;
          }
          throw registryError(RegistryErrors.digestMismatch, [`manifest ${what}`, expected, found], { retryable: true });
        }
      }
      const contentType = response.headers.get('content-type') ?? undefined;
      return parseManifest(bytes, {
        what,
        ...(contentType !== undefined ? { contentType } : {}),
        ...(expected !== undefined && isDigest(expected) ? { digest: expected } : {}),
      });
    }
  }

  /**
   * Resolves a reference to one image: follows an index or manifest list to
   * the entry for `platform` (default: this host's). Throws
   * REGISTRY_NO_MATCHING_PLATFORM listing what the index has.
   */
  async resolveImage(ref: Reference, options: { platform?: Platform } = {}): Promise<ResolvedImage> {
    const top = await this.getManifest(ref);
    if (top.kind === 'manifest') return { reference: ref, manifest: top };
    const entry: Descriptor = selectPlatform(top.index, options.platform ?? hostPlatform(), formatReference(ref));
    const child = await this.getManifest(ref, entry.digest);
    if (child.kind !== 'manifest') {
      throw registryError(RegistryErrors.invalidManifest, [`${formatReference(ref)}@${entry.digest}`, 'an index entry points at another index']);
    }
    return { reference: ref, manifest: child, index: top };
  }

  /**
   * PUT a manifest or index under a tag or digest. The bytes are sent as is
   * (their digest is the image's identity). Returns the digest, checked
   * against the registry's answer.
   */
  async putManifest(ref: Reference, bytes: Buffer, mediaType: string, reference = manifestReference(ref)): Promise<Digest> {
    const path = this.manifestPath(ref, reference);
    const digest = digestOf(bytes);
    const response = await this.request(ref.registry, {
      method: 'PUT',
      path,
      headers: { 'content-type': mediaType },
      body: () => bytes,
      scopes: [`repository:${ref.repository}:pull,push`],
    });
    if (response.status !== 201 && response.status !== 200 && response.status !== 202) {
      throw await this.failure(ref.registry, response, 'PUT', this.url(ref.registry, path), formatReference(ref));
    }
    await response.arrayBuffer().catch(() => undefined);
    const answered = response.headers.get('docker-content-digest');
    if (answered !== null && isOciDigest(answered) && answered !== digest) {
      throw registryError(RegistryErrors.digestMismatch, [`manifest pushed to ${formatReference(ref)}`, digest, answered]);
    }
    this.onEvent({ type: 'manifest-pushed', registry: ref.registry, repository: ref.repository, reference, digest, size: bytes.length });
    return digest;
  }

  /** Deletes a manifest by digest (registries refuse tags). */
  async deleteManifest(ref: Reference, digest: Digest): Promise<void> {
    const path = this.manifestPath(ref, digest);
    const response = await this.request(ref.registry, { method: 'DELETE', path, scopes: [`repository:${ref.repository}:delete`] });
    if (!response.ok) throw await this.failure(ref.registry, response, 'DELETE', this.url(ref.registry, path), `${formatReference(ref)}`);
    await response.arrayBuffer().catch(() => undefined);
  }

  /** Tags in a repository (one page of up to `n`, default 1000). */
  async listTags(repo: RepositoryRef, options: { n?: number } = {}): Promise<string[]> {
    const path = `/v2/${repo.repository}/tags/list?n=${options.n ?? 1000}`;
    const response = await this.request(repo.registry, { method: 'GET', path, scopes: [`repository:${repo.repository}:pull`] });
    if (!response.ok) throw await this.failure(repo.registry, response, 'GET', this.url(repo.registry, path), `${repo.registry}/${repo.repository}`);
    const json = (await response.json()) as { tags?: unknown };
    return Array.isArray(json.tags) ? json.tags.filter((t): t is string => typeof t === 'string') : [];
  }
}

/** The layer and config descriptors of a manifest, config first. */
export function manifestBlobs(manifest: Manifest): Descriptor[] {
  return [manifest.config, ...manifest.layers];
}
