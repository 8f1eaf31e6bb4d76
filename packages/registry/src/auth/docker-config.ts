// Credentials where docker users keep them: $DOCKER_CONFIG/config.json
// (default ~/.docker/config.json) with `auths` (base64 user:password),
// `credHelpers` (per registry) and `credsStore` (default helper), the helpers
// being `docker-credential-<name>` programs speaking get/store/erase on stdin.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { registryError, RegistryErrors } from '../errors.js';
import { credentialKey, normalizeRegistryHost } from '../reference.js';

export interface Credentials {
  readonly username: string;
  readonly password: string;
  /** An OAuth2 refresh token (docker's `identitytoken`), used instead of the password when set. */
  readonly identityToken?: string;
}

export interface DockerConfigOptions {
  /** The folder holding config.json; default $DOCKER_CONFIG, else ~/.docker. */
  readonly configDir?: string;
  /** Environment for DOCKER_CONFIG, HOME and PATH of helpers; default process.env. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Where credentials were found or stored. */
export type CredentialSource =
  | { readonly kind: 'helper'; readonly helper: string }
  | { readonly kind: 'file'; readonly path: string };

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
  [key: string]: unknown;
}

interface DockerConfigFile {
  auths?: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
  [key: string]: unknown;
}

/** The helper's answer when it has nothing for a server. */
const NOT_FOUND_RE = /credentials not found/i;
const IDENTITY_TOKEN_USER = '<token>';

export function dockerConfigDir(options: DockerConfigOptions = {}): string {
  const env = options.env ?? process.env;
  return options.configDir ?? env.DOCKER_CONFIG ?? join(env.HOME ?? homedir(), '.docker');
}

export function dockerConfigPath(options: DockerConfigOptions = {}): string {
  return join(dockerConfigDir(options), 'config.json');
}

async function readConfig(path: string): Promise<DockerConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw registryError(RegistryErrors.configInvalid, [path, (error as Error).message], { cause: error });
  }
  if (text.trim() === '') return {};
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('not a JSON object');
    return json as DockerConfigFile;
  } catch (error) {
    throw registryError(RegistryErrors.configInvalid, [path, (error as Error).message], { cause: error });
  }
}

/** The config's entry for a registry: keys are matched after normalization (`https://host/v1/` = `host`). */
function findKey<T>(map: Record<string, T> | undefined, registry: string): string | undefined {
  if (map === undefined) return undefined;
  const host = normalizeRegistryHost(registry);
  const exact = credentialKey(host);
  if (Object.hasOwn(map, exact)) return exact;
  return Object.keys(map).find((key) => normalizeRegistryHost(key) === host);
}

function helperFor(config: DockerConfigFile, registry: string): string | undefined {
  const key = findKey(config.credHelpers, registry);
  const helper = key === undefined ? undefined : config.credHelpers?.[key];
  return helper !== undefined && helper !== '' ? helper : config.credsStore !== '' ? config.credsStore : undefined;
}

/** Runs `docker-credential-<helper> <action>` with `input` on stdin; resolves stdout. */
function runHelper(helper: string, action: 'get' | 'store' | 'erase', input: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, [action], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (error) => {
      reject(registryError(RegistryErrors.credentialHelper, [helper, action, (error as Error).message], { cause: error }));
    });
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) {
        resolve(stdout);
        return;
      }
      const detail = (stdout.trim() || Buffer.concat(err).toString('utf8').trim()) || `exit code ${code}`;
      const error = registryError(RegistryErrors.credentialHelper, [helper, action, detail]);
      reject(error);
    });
    child.stdin.on('error', () => undefined); // the helper may exit before reading
    child.stdin.end(input);
  });
}

function decodeEntry(entry: AuthEntry): Credentials | undefined {
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') {
    return { username: entry.username ?? '', password: '', identityToken: entry.identitytoken };
  }
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/**
 * Finds the credentials docker would use for a registry (a host, `docker.io`,
 * or a config.json key). Undefined when there are none.
 */
