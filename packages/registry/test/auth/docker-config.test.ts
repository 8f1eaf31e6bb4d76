// Docker config credentials: auths, credHelpers, credsStore through a fake
// docker-credential-<name> helper on PATH, storing with mode 0600.
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerConfigDir, eraseCredentials, getCredentials, storeCredentials } from '@strata/registry';

let dir: string;
let configDir: string;
let binDir: string;
let helperStore: string;
let env: NodeJS.ProcessEnv;

// A credential helper speaking docker's protocol, keeping secrets as files
// (a shell script: spawning it costs little even on a loaded machine).
const HELPER = `#!/bin/sh
store="$FAKE_HELPER_STORE"
key() { printf '%s' "$1" | tr -c 'A-Za-z0-9' '_'; }
input=$(cat)
case "$1" in
  store) server=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\\([^"]*\\)".*/\\1/p') ;;
  *) server="$input" ;;
esac
echo "$1 $server" >> "$store/calls.log"
file="$store/$(key "$server")"
case "$1" in
  get) [ -f "$file" ] || { echo "credentials not found in native keychain"; exit 1; }; cat "$file" ;;
  store) printf '%s' "$input" > "$file" ;;
  erase) [ -f "$file" ] || { echo "credentials not found in native keychain"; exit 1; }; rm "$file" ;;
  *) exit 2 ;;
esac
`;

jest.setTimeout(20_000);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'strata-creds-'));
  configDir = join(dir, 'docker');
  binDir = join(dir, 'bin');
  helperStore = join(dir, 'helper-store');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(binDir);
  await mkdir(helperStore);
  await writeFile(join(binDir, 'docker-credential-fake'), HELPER);
  await chmod(join(binDir, 'docker-credential-fake'), 0o755);
  env = { ...process.env, PATH: `${binDir}:${process.env.PATH ?? ''}`, FAKE_HELPER_STORE: helperStore, DOCKER_CONFIG: configDir };
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const writeConfig = async (config: unknown): Promise<void> => {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(configDir, { recursive: true });
  await writeFile(join(configDir, 'config.json'), JSON.stringify(config));
};
const b64 = (s: string): string => Buffer.from(s).toString('base64');
const helperCalls = async (): Promise<string[]> =>
  (await readFile(join(helperStore, 'calls.log'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

describe('reading', () => {
  it('honours DOCKER_CONFIG', () => {
    expect(dockerConfigDir({ env: { DOCKER_CONFIG: '/x/y' } })).toBe('/x/y');
    expect(dockerConfigDir({ env: { HOME: '/home/u' } })).toBe('/home/u/.docker');
  });

  it('decodes base64 auths, matching keys written as URLs', async () => {
    await writeConfig({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') },
        'http://localhost:5000': { auth: b64('local:pw:with:colons') },
        'ghcr.io': { username: 'g', password: 'p' },
        'quay.io': { identitytoken: 'refresh-me' },
      },
    });
    expect(await getCredentials('docker.io', { env })).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(await getCredentials('localhost:5000', { env })).toEqual({ username: 'local', password: 'pw:with:colons' });
    expect(await getCredentials('ghcr.io', { env })).toEqual({ username: 'g', password: 'p' });
    expect(await getCredentials('quay.io', { env })).toEqual({ username: '', password: '', identityToken: 'refresh-me' });
    expect(await getCredentials('example.com', { env })).toBeUndefined();
  });

  it('answers undefined without a config file', async () => {
    expect(await getCredentials('docker.io', { env })).toBeUndefined();
  });

  it('asks the credHelpers entry for its registry, and credsStore otherwise', async () => {
    await writeFile(join(helperStore, 'unused'), '');
    await writeConfig({ credHelpers: { 'registry.example.com': 'fake' } });
    await storeCredentials('registry.example.com', { username: 'h', password: 'secret' }, { env });
    expect(await getCredentials('registry.example.com', { env })).toEqual({ username: 'h', password: 'secret' });
    expect(await getCredentials('other.example.com', { env })).toBeUndefined();
    expect(await helperCalls()).toEqual(['store registry.example.com', 'get registry.example.com']);
  });

  it('reads identity tokens from helpers (Username <token>)', async () => {
    await writeConfig({ credsStore: 'fake' });
    await storeCredentials('docker.io', { username: 'u', password: '', identityToken: 'tok' }, { env });
    expect(await getCredentials('docker.io', { env })).toEqual({ username: '', password: '', identityToken: 'tok' });
    expect(await helperCalls()).toEqual(['store https://index.docker.io/v1/', 'get https://index.docker.io/v1/']);
  });

  it('reports a missing helper as REGISTRY_CREDENTIAL_HELPER_FAILED', async () => {
    await writeConfig({ credsStore: 'does-not-exist' });
    await expect(getCredentials('docker.io', { env })).rejects.toMatchObject({
      code: 'REGISTRY_CREDENTIAL_HELPER_FAILED',
      message: expect.stringContaining('docker-credential-does-not-exist get') as unknown,
    });
  });

  it('reports a damaged config.json as REGISTRY_CONFIG_INVALID', async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), '{"auths": ');
    await expect(getCredentials('docker.io', { env })).rejects.toMatchObject({ code: 'REGISTRY_CONFIG_INVALID' });
  });
});

