// Git servers for ADD git and RUN --mount=type=ssh tests, all from Debian
// packages and started by the test: `git daemon` (git://), `git http-backend`
// behind a small node HTTP server (http://, optionally requiring a token),
// and sshd (openssh-server) with its own config, host key and one authorized
// key on a high port (ssh://). Repositories are bare folders under one root.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePort } from './registry.js';

/** git with none of the machine's configuration, a fixed author and the given commit time (seconds). */
export function gitEnv(time = 1_700_000_000): NodeJS.ProcessEnv {
  const date = `@${time} +0000`;
  return {
    PATH: process.env.PATH,
    HOME: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
    GIT_AUTHOR_DATE: date,
    GIT_COMMITTER_DATE: date,
    // local submodule URLs in test repositories
    GIT_ALLOW_PROTOCOL: 'file:git:http:https:ssh',
  };
}

/** `git ARGS` in `cwd`; returns stdout. */
export function git(cwd: string, args: readonly string[], time?: number): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], { cwd, env: gitEnv(time), encoding: 'utf8' });
}

export interface RunningServer {
  /** The URL of repository `name` (a folder under the served root, e.g. `repo.git`). */
  url(name: string): string;
  close(): Promise<void>;
}

async function waitForPort(host: string, port: number, child: ChildProcess, log: () => string): Promise<void> {
  for (let i = 0; i < 200; i += 1) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection(port, host);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`server did not listen on ${host}:${port}: ${log()}`);
}

/**
 * Kills a server started `detached` (a process group of its own) with
 * everything in its group: `git daemon` runs git-daemon as a child, and
 * both servers fork one child per connection.
 */
function stop(child: ChildProcess): Promise<void> {
  const done = child.exitCode !== null || child.signalCode !== null;
  const exited = done ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
  return exited;
}

/** `git daemon` serving every repository under `root` on 127.0.0.1. */
export async function startGitDaemon(root: string): Promise<RunningServer> {
  const port = await freePort();
  // its log to a file, not a pipe: the daemon's children (one per connection) may outlive it a moment
  const logFile = join(root, '..', `git-daemon-${port}.log`);
  const out = openSync(logFile, 'w');
  const child = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${root}`, '--listen=127.0.0.1', `--port=${port}`, root], {
    env: gitEnv(),
    stdio: ['ignore', 'ignore', out],
    detached: true,
  });
  closeSync(out);
  await waitForPort('127.0.0.1', port, child, () => readFileSync(logFile, 'utf8'));
  return { url: (name) => `git://127.0.0.1:${port}/${name}`, close: () => stop(child) };
}

/** One request through `git http-backend` (CGI). */
function cgi(root: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const child = spawn('git', ['http-backend'], {
    env: {
      ...gitEnv(),
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ''),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
      REMOTE_ADDR: '127.0.0.1',
      HTTP_CONTENT_ENCODING: String(req.headers['content-encoding'] ?? ''),
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  req.pipe(child.stdin);
  let head = Buffer.alloc(0);
  let body = false;
  child.stdout.on('data', (chunk: Buffer) => {
    if (body) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = head.indexOf('\r\n\r\n');
    if (end === -1) return;
    let status = 200;
    for (const line of head.subarray(0, end).toString().split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    body = true;
    res.write(head.subarray(end + 4));
  });
  child.stdout.on('end', () => res.end());
}

export interface GitHttpServer extends RunningServer {
  /** The Authorization header of every request so far. */
  readonly authorizations: string[];
}

/**
 * `git http-backend` behind node's HTTP server on 127.0.0.1. With `token`,
 * repositories under `private/` answer 401 unless the request carries
 * `Authorization: basic base64(x-access-token:TOKEN)` (GitHub's form, what
 * BuildKit sends for GIT_AUTH_TOKEN).
 */
export async function startGitHttp(root: string, options: { token?: string } = {}): Promise<GitHttpServer> {
  const authorizations: string[] = [];
  const expected = options.token === undefined ? undefined : `basic ${Buffer.from(`x-access-token:${options.token}`).toString('base64')}`;
  const server: Server = createServer((req, res) => {
    const auth = req.headers.authorization ?? '';
    authorizations.push(auth);
    if (expected !== undefined && (req.url ?? '').startsWith('/private/') && auth.toLowerCase() !== expected.toLowerCase()) {
      res.writeHead(401, { 'www-authenticate': 'Basic realm="test"' }).end('unauthorized\n');
      return;
    }
    cgi(root, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    authorizations,
    url: (name) => `http://127.0.0.1:${port}/${name}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface Sshd extends RunningServer {
  readonly port: number;
}

/**
 * sshd (Debian's openssh-server) with a config of its own in `dir`: a fresh
 * host key, `authorizedKey` (a public key line) for root, public keys only,
 * listening on `address` and a free port. `wrap` runs it elsewhere (in a
 * network namespace: `ip netns exec NS`). URLs are ssh://root@ADDRESS:PORT/PATH.
 */
export async function startSshd(dir: string, authorizedKey: string, options: { address?: string; wrap?: (argv: string[]) => string[] } = {}): Promise<Sshd> {
  const address = options.address ?? '127.0.0.1';
  mkdirSync(dir, { recursive: true });
  // sshd's privilege separation folder (Debian makes it when the service starts)
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  const hostKey = join(dir, 'host_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey]);
  writeFileSync(join(dir, 'authorized_keys'), `${authorizedKey.trim()}\n`, { mode: 0o600 });
  const port = await freePort();
  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      `ListenAddress ${address}`,
      `HostKey ${hostKey}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'UsePAM no',
      'StrictModes no',
      'PrintMotd no',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const argv = ['/usr/sbin/sshd', '-D', '-e', '-f', config];
  const full = options.wrap === undefined ? argv : options.wrap(argv);
  const logFile = join(dir, 'sshd.log');
  const out = openSync(logFile, 'w');
  const child = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'ignore', out], detached: true });
  closeSync(out);
  const readLog = () => readFileSync(logFile, 'utf8');
  if (options.wrap === undefined) await waitForPort(address, port, child, readLog);
  else {
    // not reachable from here: ask where it runs
    const probe = options.wrap(['ssh-keyscan', '-T', '1', '-p', String(port), address]);
    for (let i = 0; ; i += 1) {
      if (child.exitCode !== null) break;
      const r = spawnSync(probe[0] as string, probe.slice(1), { encoding: 'utf8' });
      if (r.status === 0 && r.stdout.includes('ssh-ed25519')) break;
      if (i > 100) throw new Error(`sshd did not listen on ${address}:${port}: ${readLog()}`);
      await new Promise((r2) => setTimeout(r2, 50));
    }
  }
  if (child.exitCode !== null) throw new Error(`sshd exited (${child.exitCode}): ${readLog()}`);
  return { port, url: (path) => `ssh://root@${address}:${port}${path}`, close: () => stop(child) };
}
