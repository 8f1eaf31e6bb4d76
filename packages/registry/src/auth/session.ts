// Per-registry authentication state: which scheme the registry asked for
// (learned from its 401 challenge), the credentials to use, and bearer tokens
// cached per scope set and renewed before they expire.
import { registryError, registryErrorWithHint, RegistryErrors } from '../errors.js';
import type { RegistryEventSink } from '../events.js';
import { readErrorBody, type Transport } from '../transport.js';
import { parseChallenges, type AuthChallenge } from './challenge.js';
import type { Credentials } from './docker-config.js';

export type CredentialProvider = (registry: string) => Promise<Credentials | undefined>;

export interface Authorization {
  readonly header: string | undefined;
  readonly fresh: boolean;
}

interface CachedToken {
  readonly token: string;
  /** Epoch ms after which the token is not used again. */
  readonly renewAt: number;
}

/** Token lifetime assumed when the server names none or less than this (docker token spec). */
const MIN_TOKEN_SECONDS = 60;

export function repositoryScope(repository: string, actions: readonly string[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

function basicHeader(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

export interface AuthSessionOptions {
  readonly registry: string;
  readonly transport: Transport;
  readonly credentials: CredentialProvider;
  readonly onEvent: RegistryEventSink;
  readonly now: () => number;
  readonly clientId: string;
}

export class AuthSession {
  private challenge: AuthChallenge | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  /** Scopes registries asked for in challenges, beyond those requests named (by request scope key). */
  private readonly extraScopes = new Map<string, string[]>();
  private credentialsPromise: Promise<Credentials | undefined> | undefined;

  constructor(private readonly options: AuthSessionOptions) {}

  get registry(): string {
    return this.options.registry;
  }

  /** The scheme learned from the registry's challenge (`bearer`, `basic`), if any. */
  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  credentials(): Promise<Credentials | undefined> {
    this.credentialsPromise ??= this.options.credentials(this.options.registry);
    return this.credentialsPromise;
  }

  /**
   * The Authorization header for a request needing `scopes` (undefined before
   * any challenge), and whether a bearer token was fetched just for it.
   */
  async authorize(scopes: readonly string[]): Promise<Authorization> {
    if (this.challenge?.scheme === 'basic') {
      const credentials = await this.credentials();
      return { header: credentials === undefined ? undefined : basicHeader(credentials), fresh: true };
    }
    if (this.challenge?.scheme === 'bearer') {
      const { token, fresh } = await this.token(scopes);
      return { header: `Bearer ${token}`, fresh };
    }
    return { header: undefined, fresh: true };
  }

  /**
   * Learns from a 401. Returns true when a retry with new authorization may
   * succeed: the first challenge (or a new one), or a cached token that may
   * have gone stale. A token fetched just for this request that still fails
   * means no access: no retry.
   */
  async onUnauthorized(header: string | null, scopes: readonly string[], sent: Authorization): Promise<boolean> {
    const challenges = parseChallenges(header);
    const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (challenge === undefined) return false;
    const changed = this.challenge?.scheme !== challenge.scheme || this.challenge.params.realm !== challenge.params.realm;
    this.challenge = challenge;
    if (changed) this.tokens.clear();
    if (challenge.scheme === 'basic') {
      return sent.header === undefined && (await this.credentials()) !== undefined;
    }
    if (challenge.scheme === 'bearer') {
      // a challenge may ask for scopes the request did not name: ask for those too
      const key = scopeKey(scopes);
      const known = new Set([...scopes, ...(this.extraScopes.get(key) ?? [])]);
      const asked = (challenge.params.scope ?? '').split(' ').filter((scope) => scope !== '' && !known.has(scope));
      if (asked.length > 0) {
        this.extraScopes.set(key, [...(this.extraScopes.get(key) ?? []), ...asked]);
        this.tokens.delete(key);
        return true;
      }
      if (changed || sent.header === undefined) return true;
      if (sent.fresh) return false;
      // drop the cached token that failed (unless a newer one replaced it meanwhile)
      const cached = this.tokens.get(key);
      const value = await cached?.catch(() => undefined);
      if (value !== undefined && `Bearer ${value.token}` === sent.header && this.tokens.get(key) === cached) this.tokens.delete(key);
      return true;
    }
    return false;
  }

  /** The REGISTRY_UNAUTHORIZED error for a request that stayed unauthorized. */
  async unauthorizedError(what: string, status: number, codes: readonly string[]): Promise<Error> {
    const credentials = await this.credentials();
    const registry = this.options.registry;
    if (credentials === undefined) {
      return registryErrorWithHint(
        RegistryErrors.unauthorized,
        [registry, `no credentials are stored for it (${what})`],
        `Run \`strata login ${registry}\`, then retry.`,
        { status, registryCodes: codes },
      );
    }
    return registryErrorWithHint(
      RegistryErrors.unauthorized,
      [registry, `the credentials for ${credentials.username || 'this registry'} were refused or lack access (${what})`],
      `Check the repository name and your access; run \`strata login ${registry}\` to store other credentials.`,
      { status, registryCodes: codes },
    );
  }

  private async token(scopes: readonly string[]): Promise<{ token: string; fresh: boolean }> {
    const key = scopeKey(scopes);
    const existing = this.tokens.get(key);
    if (existing !== undefined) {
      const cached = await existing.catch(() => undefined);
      if (cached !== undefined && cached.renewAt > this.options.now()) return { token: cached.token, fresh: false };
      if (this.tokens.get(key) === existing) this.tokens.delete(key);
    }
    // concurrent requests for the same scopes share one fetch
    let pending = this.tokens.get(key);
    if (pending === undefined) {
      pending = this.fetchToken([...scopes, ...(this.extraScopes.get(key) ?? [])]);
      this.tokens.set(key, pending);
      const settled = pending;
      settled.catch(() => {
        if (this.tokens.get(key) === settled) this.tokens.delete(key);
      });
    }
    return { token: (await pending).token, fresh: true };
  }

  private async fetchToken(scopes: readonly string[]): Promise<CachedToken> {
    const params = this.challenge?.params ?? {};
    const realm = params.realm;
    if (realm === undefined || !/^https?:\/\//i.test(realm)) {
      throw registryError(RegistryErrors.tokenFailed, [realm ?? '(no realm)', 'the registry\'s Bearer challenge has no usable realm']);
    }
    const credentials = await this.credentials();
    const url = new URL(realm);
    const headers: Record<string, string> = {};
    let body: string | undefined;
    let method = 'GET';
    if (credentials?.identityToken !== undefined) {
      // OAuth2 refresh-token grant (docker's identity tokens)
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        client_id: this.options.clientId,
        ...(params.service !== undefined ? { service: params.service } : {}),
      });
      if (scopes.length > 0) form.set('scope', scopes.join(' '));
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (params.service !== undefined) url.searchParams.set('service', params.service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      if (credentials !== undefined) headers.authorization = basicHeader(credentials);
    }
    const requestedAt = this.options.now();
    const response = await this.options.transport.send({
      method,
      url: url.toString(),
      headers,
      ...(body !== undefined ? { body: () => body } : {}),
    });
    if (response.status === 401 || response.status === 403) {
      const { codes } = await readErrorBody(response);
      throw registryErrorWithHint(
        RegistryErrors.unauthorized,
        [this.options.registry, credentials === undefined ? 'anonymous access was refused' : `the credentials for ${credentials.username || 'it'} were refused`],
        `Run \`strata login ${this.options.registry}\` with a valid user and password, then retry.`,
        { status: response.status, registryCodes: codes },
      );
    }
    if (!response.ok) {
      const { detail } = await readErrorBody(response);
      throw registryError(RegistryErrors.tokenFailed, [realm, `HTTP ${response.status}${detail ? `: ${detail}` : ''}`], { status: response.status });
    }
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      json = (await response.json()) as typeof json;
    } catch (error) {
      throw registryError(RegistryErrors.tokenFailed, [realm, 'the answer is not JSON'], { cause: error });
    }
    const token = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
    if (typeof token !== 'string' || token === '') {
      throw registryError(RegistryErrors.tokenFailed, [realm, 'the answer has no token']);
    }
    const seconds = typeof json.expires_in === 'number' && json.expires_in > 0 ? Math.max(json.expires_in, MIN_TOKEN_SECONDS) : MIN_TOKEN_SECONDS;
    // renew a little early: 10% of the lifetime, at most 30 s
    const margin = Math.min(30_000, seconds * 100);
    this.options.onEvent({ type: 'token-fetched', registry: this.options.registry, scopes: [...scopes], anonymous: credentials === undefined });
    return { token, renewAt: requestedAt + seconds * 1000 - margin };
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
