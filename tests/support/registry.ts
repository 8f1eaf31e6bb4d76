// Starts the reference registry (Debian's `docker-registry`, distribution 2.8)
// for tests: a generated config, 127.0.0.1 on a free port, filesystem storage in
// a fresh temp dir, deletes enabled, no notifications. Three auth modes: none,
// htpasswd basic auth (bcrypt via `htpasswd -Bbn`), and bearer tokens from the
// in-process token server in ./token-server.ts.
//
// stop() kills the registry by its pid and waits for it; registries still
// running when the jest worker exits are killed then.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTokenServer, type TokenServer } from './token-server.js';

const execFileAsync = promisify(execFile);

export type RegistryAuthMode = 'none' | 'basic' | 'token';

export interface RegistryUser {
  name: string;
  password: string;
}

export interface StartRegistryOptions {
  auth?: RegistryAuthMode;
  /** The folder its temp dir (config, storage) is made in: /dev/shm by default; a benchmark puts it on the disk it measures. */
  parentDir?: string;
  /** Users for basic/token modes; default one user, see DEFAULT_USER. */
  users?: RegistryUser[];
  /** Token mode: actions anonymous requests get (default ['pull']; never push). */
  anonymousActions?: string[];
  /** Token mode: token lifetime in seconds (default 300). */
  tokenExpiresIn?: number;
}

export interface TokenAuthDetails {
  realm: string;
  service: string;
  issuer: string;
  server: TokenServer;
}

export interface TestRegistry {
  /** `127.0.0.1:PORT`: a registry host as references spell it. */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  auth: RegistryAuthMode;
  users: RegistryUser[];
  /** Basic mode: the htpasswd file. */
  htpasswdPath?: string;
  /** Token mode: realm/service/issuer and the running token server. */
  token?: TokenAuthDetails;
  /** The temp dir that holds config, auth files and storage. */
  dir: string;
  storageDir: string;
  configPath: string;
  pid: number;
  /** Registry stdout+stderr so far (its log), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export const DEFAULT_USER: RegistryUser = { name: 'strata', password: 'correct-horse-battery' };

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) {
      if (child.pid !== undefined && child.exitCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

/** Finds a free TCP port on 127.0.0.1 (the kernel picks; the socket is then closed). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function yamlString(value: string): string {
  return JSON.stringify(value); // JSON strings are valid YAML double-quoted scalars
}

async function makeHtpasswd(path: string, users: RegistryUser[]): Promise<void> {
  const lines: string[] = [];
  for (const user of users) {
    // -B bcrypt, -b password on the command line, -n print instead of writing a file
    const { stdout } = await execFileAsync('htpasswd', ['-Bbn', user.name, user.password]);
    lines.push(stdout.trim());
  }
  await writeFile(path, lines.join('\n') + '\n');
}

function registryConfig(options: {
  port: number;
  storageDir: string;
  auth: string;
}): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${yamlString(options.storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${yamlString(`127.0.0.1:${options.port}`)}`,
    `  secret: ${yamlString(randomBytes(16).toString('hex'))}`,
    options.auth,
    '',
  ].join('\n');
}

async function waitForRegistry(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before answering:\n${log()}`);
    }
    try {
      const res = await fetch(`${url}/v2/`);
      await res.arrayBuffer();
      // 200 without auth; 401 with a challenge when auth is configured.
      if (res.status === 200 || res.status === 401) return;
      lastError = new Error(`GET /v2/ answered ${res.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not answer ${url}/v2/ within 15 s: ${String(lastError)}\n${log()}`);
}

async function launch(options: StartRegistryOptions, dir: string): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const users = auth === 'none' ? [] : (options.users ?? [DEFAULT_USER]);
  const storageDir = join(dir, 'storage');
  await mkdir(storageDir, { recursive: true });
  const port = await freePort();

  let authYaml = '';
  let htpasswdPath: string | undefined;
  let token: TokenAuthDetails | undefined;
  if (auth === 'basic') {
    htpasswdPath = join(dir, 'htpasswd');
    await makeHtpasswd(htpasswdPath, users);
    authYaml = ['auth:', '  htpasswd:', '    realm: strata-test', `    path: ${yamlString(htpasswdPath)}`].join('\n');
  } else if (auth === 'token') {
    const service = `strata-test-registry-${port}`;
    const issuer = 'strata-test-token-issuer';
    const server = await startTokenServer({
      dir,
      service,
      issuer,
      users,
      ...(options.anonymousActions ? { anonymousActions: options.anonymousActions } : {}),
      ...(options.tokenExpiresIn !== undefined ? { expiresIn: options.tokenExpiresIn } : {}),
    });
    token = { realm: server.realm, service, issuer, server };
    authYaml = [
      'auth:',
      '  token:',
      `    realm: ${yamlString(server.realm)}`,
      `    service: ${yamlString(service)}`,
      `    issuer: ${yamlString(issuer)}`,
      `    rootcertbundle: ${yamlString(server.certPath)}`,
    ].join('\n');
  }

  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, registryConfig({ port, storageDir, auth: authYaml }));

  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  installExitHook();
  const chunks: Buffer[] = [];
  let logBytes = 0;
  const collect = (chunk: Buffer): void => {
    if (logBytes > 1 << 20) return; // keep the first MiB
    logBytes += chunk.length;
    chunks.push(chunk);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const log = (): string => Buffer.concat(chunks).toString('utf8');
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  const spawnError = new Promise<never>((_, reject) => child.once('error', reject));
  spawnError.catch(() => undefined);

  const stopProcess = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
  };

  const url = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([waitForRegistry(url, child, log), spawnError]);
  } catch (error) {
    await stopProcess();
    await token?.server.stop();
    throw error;
  }
  if (child.pid === undefined) throw new Error('docker-registry started without a pid');

  let stopped = false;
  return {
    host: `127.0.0.1:${port}`,
    url,
    port,
    auth,
    users,
    ...(htpasswdPath !== undefined ? { htpasswdPath } : {}),
    ...(token !== undefined ? { token } : {}),
    dir,
    storageDir,
    configPath,
    pid: child.pid,
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopProcess();
      await token?.server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `docker-registry serve` with a generated config. Fails (never skips)
 * when the binary is missing: CI must have it (scripts/bootstrap installs it).
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (!['/usr/bin/docker-registry', '/usr/local/bin/docker-registry'].some((p) => existsSync(p))) {
    const { stdout } = await execFileAsync('sh', ['-c', 'command -v docker-registry || true']);
    if (stdout.trim() === '') {
      throw new Error('docker-registry is not installed: run scripts/bootstrap (Debian package docker-registry)');
    }
  }
  const root = options.parentDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  // A port picked by freePort() can be taken before the registry binds it: retry.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = await mkdtemp(join(root, 'strata-registry-'));
    try {
      return await launch(options, dir);
    } catch (error) {
      lastError = error;
      await rm(dir, { recursive: true, force: true });
      if (!/address already in use/i.test(String(error))) break;
    }
  }
  throw lastError;
}
