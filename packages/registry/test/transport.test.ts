// Scheme choice, retries and error mapping, with a scripted fetch in place of the network.
import { insecureRegistriesFromEnv, isInsecureRegistry, parseReference, RegistryClient, type RegistryEvent } from '@strata/registry';

describe('isInsecureRegistry', () => {
  it.each([
    ['localhost', true],
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.3.4.5', true],
    ['[::1]:5000', true],
    ['registry.example.com', false],
    ['10.1.2.3:5000', false],
    ['docker.io', false],
  ])('%s -> %s by default', (host, expected) => {
    expect(isInsecureRegistry(host)).toBe(expected);
  });

  it('honours the insecure list: host, host:port, URL and IPv4 CIDR', () => {
    expect(isInsecureRegistry('registry.lan:5000', ['registry.lan:5000'])).toBe(true);
    expect(isInsecureRegistry('registry.lan:5000', ['registry.lan'])).toBe(true);
    expect(isInsecureRegistry('registry.lan:5000', ['http://registry.lan:5000/'])).toBe(true);
    expect(isInsecureRegistry('registry.lan:5001', ['registry.lan:5000'])).toBe(false);
    expect(isInsecureRegistry('10.1.2.3:5000', ['10.0.0.0/8'])).toBe(true);
    expect(isInsecureRegistry('11.1.2.3:5000', ['10.0.0.0/8'])).toBe(false);
  });

  it('reads STRATA_INSECURE_REGISTRIES', () => {
    expect(insecureRegistriesFromEnv({ STRATA_INSECURE_REGISTRIES: 'a.lan:5000, b.lan 10.0.0.0/8' })).toEqual(['a.lan:5000', 'b.lan', '10.0.0.0/8']);
    expect(insecureRegistriesFromEnv({})).toEqual([]);
  });
});

type Step = { status: number; headers?: Record<string, string>; body?: string } | { error: Error };

/** A fetch that answers from a script and records each request. */
function scripted(steps: Step[]): { fetch: typeof fetch; calls: { url: string; method: string; authorization?: string }[] } {
  const calls: { url: string; method: string; authorization?: string }[] = [];
  const fake = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    calls.push({ url: String(input), method: init?.method ?? 'GET', ...(headers.authorization ? { authorization: headers.authorization } : {}) });
    const step = steps.shift();
    if (step === undefined) throw new Error(`unexpected request ${String(input)}`);
    if ('error' in step) throw step.error;
    return new Response(step.body ?? '', { status: step.status, headers: step.headers ?? {} });
  };
  return { fetch: fake as typeof fetch, calls };
}

