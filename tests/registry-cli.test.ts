// strata login / pull / push / logout against the real reference registry
// with basic auth, run in-process through the CLI's main().
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { Store } from '@strata/cache';
import { main, type CliIo } from '@strata/cli';
import { parseReference, RegistryClient } from '@strata/registry';
import { makeImage, makeIndex, pushTestImage } from '../packages/registry/test/support/images.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(90_000);

const user = { name: 'dave', password: 'dave-s3cret' };
let registry: TestRegistry;
let dir: string;
let env: NodeJS.ProcessEnv;
const base = makeImage({ layerSizes: [4000, 5000, 6000] });
const amd64 = makeImage({ platform: { os: 'linux', architecture: 'amd64' }, layerSizes: [100] });
const arm64 = makeImage({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, layerSizes: [200] });

async function strata(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const input = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  input.end(stdin);
  const io: CliIo = { stdout, stderr, stdin: input, env, cwd: dir, isTty: false };
  const code = await main(args, io);
  return { code, out, err };
}

const layerIds = (digests: string[]): string[] => digests.map((d) => d.slice(7, 19));

beforeAll(async () => {
  registry = await startRegistry({ auth: 'basic', users: [user] });
  dir = await mkdtemp(join(tmpdir(), 'strata-cli-registry-'));
  env = { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: join(dir, 'docker'), STRATA_ROOT: join(dir, 'store') };
  const client = new RegistryClient({ credentials: async () => ({ username: user.name, password: user.password }) });
  await pushTestImage(client, parseReference(`${registry.host}/base/img:1`), base);
  for (const image of [amd64, arm64]) {
    await pushTestImage(client, parseReference(`${registry.host}/multi/img@${image.manifestDigest}`), image);
  }
  const index = makeIndex([amd64, arm64]);
  await client.putManifest(parseReference(`${registry.host}/multi/img:latest`), index.bytes, index.mediaType);
});

