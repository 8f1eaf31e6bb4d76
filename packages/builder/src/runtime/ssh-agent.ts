import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, chown, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { buildError, BuildErrors } from '../errors.js';

/**
 * `--ssh`: SSH agents a build may use, BuildKit's way. An id names either an
 * agent socket (the caller's SSH_AUTH_SOCK for `default` without a path) or
 * private key files, which strata serves through an ssh-agent of its own
 * (Debian's openssh-client) for the time of the build. A RUN step never gets
 * the agent itself: `serve` gives it a socket of its own that passes on only
 * the two requests authentication needs (list keys, sign), as BuildKit's
 * read-only agent does, so a step cannot add, remove or lock keys, and the
 * keys never leave the agent.
 */
export interface SshAgentSpec {
  /** `default` unless named (RUN --mount=type=ssh,id=…; ADD of an ssh git URL uses `default`). */
  readonly id: string;
  /** One agent socket, or private key files (no passphrase); empty: the SSH_AUTH_SOCK of the build's process. */
  readonly paths: readonly string[];
}

export const DEFAULT_SSH_ID = 'default';

/** `default`, `default=$SSH_AUTH_SOCK`, `ID=PATH[,PATH...]` (docker build's --ssh syntax). */
export function parseSshSpec(text: string): SshAgentSpec {
  const eq = text.indexOf('=');
  const id = eq === -1 ? text : text.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw buildError(BuildErrors.sshInvalid, [text, `'${id}' is not an id (letters, digits, '.', '_', '-')`]);
  const paths = eq === -1 ? [] : text.slice(eq + 1).split(',').filter((p) => p !== '');
  return { id, paths };
}

/** An id resolved to what serves it. */
type AgentSource = { readonly kind: 'socket'; readonly path: string } | { readonly kind: 'keys'; readonly files: readonly string[] };

/** Largest agent message OpenSSH accepts (AGENT_MAX_LEN). */
const MAX_MESSAGE = 256 * 1024;
/** SSH2_AGENTC_REQUEST_IDENTITIES and SSH2_AGENTC_SIGN_REQUEST: all that authenticating with a key needs. */
const ALLOWED_REQUESTS = new Set([11, 13]);
/** SSH_AGENT_FAILURE, as a whole message. */
const FAILURE = Buffer.from([0, 0, 0, 1, 5]);
/** A key file is read whole; BuildKit reads at most this much of one. */
const MAX_KEY_FILE = 100 * 1024;

async function resolveSpec(spec: SshAgentSpec, env: NodeJS.ProcessEnv): Promise<AgentSource> {
  const text = spec.paths.length === 0 ? spec.id : `${spec.id}=${spec.paths.join(',')}`;
  let paths = spec.paths;
  if (paths.length === 0) {
    const sock = env.SSH_AUTH_SOCK;
    if (sock === undefined || sock === '') throw buildError(BuildErrors.sshInvalid, [text, 'SSH_AUTH_SOCK is not set: no agent to forward (start one: eval $(ssh-agent); ssh-add)']);
    paths = [sock];
  }
  const sockets: string[] = [];
  const files: string[] = [];
  for (const path of paths) {
    if (!isAbsolute(path)) throw buildError(BuildErrors.sshInvalid, [text, `${path} is not an absolute path`]);
    const st = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw buildError(BuildErrors.sshInvalid, [text, `${path}: ${error.code === 'ENOENT' ? 'no such file or socket' : error.message}`]);
    });
    if (st.isSocket()) sockets.push(path);
    else if (st.isFile()) files.push(path);
    else throw buildError(BuildErrors.sshInvalid, [text, `${path} is neither an agent socket nor a key file`]);
  }
  if (sockets.length > 1) throw buildError(BuildErrors.sshInvalid, [text, 'only one agent socket per id']);
  if (sockets.length === 1 && files.length > 0) throw buildError(BuildErrors.sshInvalid, [text, 'an agent socket and key files cannot be mixed in one id']);
  const socket = sockets[0];
  return socket === undefined ? { kind: 'keys', files } : { kind: 'socket', path: socket };
}