const socketError = (code: string): Error => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error(`connect ${code}`), { code }) });
const manifest = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${'c'.repeat(64)}`, size: 2 }, layers: [] });

describe('RegistryClient over a scripted network', () => {
  const options = { credentials: async () => undefined, retries: 2, baseDelayMs: 1, maxDelayMs: 2 };

  it('uses https for registries that are not local', async () => {
    const { fetch, calls } = scripted([{ status: 200 }, { status: 200, body: manifest, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' } }]);
    await new RegistryClient({ ...options, fetch }).getManifest(parseReference('registry.example.com/a/b:c'));
    expect(calls.map((c) => c.url)).toEqual(['https://registry.example.com/v2/', 'https://registry.example.com/v2/a/b/manifests/c']);
  });

  it('talks to registry-1.docker.io for docker.io', async () => {
    const { fetch, calls } = scripted([{ status: 200 }, { status: 200, body: manifest }]);
    await new RegistryClient({ ...options, fetch }).getManifest(parseReference('busybox'));
    expect(calls[1]?.url).toBe('https://registry-1.docker.io/v2/library/busybox/manifests/latest');
  });

  it('maps an unresolvable host to REGISTRY_UNKNOWN_HOST without retrying', async () => {
    const { fetch, calls } = scripted([{ error: socketError('ENOTFOUND') }]);
    await expect(new RegistryClient({ ...options, fetch }).getManifest(parseReference('nope.example/a:b'))).rejects.toMatchObject({
      code: 'REGISTRY_UNKNOWN_HOST',
      message: expect.stringContaining('nope.example') as unknown,
    });
    expect(calls).toHaveLength(1);
  });

  it.each(['DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO'])(
    'maps %s to REGISTRY_TLS_FAILED with a hint on CAs and --insecure-registry, without retrying',
    async (code) => {
      const { fetch, calls } = scripted([{ error: socketError(code) }]);
      const error = await new RegistryClient({ ...options, fetch }).ping('r.example:5000').catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'REGISTRY_TLS_FAILED', message: expect.stringContaining('r.example:5000') as unknown });
      expect((error as { hint: string }).hint).toMatch(/NODE_EXTRA_CA_CERTS.*--insecure-registry/s);
      expect(calls).toHaveLength(1);
    },
  );

  it('retries connection resets and then reports REGISTRY_CONNECTION_FAILED', async () => {
    const events: RegistryEvent[] = [];
    const { fetch, calls } = scripted([{ error: socketError('ECONNRESET') }, { error: socketError('ECONNRESET') }, { error: socketError('ECONNRESET') }]);
    await expect(new RegistryClient({ ...options, fetch, onEvent: (e) => events.push(e) }).ping('r.example')).rejects.toMatchObject({
      code: 'REGISTRY_CONNECTION_FAILED',
    });
    expect(calls).toHaveLength(3);
    expect(events.map((e) => e.type)).toEqual(['request-retry', 'request-retry']);
  });

  it('retries 503 and 429, then succeeds', async () => {
    const { fetch, calls } = scripted([{ status: 503 }, { status: 429, headers: { 'retry-after': '0' } }, { status: 200 }]);
    expect(await new RegistryClient({ ...options, fetch }).ping('r.example')).toEqual({ auth: 'none', apiVersion: undefined });
    expect(calls).toHaveLength(3);
  });

  it('does not retry 4xx answers', async () => {
    const { fetch, calls } = scripted([
      { status: 200 },
      { status: 404, body: JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }) },
    ]);
    await expect(new RegistryClient({ ...options, fetch }).getManifest(parseReference('r.example/a:b'))).rejects.toMatchObject({ code: 'REGISTRY_NAME_UNKNOWN' });
    expect(calls).toHaveLength(2);
  });

  it('maps 403 to REGISTRY_DENIED', async () => {
    const { fetch } = scripted([{ status: 200 }, { status: 403, body: JSON.stringify({ errors: [{ code: 'DENIED' }] }) }]);
    await expect(new RegistryClient({ ...options, fetch }).getManifest(parseReference('r.example/a:b'))).rejects.toMatchObject({ code: 'REGISTRY_DENIED' });
  });

  it('gets a bearer token with credentials and sends it', async () => {
    const challenge = 'Bearer realm="https://auth.example/token",service="r.example"';
    const { fetch, calls } = scripted([
      { status: 401, headers: { 'www-authenticate': challenge } },
      { status: 200, body: JSON.stringify({ access_token: 'tok-1', expires_in: 300 }) },
      { status: 200, body: manifest },
    ]);
    const client = new RegistryClient({ ...options, fetch, credentials: async () => ({ username: 'u', password: 'p' }) });
    await client.getManifest(parseReference('r.example/team/app:1'));
    expect(calls[1]?.url).toBe('https://auth.example/token?service=r.example&scope=repository%3Ateam%2Fapp%3Apull');
    expect(calls[1]?.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    expect(calls[2]?.authorization).toBe('Bearer tok-1');
  });

  it('adds the scopes a challenge asks for to the token request', async () => {
    const { fetch, calls } = scripted([
      { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="r.example"' } },
      { status: 200, body: JSON.stringify({ token: 'narrow' }) },
      {
        status: 401,
        headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="r.example",scope="repository:team/app:pull registry:catalog:*"' },
      },
      { status: 200, body: JSON.stringify({ token: 'wide' }) },
      { status: 200, body: manifest },
    ]);
    const client = new RegistryClient({ ...options, fetch, credentials: async () => ({ username: 'u', password: 'p' }) });
    await client.getManifest(parseReference('r.example/team/app:1'));
    expect(new URL(calls[3]?.url ?? '').searchParams.getAll('scope')).toEqual(['repository:team/app:pull', 'registry:catalog:*']);
    expect(calls[4]?.authorization).toBe('Bearer wide');
  });

  it('does not loop when a fresh token is refused', async () => {
    const challenge = 'Bearer realm="https://auth.example/token",service="r.example",scope="repository:team/app:pull"';
    const { fetch, calls } = scripted([
      { status: 401, headers: { 'www-authenticate': challenge } },
      { status: 200, body: JSON.stringify({ token: 't' }) },
      { status: 401, headers: { 'www-authenticate': `${challenge},error="insufficient_scope"` } },
    ]);
    const client = new RegistryClient({ ...options, fetch, credentials: async () => undefined });
    await expect(client.getManifest(parseReference('r.example/team/app:1'))).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    expect(calls).toHaveLength(3);
  });

  it('uses the OAuth2 refresh-token grant for identity tokens', async () => {
    const challenge = 'Bearer realm="https://auth.example/token",service="r.example"';
    const bodies: string[] = [];
    const { fetch: inner, calls } = scripted([
      { status: 401, headers: { 'www-authenticate': challenge } },
      { status: 200, body: JSON.stringify({ access_token: 'tok-2' }) },
      { status: 200, body: manifest },
    ]);
    const fetch = ((input: string, init?: RequestInit) => {
      if (typeof init?.body === 'string') bodies.push(init.body);
      return inner(input, init);
    }) as typeof globalThis.fetch;
    const client = new RegistryClient({ ...options, fetch, credentials: async () => ({ username: '', password: '', identityToken: 'refresh-xyz' }) });
    await client.getManifest(parseReference('r.example/team/app:1'));
    expect(calls[1]?.method).toBe('POST');
    expect(new URLSearchParams(bodies[0])).toEqual(
      new URLSearchParams({ grant_type: 'refresh_token', refresh_token: 'refresh-xyz', client_id: 'strata', service: 'r.example', scope: 'repository:team/app:pull' }),
    );
    expect(calls[2]?.authorization).toBe('Bearer tok-2');
  });

  it('sends Basic credentials after a Basic challenge', async () => {
    const { fetch, calls } = scripted([
      { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } },
      { status: 200, body: manifest },
    ]);
    const client = new RegistryClient({ ...options, fetch, credentials: async () => ({ username: 'u', password: 'p' }) });
    await client.getManifest(parseReference('r.example/a:b'));
    expect(calls[1]?.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('rejects a manifest whose bytes do not match the Docker-Content-Digest', async () => {
    const { fetch } = scripted([
      { status: 200 },
      { status: 200, body: manifest, headers: { 'docker-content-digest': `sha256:${'d'.repeat(64)}` } },
      { status: 200, body: manifest, headers: { 'docker-content-digest': `sha256:${'d'.repeat(64)}` } },
      { status: 200, body: manifest, headers: { 'docker-content-digest': `sha256:${'d'.repeat(64)}` } },
    ]);
    await expect(new RegistryClient({ ...options, fetch }).getManifest(parseReference('r.example/a:b'))).rejects.toMatchObject({
      code: 'REGISTRY_DIGEST_MISMATCH',
    });
  });
});