describe('storing', () => {
  it('writes config.json with mode 0600, keeping other settings', async () => {
    await writeConfig({ auths: { 'ghcr.io': { auth: b64('a:b') } }, detachKeys: 'ctrl-x', proxies: { default: {} } });
    const where = await storeCredentials('localhost:5000', { username: 'me', password: 'pw' }, { env });
    const path = join(configDir, 'config.json');
    expect(where).toEqual({ kind: 'file', path });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const config = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    expect(config).toEqual({
      auths: { 'ghcr.io': { auth: b64('a:b') }, 'localhost:5000': { auth: b64('me:pw') } },
      detachKeys: 'ctrl-x',
      proxies: { default: {} },
    });
    expect((await readdir(configDir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('creates the folder and file when absent, Docker Hub under its historical key', async () => {
    await storeCredentials('docker.io', { username: 'me', password: 'pw' }, { env });
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    expect(Object.keys(config.auths)).toEqual(['https://index.docker.io/v1/']);
    expect((await stat(configDir)).mode & 0o777).toBe(0o700);
  });

  it('replaces an existing entry written under another spelling', async () => {
    await writeConfig({ auths: { 'https://localhost:5000/v1/': { auth: b64('old:old') } } });
    await storeCredentials('localhost:5000', { username: 'new', password: 'new' }, { env });
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as { auths: Record<string, unknown> };
    expect(config.auths).toEqual({ 'localhost:5000': { auth: b64('new:new') } });
  });

  it('stores through credsStore and keeps no secret in config.json', async () => {
    await writeConfig({ credsStore: 'fake', auths: { 'localhost:5000': { auth: b64('plain:text') } } });
    const where = await storeCredentials('localhost:5000', { username: 'me', password: 'pw' }, { env });
    expect(where).toEqual({ kind: 'helper', helper: 'fake' });
    const text = await readFile(join(configDir, 'config.json'), 'utf8');
    expect(text).not.toContain(b64('plain:text'));
    expect(text).not.toContain('pw');
    expect(await getCredentials('localhost:5000', { env })).toEqual({ username: 'me', password: 'pw' });
  });

  it('erases from the helper and the file', async () => {
    await writeConfig({ credHelpers: { 'a.example': 'fake' }, auths: { 'b.example': { auth: b64('x:y') } } });
    await storeCredentials('a.example', { username: 'u', password: 'p' }, { env });
    expect(await eraseCredentials('a.example', { env })).toBe(true);
    expect(await getCredentials('a.example', { env })).toBeUndefined();
    expect(await eraseCredentials('b.example', { env })).toBe(true);
    expect(await getCredentials('b.example', { env })).toBeUndefined();
    expect(await eraseCredentials('c.example', { env })).toBe(false);
  });
});