/** How the socket `serve` makes is owned and moded (the mount's uid, gid, mode). */
export interface ServeOptions {
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/** A socket `serve` made: bind-mount `path`; `stop` stops serving and removes it. */
export interface ServedAgent {
  readonly path: string;
  stop(): Promise<void>;
}

/** sun_path holds 108 bytes with its NUL; a longer path cannot be bound (libuv may cut it short instead). */
const MAX_SOCKET_PATH = 107;

/** The agents of one build. Key-file agents start on first use and stop with `close` (or with this process: PDEATHSIG). */
export class SshAgents {
  private readonly started = new Map<string, Promise<string>>();
  private readonly agents: ChildProcess[] = [];
  private readonly servers = new Set<{ server: Server; clients: Set<Socket> }>();
  private socketDir: Promise<string> | undefined;
  private sockets = 0;

  private constructor(
    private readonly sources: ReadonlyMap<string, AgentSource>,
    private readonly parent: string,
  ) {}

  /**
   * Checks every spec (paths exist; one socket or key files). Sockets strata
   * makes (agents it starts, RUN relays) live in a folder of their own under
   * `parent` (default: the system's temp folder), made 0700 on first need:
   * a socket path must be short, which the build's temp folder may not be.
   */
  static async open(specs: readonly SshAgentSpec[] | undefined, parent: string = tmpdir(), env: NodeJS.ProcessEnv = process.env): Promise<SshAgents> {
    const sources = new Map<string, AgentSource>();
    for (const spec of specs ?? []) {
      if (sources.has(spec.id)) throw buildError(BuildErrors.sshInvalid, [spec.id, `the id '${spec.id}' is given twice`]);
      sources.set(spec.id, await resolveSpec(spec, env));
    }
    return new SshAgents(sources, parent);
  }

  /** A fresh socket path in the agents' folder. */
  private async socketPath(): Promise<string> {
    this.socketDir ??= mkdtemp(join(this.parent, 'strata-ssh-'));
    const path = join(await this.socketDir, `${(this.sockets += 1)}.sock`);
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw buildError(BuildErrors.sshAgentFailed, ['(all)', `the socket path ${path} is too long; set TMPDIR to a shorter folder`]);
    return path;
  }

  has(id: string): boolean {
    return this.sources.has(id);
  }

  /** The host socket of agent `id`: the caller's, or (key files) one strata starts once for the build. */
  socket(id: string): Promise<string> {
    const source = this.sources.get(id);
    if (source === undefined) return Promise.reject(new Error(`internal: no SSH agent '${id}'`));
    if (source.kind === 'socket') return Promise.resolve(source.path);
    let started = this.started.get(id);
    if (started === undefined) {
      started = this.startAgent(id, source.files);
      this.started.set(id, started);
    }
    return started;
  }

  private async startAgent(id: string, files: readonly string[]): Promise<string> {
    const sock = await this.socketPath();
    // -D: in the foreground, a child of this process; setpriv: killed when this process dies, even by SIGKILL
    const agent = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'ssh-agent', '-D', '-a', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.agents.push(agent);
    let stderr = '';
    agent.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<string>((resolve) => {
      agent.once('error', (error) => resolve(error.message));
      agent.once('exit', (code) => resolve(`ssh-agent exited (${code ?? 'signal'}): ${stderr.trim()}`));
    });
    const ready = await Promise.race([waitForSocket(sock), exited]);
    if (ready !== true) throw buildError(BuildErrors.sshAgentFailed, [id, ready]);
    for (const file of files) await addKey(id, sock, file);
    return sock;
  }