afterAll(async () => {
  await registry?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('strata login / pull / push / logout', () => {
  it('refuses to pull before login, naming strata login', async () => {
    const r = await strata(['pull', `${registry.host}/base/img:1`]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('REGISTRY_UNAUTHORIZED');
    expect(r.err).toContain(`strata login ${registry.host}`);
  });

  it('refuses a wrong password and stores nothing', async () => {
    const r = await strata(['login', '-u', user.name, '--password-stdin', registry.host], 'wrong\n');
    expect(r.code).toBe(1);
    expect(r.err).toContain('REGISTRY_UNAUTHORIZED');
    expect(r.err).toContain(`the credentials for ${user.name} were refused`);
    await expect(stat(join(dir, 'docker', 'config.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('logs in, warns about plain-text storage, writes config.json with mode 0600', async () => {
    const r = await strata(['login', '-u', user.name, '--password-stdin', registry.host], `${user.password}\n`);
    expect(r).toMatchObject({ code: 0, out: 'Login Succeeded\n' });
    expect(r.err).toContain(`WARNING! Your password will be stored unencrypted in ${join(dir, 'docker', 'config.json')}`);
    const path = join(dir, 'docker', 'config.json');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(path, 'utf8')) as { auths: Record<string, { auth: string }> };
    expect(Buffer.from(config.auths[registry.host]?.auth ?? '', 'base64').toString()).toBe(`${user.name}:${user.password}`);
  });

  it('pulls as docker prints it', async () => {
    const r = await strata(['pull', `${registry.host}/base/img:1`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toBe('1: Pulling from base/img');
    expect(lines.filter((l) => l.endsWith(': Pull complete')).map((l) => l.slice(0, 12)).sort()).toEqual(
      layerIds([base.config, ...base.layers].map((b) => b.descriptor.digest)).sort(),
    );
    expect(lines.slice(-3)).toEqual([
      `Digest: ${base.manifestDigest}`,
      `Status: Downloaded newer image for ${registry.host}/base/img:1`,
      `${registry.host}/base/img:1`,
    ]);
    const again = await strata(['pull', `${registry.host}/base/img:1`]);
    expect(again.out).toContain(': Already exists');
    expect(again.out).toContain(`Status: Image is up to date for ${registry.host}/base/img:1`);
  });

  it('pulls the linux/arm64 image of a multi-platform index with --platform', async () => {
    const r = await strata(['pull', '--platform', 'linux/arm64', `${registry.host}/multi/img`]);
    expect(r.code).toBe(0);
    const store = await Store.open(join(dir, 'store'));
    const stored = await store.resolve(`${registry.host}/multi/img:latest`);
    expect(stored.digest).toBe(arm64.manifestDigest);
    expect(r.out).toContain(`Digest: ${makeIndex([amd64, arm64]).digest}`);
    const bad = await strata(['pull', '--platform', 'linux/s390x', `${registry.host}/multi/img`]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('REGISTRY_NO_MATCHING_PLATFORM');
    expect(bad.err).toContain('linux/amd64, linux/arm64');
  });

  it('pushes under a new name, mounting layers from the repository they came from', async () => {
    const store = await Store.open(join(dir, 'store'));
    await store.tag(`${registry.host}/app/img:2`, await store.resolve(`${registry.host}/base/img:1`));
    const r = await strata(['push', `${registry.host}/app/img:2`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const ids = layerIds(base.layers.map((l) => l.descriptor.digest)).reverse();
    expect(r.out).toBe(
      [
        `The push refers to repository [${registry.host}/app/img]`,
        ...ids.map((id) => `${id}: Mounted from base/img`),
        `2: digest: ${base.manifestDigest} size: ${base.manifestBytes.length}`,
        '',
      ].join('\n'),
    );
    const { stdout } = await execFileAsync('skopeo', [
      '--insecure-policy', 'inspect', '--tls-verify=false', '--creds', `${user.name}:${user.password}`, `docker://${registry.host}/app/img:2`,
    ]);
    expect((JSON.parse(stdout) as { Digest: string }).Digest).toBe(base.manifestDigest);
    const again = await strata(['push', `${registry.host}/app/img:2`]);
    expect(again.out).toContain(`${ids[0] ?? ''}: Layer already exists`);
  });

  it('logs out; pulls then need a login again', async () => {
    const r = await strata(['logout', registry.host]);
    expect(r).toMatchObject({ code: 0, out: `Removing login credentials for ${registry.host}\n` });
    expect((await strata(['logout', registry.host])).out).toBe(`Not logged in to ${registry.host}\n`);
    const pull = await strata(['pull', `${registry.host}/base/img:1`]);
    expect(pull.code).toBe(1);
    expect(pull.err).toContain('REGISTRY_UNAUTHORIZED');
  });

  it('reports usage errors with exit code 2', async () => {
    expect((await strata(['pull'])).code).toBe(2);
    expect((await strata(['login', '--password-stdin', registry.host])).code).toBe(2);
    const bad = await strata(['pull', 'Not/Valid']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('REGISTRY_INVALID_REFERENCE');
  });
});

describe('strata with a bearer-token registry', () => {
  let tokenRegistry: TestRegistry;
  const image = makeImage({ layerSizes: [3000, 3000] });

  beforeAll(async () => {
    tokenRegistry = await startRegistry({ auth: 'token', users: [user] });
    const client = new RegistryClient({ credentials: async () => ({ username: user.name, password: user.password }) });
    await pushTestImage(client, parseReference(`${tokenRegistry.host}/tok/base:1`), image);
  });

  afterAll(async () => {
    await tokenRegistry?.stop();
  });

  it('pulls anonymously, refuses an anonymous push, pushes after login', async () => {
    const pull = await strata(['pull', `${tokenRegistry.host}/tok/base:1`]);
    expect(pull.err).toBe('');
    expect(pull.code).toBe(0);
    const store = await Store.open(join(dir, 'store'));
    await store.tag(`${tokenRegistry.host}/tok/app:1`, await store.resolve(`${tokenRegistry.host}/tok/base:1`));

    const anonymous = await strata(['push', `${tokenRegistry.host}/tok/app:1`]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.err).toContain('REGISTRY_UNAUTHORIZED');
    expect(anonymous.err).toContain(`strata login ${tokenRegistry.host}`);

    const wrong = await strata(['login', '-u', user.name, '--password-stdin', tokenRegistry.host], 'nope');
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('REGISTRY_UNAUTHORIZED');

    expect((await strata(['login', '-u', user.name, '--password-stdin', tokenRegistry.host], user.password)).code).toBe(0);
    const push = await strata(['push', `${tokenRegistry.host}/tok/app:1`]);
    expect(push.err).toBe('');
    expect(push.code).toBe(0);
    expect(push.out).toContain(`${image.layers[0]?.descriptor.digest.slice(7, 19) ?? ''}: Mounted from tok/base`);
    expect(push.out).toContain(`1: digest: ${image.manifestDigest} size: ${image.manifestBytes.length}`);
    expect(tokenRegistry.token?.server.requests.some((r) => r.user === user.name && r.scopes.includes('repository:tok/base:pull'))).toBe(true);
  });
});
