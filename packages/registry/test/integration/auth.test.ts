// Basic and bearer-token auth against the real reference registry.
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fetchBlob, getCredentials, parseReference, RegistryClient, storeCredentials,
  type Credentials, type RegistryClientOptions, type RegistryEvent,
} from '@strata/registry';
import { startRegistry, type TestRegistry } from '../../../../tests/support/registry.js';
import { makeImage, pushTestImage } from '../support/images.js';

jest.setTimeout(60_000);

const user = { name: 'carol', password: 'carol-pass-123' };
const good: Credentials = { username: user.name, password: user.password };
const bad: Credentials = { username: user.name, password: 'not-it' };

function client(credentials: Credentials | undefined, events: RegistryEvent[] = [], options: Partial<RegistryClientOptions> = {}): RegistryClient {
  return new RegistryClient({ credentials: async () => credentials, onEvent: (e) => events.push(e), ...options });
}

describe.each(['basic', 'token'] as const)('%s auth', (mode) => {
  let registry: TestRegistry;
  let configDir: string;
  beforeAll(async () => {
    registry = await startRegistry({ auth: mode, users: [user] });
    configDir = await mkdtemp(join(tmpdir(), 'strata-docker-config-'));
  });
  afterAll(async () => {
    await registry?.stop();
    await rm(configDir, { recursive: true, force: true });
  });

  it('ping reports the scheme', async () => {
    expect((await client(undefined).ping(registry.host)).auth).toBe(mode === 'basic' ? 'basic' : 'bearer');
  });

  it('refuses a push without credentials with an error naming `strata login`', async () => {
    const ref = parseReference(`${registry.host}/team/app:v1`);
    const error = await pushTestImage(client(undefined), ref, makeImage()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'REGISTRY_UNAUTHORIZED', status: 401 });
    expect((error as { hint: string }).hint).toContain(`strata login ${registry.host}`);
    expect((error as Error).message).toContain(`run \`strata login ${registry.host}\``);
  });

  it('refuses a wrong password', async () => {
    const ref = parseReference(`${registry.host}/team/app:v1`);
    await expect(pushTestImage(client(bad), ref, makeImage())).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
    await expect(client(undefined).checkCredentials(registry.host, bad)).rejects.toMatchObject({ code: 'REGISTRY_UNAUTHORIZED' });
  });

  it('pushes and pulls with the right credentials', async () => {
    await client(undefined).checkCredentials(registry.host, good);
    const image = makeImage();
    const ref = parseReference(`${registry.host}/team/app:v1`);
    const results = await pushTestImage(client(good), ref, image);
    expect(results.every((r) => r.outcome === 'uploaded')).toBe(true);
    const resolved = await client(good).resolveImage(ref);
    expect(resolved.manifest.digest).toBe(image.manifestDigest);
    const layer = image.layers[0];
    if (layer === undefined) throw new Error('no layer');
    expect((await fetchBlob(client(good), ref, layer.descriptor)).equals(layer.data)).toBe(true);
  });

  it('uses credentials stored in a docker config.json (mode 0600)', async () => {
    const source = await storeCredentials(registry.host, good, { configDir });
    expect(source).toEqual({ kind: 'file', path: join(configDir, 'config.json') });
    expect((await stat(join(configDir, 'config.json'))).mode & 0o777).toBe(0o600);
    expect(await getCredentials(registry.host, { configDir })).toEqual(good);
    const fromConfig = new RegistryClient({ dockerConfig: { configDir } });
    const ref = parseReference(`${registry.host}/team/from-config:v1`);
    await pushTestImage(fromConfig, ref, makeImage());
    expect((await fromConfig.headManifest(ref))?.digest).toMatch(/^sha256:/);
  });
});

describe('token auth details', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token', users: [user], tokenExpiresIn: 300 });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const tokenEvents = (events: RegistryEvent[]): string[][] =>
    events.flatMap((e) => (e.type === 'token-fetched' ? [[...e.scopes]] : []));

  it('lets anonymous users pull but not push', async () => {
    const image = makeImage();
    const ref = parseReference(`${registry.host}/open/app:v1`);
    await pushTestImage(client(good), ref, image);
    const events: RegistryEvent[] = [];
    const resolved = await client(undefined, events).resolveImage(ref);
    expect(resolved.manifest.digest).toBe(image.manifestDigest);
    expect(events.some((e) => e.type === 'token-fetched' && e.anonymous)).toBe(true);
    await expect(pushTestImage(client(undefined), parseReference(`${registry.host}/open/app:v2`), makeImage())).rejects.toMatchObject({
      code: 'REGISTRY_UNAUTHORIZED',
    });
  });

  it('fetches one token per scope set and reuses it', async () => {
    const events: RegistryEvent[] = [];
    const c = client(good, events);
    const ref = parseReference(`${registry.host}/cache/app:v1`);
    await pushTestImage(c, ref, makeImage({ layerSizes: [100, 200, 300, 400] }));
    const fetched = tokenEvents(events);
    // push scope for the blobs and manifest; pull scope for HEADs
    expect(fetched.length).toBeGreaterThan(0);
    expect(new Set(fetched.map((s) => s.join(' '))).size).toBe(fetched.length);
    const before = registry.token?.server.requests.length ?? 0;
    await pushTestImage(c, ref, makeImage({ layerSizes: [10, 20] }));
    expect(tokenEvents(events).length).toBe(fetched.length);
    expect(registry.token?.server.requests.length).toBe(before);
  });

  it('renews a token when it expires', async () => {
    let now = Date.now();
    const events: RegistryEvent[] = [];
    const c = client(good, events, { now: () => now });
    const ref = parseReference(`${registry.host}/renew/app:v1`);
    await pushTestImage(c, ref, makeImage());
    await c.headManifest(ref);
    const first = tokenEvents(events).filter((s) => s.join() === 'repository:renew/app:pull').length;
    expect(first).toBe(1);
    await c.headManifest(ref);
    expect(tokenEvents(events).filter((s) => s.join() === 'repository:renew/app:pull').length).toBe(1);
    now += 301_000;
    await c.headManifest(ref);
    expect(tokenEvents(events).filter((s) => s.join() === 'repository:renew/app:pull').length).toBe(2);
  });

  it('mounts across repositories with a token that grants both', async () => {
    const image = makeImage();
    await pushTestImage(client(good), parseReference(`${registry.host}/mount/src:v1`), image);
    const events: RegistryEvent[] = [];
    const results = await pushTestImage(client(good, events), parseReference(`${registry.host}/mount/dst:v1`), image, {
      mountFrom: ['mount/src'],
    });
    expect(results.map((r) => r.outcome)).toEqual(['mounted', 'mounted', 'mounted']);
    expect(tokenEvents(events)).toContainEqual(['repository:mount/dst:pull,push', 'repository:mount/src:pull']);
  });

  it('reports a broken docker config as REGISTRY_CONFIG_INVALID', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-bad-config-'));
    try {
      await writeFile(join(dir, 'config.json'), '{ not json');
      const c = new RegistryClient({ dockerConfig: { configDir: dir } });
      await expect(c.getManifest(parseReference(`${registry.host}/open/app:v1`))).rejects.toMatchObject({ code: 'REGISTRY_CONFIG_INVALID' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