  /**
   * Serves agent `id` read-only on a new socket (a RUN's ssh mount): only
   * key listing and signing pass; anything else is answered with failure.
   */
  async serve(id: string, options: ServeOptions): Promise<ServedAgent> {
    const upstream = await this.socket(id);
    const path = await this.socketPath();
    const clients = new Set<Socket>();
    const server = createServer((client) => {
      clients.add(client);
      client.once('close', () => clients.delete(client));
      relay(client, upstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
    const entry = { server, clients };
    this.servers.add(entry);
    await chown(path, options.uid, options.gid);
    await chmod(path, options.mode);
    return {
      path,
      stop: async () => {
        if (!this.servers.delete(entry)) return;
        await stopServer(entry.server, entry.clients);
        await rm(path, { force: true });
      },
    };
  }

  /** Stops serving, and the agents strata started. */
  async close(): Promise<void> {
    for (const entry of [...this.servers]) await stopServer(entry.server, entry.clients);
    this.servers.clear();
    for (const agent of this.agents) {
      if (agent.exitCode === null && agent.signalCode === null) {
        const gone = new Promise((resolve) => agent.once('exit', resolve));
        agent.kill('SIGTERM');
        await gone;
      }
    }
    if (this.socketDir !== undefined) await rm(await this.socketDir, { recursive: true, force: true });
  }
}

async function stopServer(server: Server, clients: Set<Socket>): Promise<void> {
  for (const c of clients) c.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Polls until an agent listens at `path` (ssh-agent makes the socket before it serves). */
async function waitForSocket(path: string, timeoutMs = 10_000): Promise<true> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection(path);
      c.once('connect', () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
    if (ok) return true;
    if (Date.now() > deadline) throw new Error(`ssh-agent did not listen at ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Adds one key file to the agent, given on ssh-add's standard input (no
 * permission check of the file, as BuildKit reads it) in a session of its
 * own: there is no terminal to ask a passphrase on, so such a key fails.
 */
async function addKey(id: string, sock: string, file: string): Promise<void> {
  const handle = await open(file, 'r');
  let key: Buffer;
  try {
    const buffer = Buffer.alloc(MAX_KEY_FILE);
    const { bytesRead } = await handle.read(buffer, 0, MAX_KEY_FILE, 0);
    key = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, SSH_AUTH_SOCK: sock, SSH_ASKPASS_REQUIRE: 'never' };
  const child = spawn('ssh-add', ['-q', '-'], { env, detached: true, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(key);
  key.fill(0);
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (error) => resolve(error.message));
    child.once('exit', (c) => resolve(c ?? -1));
  });
  if (code !== 0) {
    const why = stderr.replace(/Enter passphrase for \(stdin\):\s*/g, '').trim();
    throw buildError(BuildErrors.sshAgentFailed, [id, `${file}: ${typeof code === 'string' ? code : why || `ssh-add exited ${code}`} (a key with a passphrase cannot be served)`]);
  }
}

/** Reads whole agent messages (uint32 length + body) from a stream of chunks. */
class MessageReader {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
  }

  /** The next whole message (with its length prefix), undefined when incomplete; throws when oversized. */
  next(): Buffer | undefined {
    if (this.buffer.length < 4) return undefined;
    const length = this.buffer.readUInt32BE(0);
    if (length === 0 || length > MAX_MESSAGE) throw new Error('bad agent message');
    if (this.buffer.length < 4 + length) return undefined;
    const message = this.buffer.subarray(0, 4 + length);
    this.buffer = this.buffer.subarray(4 + length);
    return message;
  }
}

/** One client connection: its requests answered one at a time, allowed ones by the upstream agent. */
function relay(client: Socket, upstreamPath: string): void {
  const requests = new MessageReader();
  const replies = new MessageReader();
  let upstream: Socket | undefined;
  let waiting: ((reply: Buffer) => void) | undefined;
  let busy = false;
  const fail = () => {
    client.destroy();
    upstream?.destroy();
  };
  const connectUpstream = (): Socket => {
    const socket = createConnection(upstreamPath);
    socket.on('data', (chunk: Buffer) => {
      try {
        replies.push(chunk);
        const reply = replies.next();
        if (reply !== undefined && waiting !== undefined) {
          const deliver = waiting;
          waiting = undefined;
          deliver(reply);
        }
      } catch {
        fail();
      }
    });
    socket.on('error', fail);
    socket.on('close', fail);
    return socket;
  };
  const pump = (): void => {
    while (!busy) {
      let request: Buffer | undefined;
      try {
        request = requests.next();
      } catch {
        fail();
        return;
      }
      if (request === undefined) return;
      const type = request[4] ?? 0;
      if (!ALLOWED_REQUESTS.has(type)) {
        client.write(FAILURE);
        continue;
      }
      busy = true;
      upstream ??= connectUpstream();
      waiting = (reply) => {
        client.write(reply);
        busy = false;
        pump();
      };
      upstream.write(request);
    }
  };
  client.on('data', (chunk: Buffer) => {
    requests.push(chunk);
    pump();
  });
  client.on('error', fail);
  client.on('close', () => upstream?.destroy());
}