export async function getCredentials(registry: string, options: DockerConfigOptions = {}): Promise<Credentials | undefined> {
  const env = options.env ?? process.env;
  const path = dockerConfigPath(options);
  const config = await readConfig(path);
  const helper = helperFor(config, registry);
  if (helper !== undefined) {
    const serverUrl = credentialKey(normalizeRegistryHost(registry));
    try {
      const stdout = await runHelper(helper, 'get', serverUrl, env);
      const answer = JSON.parse(stdout) as { Username?: string; Secret?: string };
      if (typeof answer.Secret === 'string' && answer.Secret !== '') {
        return answer.Username === IDENTITY_TOKEN_USER
          ? { username: '', password: '', identityToken: answer.Secret }
          : { username: answer.Username ?? '', password: answer.Secret };
      }
    } catch (error) {
      if (!NOT_FOUND_RE.test((error as Error).message)) throw error;
    }
  }
  const key = findKey(config.auths, registry);
  const entry = key === undefined ? undefined : config.auths?.[key];
  return entry === undefined ? undefined : decodeEntry(entry);
}

async function writeConfig(path: string, dir: string, config: DockerConfigFile): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.config.json.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(config, null, '\t') + '\n', { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw registryError(RegistryErrors.configInvalid, [path, `cannot write it: ${(error as Error).message}`], { cause: error });
  }
}

/**
 * Stores credentials the way docker does: through the configured helper
 * (credHelpers entry or credsStore), else base64 in config.json written with
 * mode 0600. Returns where they went, so a caller can warn about plain text.
 */
export async function storeCredentials(
  registry: string,
  credentials: Credentials,
  options: DockerConfigOptions = {},
): Promise<CredentialSource> {
  const env = options.env ?? process.env;
  const dir = dockerConfigDir(options);
  const path = join(dir, 'config.json');
  const config = await readConfig(path);
  const serverUrl = credentialKey(normalizeRegistryHost(registry));
  const helper = helperFor(config, registry);
  const existing = findKey(config.auths, registry);
  if (helper !== undefined) {
    const username = credentials.identityToken !== undefined ? IDENTITY_TOKEN_USER : credentials.username;
    const secret = credentials.identityToken ?? credentials.password;
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: serverUrl, Username: username, Secret: secret }), env);
    // docker keeps an empty entry so `auths` lists the registry; drop any plain-text copy
    const auths = { ...config.auths };
    if (existing !== undefined) delete auths[existing];
    auths[serverUrl] = {};
    await writeConfig(path, dir, { ...config, auths });
    return { kind: 'helper', helper };
  }
  const auths = { ...config.auths };
  if (existing !== undefined) delete auths[existing];
  auths[serverUrl] =
    credentials.identityToken !== undefined
      ? { identitytoken: credentials.identityToken, ...(credentials.username ? { username: credentials.username } : {}) }
      : { auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  await writeConfig(path, dir, { ...config, auths });
  return { kind: 'file', path };
}

/** Removes stored credentials (helper and config.json). True when something was removed. */
export async function eraseCredentials(registry: string, options: DockerConfigOptions = {}): Promise<boolean> {
  const env = options.env ?? process.env;
  const dir = dockerConfigDir(options);
  const path = join(dir, 'config.json');
  const config = await readConfig(path);
  const helper = helperFor(config, registry);
  let removed = false;
  if (helper !== undefined) {
    try {
      await runHelper(helper, 'erase', credentialKey(normalizeRegistryHost(registry)), env);
      removed = true;
    } catch (error) {
      if (!NOT_FOUND_RE.test((error as Error).message)) throw error;
    }
  }
  const key = findKey(config.auths, registry);
  if (key !== undefined) {
    const auths = { ...config.auths };
    delete auths[key];
    await writeConfig(path, dir, { ...config, auths });
    removed = true;
  }
  return removed;
}
