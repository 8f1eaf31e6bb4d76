// Proves tests/support/registry.ts: the real reference registry in its three
// auth modes, checked with plain HTTP requests and with skopeo as an oracle.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { startRegistry, type TestRegistry } from './support/registry.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(60_000);

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A one-file ustar archive, enough for a real layer. */
function tarWithFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148); // checksum computed with spaces
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

/** Writes a one-layer linux/amd64 image as an OCI layout; returns its digests. */
async function writeTinyLayout(dir: string): Promise<{ manifestDigest: string; layerDigest: string }> {
  const tar = tarWithFile('hello.txt', Buffer.from('hello from strata\n'));
  const layer = gzipSync(tar);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [sha256(tar)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    }),
  );
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  for (const blob of [layer, config, manifest]) {
    await writeFile(join(blobs, sha256(blob).slice('sha256:'.length)), blob);
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: sha256(manifest),
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'tiny' },
        },
      ],
    }),
  );
  return { manifestDigest: sha256(manifest), layerDigest: sha256(layer) };
}

/** skopeo with an empty auth file, so only the credentials a test passes count. */
function skopeo(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, REGISTRY_AUTH_FILE: join(workDir, 'auth.json') };
  return execFileAsync('skopeo', ['--insecure-policy', ...args], { env });
}

const basicHeader = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let workDir: string;
let layoutDir: string;
let tiny: { manifestDigest: string; layerDigest: string };

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'strata-helper-test-'));
  layoutDir = join(workDir, 'layout');
  tiny = await writeTinyLayout(layoutDir);
  await writeFile(join(workDir, 'auth.json'), '{"auths":{}}');
});

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('startRegistry: no auth', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'none' });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('listens on 127.0.0.1 and answers /v2/ with the distribution API header', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('accepts a skopeo push and serves the image back', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${layoutDir}:tiny`, `docker://${registry.host}/helper/tiny:v1`]);
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', `docker://${registry.host}/helper/tiny:v1`]);
    const info = JSON.parse(stdout) as { Digest: string; Architecture: string; Layers: string[] };
    expect(info.Digest).toBe(tiny.manifestDigest);
    expect(info.Architecture).toBe('amd64');
    expect(info.Layers).toEqual([tiny.layerDigest]);
    const head = await fetch(`${registry.url}/v2/helper/tiny/blobs/${tiny.layerDigest}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('has deletes enabled', async () => {
    const res = await fetch(`${registry.url}/v2/helper/tiny/manifests/${tiny.manifestDigest}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    const after = await fetch(`${registry.url}/v2/helper/tiny/manifests/${tiny.manifestDigest}`, { method: 'HEAD' });
    expect(after.status).toBe(404);
  });

  it('stop() ends the process and removes its temp dir', async () => {
    const other = await startRegistry();
    const pid = other.pid;
    await other.stop();
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(fetch(`${other.url}/v2/`)).rejects.toThrow();
    const { existsSync } = await import('node:fs');
    expect(existsSync(other.dir)).toBe(false);
  });
});

describe('startRegistry: basic auth', () => {
  let registry: TestRegistry;
  const user = { name: 'alice', password: 'wonder-land-42' };
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'basic', users: [user] });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  it('challenges without credentials and accepts the right ones only', async () => {
    const anonymous = await fetch(`${registry.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="strata-test"/);
    const wrong = await fetch(`${registry.url}/v2/`, { headers: { authorization: basicHeader(user.name, 'nope') } });
    expect(wrong.status).toBe(401);
    const right = await fetch(`${registry.url}/v2/`, { headers: { authorization: basicHeader(user.name, user.password) } });
    expect(right.status).toBe(200);
  });

  it('stores the users in a bcrypt htpasswd file', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(registry.htpasswdPath ?? '', 'utf8');
    expect(text).toMatch(/^alice:\$2y\$/);
  });

  it('lets skopeo push with credentials and refuses it without', async () => {
    const dest = `docker://${registry.host}/helper/basic:v1`;
    await expect(skopeo(['copy', '--dest-tls-verify=false', `oci:${layoutDir}:tiny`, dest])).rejects.toThrow(
      /authentication required|unauthorized/i,
    );
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${user.name}:${user.password}`, `oci:${layoutDir}:tiny`, dest]);
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', '--creds', `${user.name}:${user.password}`, dest]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(tiny.manifestDigest);
  });
});

describe('startRegistry: token auth', () => {
  let registry: TestRegistry;
  const user = { name: 'bob', password: 'builder-99' };
  beforeAll(async () => {
    registry = await startRegistry({ auth: 'token', users: [user] });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  const tokenFor = async (scope: string | undefined, creds?: { name: string; password: string }): Promise<Response> => {
    const url = new URL(registry.token?.realm ?? '');
    url.searchParams.set('service', registry.token?.service ?? '');
    if (scope !== undefined) url.searchParams.set('scope', scope);
    return fetch(url, creds ? { headers: { authorization: basicHeader(creds.name, creds.password) } } : {});
  };

  it('challenges with a Bearer realm and service', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain(`Bearer realm="${registry.token?.realm}"`);
    expect(challenge).toContain(`service="${registry.token?.service}"`);
  });

  it('issues tokens the registry accepts', async () => {
    const tokenRes = await tokenFor(undefined, user);
    expect(tokenRes.status).toBe(200);
    const body = (await tokenRes.json()) as { token: string; access_token: string; expires_in: number };
    expect(body.token).toBe(body.access_token);
    expect(body.expires_in).toBeGreaterThan(0);
    const res = await fetch(`${registry.url}/v2/`, { headers: { authorization: `Bearer ${body.token}` } });
    expect(res.status).toBe(200);
  });

  it('refuses a wrong password at the token endpoint', async () => {
    const res = await tokenFor('repository:helper/token:pull,push', { name: user.name, password: 'wrong' });
    expect(res.status).toBe(401);
  });

  it('grants push to a user and not to anonymous requests', async () => {
    const start = async (token: string): Promise<number> => {
      const res = await fetch(`${registry.url}/v2/helper/token/blobs/uploads/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      await res.arrayBuffer();
      return res.status;
    };
    const scope = 'repository:helper/token:pull,push';
    const anonymous = (await (await tokenFor(scope)).json()) as { token: string };
    expect(await start(anonymous.token)).toBe(401);
    const granted = (await (await tokenFor(scope, user)).json()) as { token: string };
    expect(await start(granted.token)).toBe(202);
  });

  it('lets skopeo push and inspect with credentials', async () => {
    const dest = `docker://${registry.host}/helper/token:v1`;
    await expect(skopeo(['copy', '--dest-tls-verify=false', `oci:${layoutDir}:tiny`, dest])).rejects.toThrow(
      /authentication required|unauthorized/i,
    );
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `${user.name}:${user.password}`, `oci:${layoutDir}:tiny`, dest]);
    const { stdout } = await skopeo(['inspect', '--tls-verify=false', '--creds', `${user.name}:${user.password}`, dest]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(tiny.manifestDigest);
    const requests = registry.token?.server.requests ?? [];
    expect(requests.some((r) => r.user === user.name && r.scopes.some((s) => s.startsWith('repository:helper/token:')))).toBe(true);
  });
});
