import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { BuildErrors, buildError } from '../errors.js';
import { runTool } from '../exec.js';
import { inUserNamespace, runDir } from './rootless.js';
import { isStrataAlive } from './owner.js';

/**
 * How a container is networked:
 *
 * - `default`: a network namespace of its own, with its own loopback and an
 *   interface served by pasta (Debian's `passt`), a user-mode stack that
 *   relays the container's connections through sockets of the host. pasta
 *   binds those sockets to the interface of the host's default route, so the
 *   container reaches what that route reaches (the internet, a mirror) and
 *   not the host's loopback, the host's own addresses or networks routed to
 *   other interfaces (a local bridge, a VPN).
 * - `host`: the host's network namespace (only when asked for).
 * - `none`: a network namespace with loopback only.
 */
export type NetworkMode = 'default' | 'host' | 'none';

/** Where network namespaces of strata's containers live (one folder per container). */
export const DEFAULT_NETWORK_DIR = join(runDir(), 'net');

/** The network namespace a container's spec names. */
export type NetworkNamespace =
  /** The host's: no network namespace in the spec. */
  | { readonly kind: 'host' }
  /** A fresh one the runtime makes (loopback only). */
  | { readonly kind: 'new' }
  /** An existing one, bind-mounted at `path`. */
  | { readonly kind: 'path'; readonly path: string };

/** A container's network for the time of one run. */
export interface ContainerNetwork {
  readonly mode: NetworkMode;
  readonly namespace: NetworkNamespace;
  /** The resolv.conf the container sees. */
  readonly resolvConf: string;
  /** One line for progress and logs: what the container can reach. */
  readonly description: string;
  /** Stops the network stack and removes the namespace. Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenNetworkOptions {
  readonly mode: NetworkMode;
  /** The container id; the namespace folder is named after it (see networkName). */
  readonly id: string;
  /** Default DEFAULT_NETWORK_DIR. */
  readonly networkDir?: string;
  /** The host's resolver configuration; default /etc/resolv.conf. */
  readonly hostResolvConf?: string;
  /** The pasta program; default `pasta` on PATH. */
  readonly pasta?: string;
  /** How long pasta may take to configure the namespace; default 10 s. */
  readonly timeoutMs?: number;
}

/** A default route of the host: the interface it leaves through and its gateway. */
export interface DefaultRoute {
  readonly iface: string;
  readonly gateway?: string;
}

const NAME = /^strata-([0-9]+)-[A-Za-z0-9_.-]+$/;

/**
 * The name of a container's namespace folder: the container id when it
 * already starts with `strata-<pid>-` (a RUN step's), else the id under this
 * process's pid, so that a later build can tell whether its owner is alive.
 */
export function networkName(id: string): string {
  return NAME.test(id) ? id : `strata-${process.pid}-${id}`;
}

/** The host's default routes (lowest metric first per family), from /proc/net. */
export async function defaultRoutes(procNet = '/proc/net'): Promise<{ v4?: DefaultRoute; v6?: DefaultRoute }> {
  const out: { v4?: DefaultRoute; v6?: DefaultRoute } = {};
  const v4 = await readFile(join(procNet, 'route'), 'utf8').catch(() => '');
  let best = Infinity;
  for (const line of v4.split('\n').slice(1)) {
    const [iface, dest, gw, flags, , , metric, mask] = line.trim().split(/\s+/);
    if (iface === undefined || dest !== '00000000' || mask !== '00000000' || flags === undefined) continue;
    // RTF_UP
    if ((parseInt(flags, 16) & 1) === 0) continue;
    const m = Number(metric ?? 0);
    if (m >= best) continue;
    best = m;
    const g = parseInt(gw ?? '0', 16);
    // little-endian on the architectures strata runs on (x86-64, arm64)
    const gateway = g === 0 ? undefined : [g & 255, (g >>> 8) & 255, (g >>> 16) & 255, g >>> 24].join('.');
    out.v4 = gateway === undefined ? { iface } : { iface, gateway };
  }
  const v6 = await readFile(join(procNet, 'ipv6_route'), 'utf8').catch(() => '');
  best = Infinity;
  for (const line of v6.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, len, , , nextHop, metric, , , flags, iface] = f;
    if (dest !== '0'.repeat(32) || len !== '00' || iface === undefined || iface === 'lo') continue;
    // RTF_UP, and not RTF_REJECT (an "unreachable" default)
    const fl = parseInt(flags ?? '0', 16);
    if ((fl & 1) === 0 || (fl & 0x200) !== 0) continue;
    const m = parseInt(metric ?? '0', 16);
    if (m >= best) continue;
    best = m;
    const hop = nextHop ?? '';
    const gateway = /^0+$/.test(hop) ? undefined : (hop.match(/.{4}/g) ?? []).join(':');
    out.v6 = gateway === undefined ? { iface } : { iface, gateway };
  }
  return out;
}

function isLoopback(address: string): boolean {
  const bare = address.replace(/%.*$/, '');
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || /^(0{1,4}:){7}0{0,3}1$/.test(bare) || /^::ffff:127\./i.test(bare);
  return false;
}

/**
 * The resolv.conf a container with its own network sees: the host's, without
 * nameservers on the host's loopback (the container cannot reach them). When
 * no other nameserver remains, `forward` (an address pasta answers DNS on and
 * relays to the host's resolver) takes their place.
 */
export function containerResolvConf(hostText: string, forward?: string): { text: string; forwarded: boolean } {
  const lines = hostText.split('\n');
  const kept: string[] = [];
  let servers = 0;
  let dropped = 0;
  for (const line of lines) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null) {
      kept.push(line);
      continue;
    }
    if (isLoopback(m[1]!)) {
      dropped += 1;
      continue;
    }
    servers += 1;
    kept.push(line);
  }
  let text = kept.join('\n');
  const forwarded = servers === 0 && forward !== undefined && (dropped > 0 || hostText.trim() === '');
  if (forwarded) text = `nameserver ${forward}\n${text}`;
  if (!text.endsWith('\n')) text += '\n';
  return { text, forwarded };
}

/** umount(2) with MNT_DETACH: the namespace goes when its last user does. */
async function unmountLazy(path: string): Promise<void> {
  await runTool('umount', ['-l', path]);
}

async function killPasta(pidFile: string): Promise<void> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  // a reused pid is not ours to kill
  const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
  if (!comm.startsWith('passt') && !comm.startsWith('pasta')) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * Stops the network stacks and removes the namespaces of strata processes
 * that are gone (a build killed with SIGKILL leaves them, as it leaves its
 * runc container). Returns the names removed. Called when a build starts.
 */
export async function removeOrphanNetworks(networkDir = DEFAULT_NETWORK_DIR): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(networkDir).catch(() => [] as string[])) {
    const pid = NAME.exec(name)?.[1];
    if (pid === undefined || (await isStrataAlive(Number(pid)))) continue;
    const dir = join(networkDir, name);
    await killPasta(join(dir, 'pasta.pid'));
    await unmountLazy(join(dir, 'ns'));
    await rm(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/** Rootless: whether this user can open /dev/net/tun (asked once per process). */
let tunUsable: Promise<boolean> | undefined;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Opens the network of one container run. For `default`: makes a network
 * namespace (bind-mounted under networkDir), starts pasta on it as a child of
 * this process and waits until pasta has configured it; `close()` kills pasta
 * and detaches the namespace. A missing pasta is BUILD_NETWORK_MISSING (never
 * a fallback to the host's network); pasta failing is BUILD_NETWORK_FAILED.
 * A host without a default route gives the container loopback only.
 */
export async function openNetwork(options: OpenNetworkOptions): Promise<ContainerNetwork> {
  const hostText = await readFile(options.hostResolvConf ?? '/etc/resolv.conf', 'utf8').catch(() => '');
  const closed = async () => undefined;
  if (options.mode === 'host') {
    return { mode: 'host', namespace: { kind: 'host' }, resolvConf: hostText, description: "the build machine's network (--network host)", close: closed };
  }
  if (options.mode === 'none') {
    return { mode: 'none', namespace: { kind: 'new' }, resolvConf: hostText, description: 'loopback only (--network none)', close: closed };
  }
  const routes = await defaultRoutes();
  if (routes.v4 === undefined && routes.v6 === undefined) {
    return {
      mode: 'default',
      namespace: { kind: 'new' },
      resolvConf: containerResolvConf(hostText).text,
      description: 'loopback only: this machine has no default route',
      close: closed,
    };
  }
  const dir = join(options.networkDir ?? DEFAULT_NETWORK_DIR, networkName(options.id));
  const ns = join(dir, 'ns');
  const pidFile = join(dir, 'pasta.pid');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(ns, '');
  let child: ChildProcess | undefined;
  let cleaned: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (cleaned !== undefined) return cleaned;
    // SIGKILL: pasta keeps no state, and its exit (closing its tap device) takes the kernel
    // a second or more, which nobody needs to wait for
    child?.kill('SIGKILL');
    cleaned = unmountLazy(ns).then(() => rm(dir, { recursive: true, force: true }));
    return cleaned;
  };
  try {
    // a new network namespace, kept by a bind mount on `ns` (util-linux's unshare)
    const made = await runTool('unshare', [`--net=${ns}`, 'true']);
    if (made.error !== undefined || made.code !== 0) {
      throw buildError(BuildErrors.networkFailed, ['unshare', (made.error?.message ?? made.stderr).trim() || `exit code ${made.code}`]);
    }
    const forwardTo = routes.v4?.gateway ?? routes.v6?.gateway;
    const resolv = containerResolvConf(hostText, forwardTo);
    const args = ['-f', '--quiet', '--netns-only', '--config-net', '--no-map-gw', '-T', 'none', '-U', 'none', '-t', 'none', '-u', 'none'];
    // as root, stay root: pasta must enter a namespace that belongs to the initial user namespace
    if (process.getuid?.() === 0) args.push('--runas', '0');
    if (routes.v4 !== undefined) args.push('--outbound-if4', routes.v4.iface);
    else args.push('-6');
    if (routes.v6 !== undefined) args.push('--outbound-if6', routes.v6.iface);
    else args.push('-4');
    if (resolv.forwarded && forwardTo !== undefined) args.push('--dns-forward', forwardTo);
    args.push('--netns', ns, '-P', pidFile);
    const program = options.pasta ?? 'pasta';
    // rootless: pasta opens /dev/net/tun as the user, which some machines keep root's (0600)
    if (inUserNamespace() && !(await (tunUsable ??= access('/dev/net/tun', constants.R_OK | constants.W_OK).then(() => true, () => false)))) {
      throw buildError(BuildErrors.networkFailed, [
        program,
        '/dev/net/tun is not readable and writable by this user (rootless strata); as root: chmod 0666 /dev/net/tun (Debian\'s default), or scripts/setup-rootless USER',
      ]);
    }
    const started = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    let stderr = '';
    started.stderr?.setEncoding('utf8');
    started.stderr?.on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    let exited: { code: number | null; error?: Error } | undefined;
    started.on('error', (error) => (exited = { code: null, error }));
    started.on('exit', (code) => (exited ??= { code }));
    // pasta writes its pid file once the namespace is configured
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      if (exited !== undefined) {
        const error = exited.error as NodeJS.ErrnoException | undefined;
        if (error?.code === 'ENOENT') throw buildError(BuildErrors.networkMissing, [program], { cause: error });
        throw buildError(BuildErrors.networkFailed, [program, (stderr.trim() || error?.message) ?? `exit code ${exited.code}`]);
      }
      if ((await readFile(pidFile, 'utf8').catch(() => '')).trim() !== '') break;
      if (Date.now() > deadline) throw buildError(BuildErrors.networkFailed, [program, `the namespace was not configured within ${options.timeoutMs ?? 10_000} ms`]);
      await sleep(1);
    }
    // the stack dies with the step: an unexpected exit before close() is only logged by the step's failures
    started.stderr?.removeAllListeners('data');
    started.stderr?.resume();
    const via = [routes.v4?.iface, routes.v6?.iface].filter((x, i, all) => x !== undefined && all.indexOf(x) === i).join(', ');
    return {
      mode: 'default',
      namespace: { kind: 'path', path: ns },
      resolvConf: resolv.text,
      description: `own network namespace (pasta, outbound through ${via}; no host loopback or host addresses)`,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * The networks of one build's RUN steps. Each step still gets a namespace and
 * a pasta of its own, stopped when the step ends; the pool only starts the
 * next `default` network early (while a RUN runs, when another follows; or
 * when a step misses and a RUN follows it in the stage), so that the RUN
 * finds it configured instead of waiting the ~30 ms pasta takes to start. Closing a
 * step's network kills its pasta at once and detaches the namespace in the
 * background; `close()` ends the spare and waits for all of that.
 */
export class NetworkPool {
  readonly #options: Omit<OpenNetworkOptions, 'mode' | 'id'>;
  readonly #prefix = `strata-${process.pid}-net${randomBytes(3).toString('hex')}`;
  #count = 0;
  #spare: Promise<ContainerNetwork> | undefined;
  readonly #closing = new Set<Promise<void>>();
  #closed = false;

  constructor(options: Omit<OpenNetworkOptions, 'mode' | 'id'> = {}) {
    this.#options = options;
  }

  #open(mode: NetworkMode): Promise<ContainerNetwork> {
    this.#count += 1;
    return openNetwork({ ...this.#options, mode, id: `${this.#prefix}-${this.#count}` });
  }

  /**
   * A network for one container; `release` it when the container is done.
   * `more`: another RUN will follow, so the next network starts now.
   */
  async take(mode: NetworkMode, more = true): Promise<ContainerNetwork> {
    if (this.#closed) throw new Error('NetworkPool: take() after close()');
    if (mode !== 'default') return this.#open(mode);
    const spare = this.#spare;
    this.#spare = undefined;
    // a spare that failed is opened again: the error then belongs to this step
    const network = (spare === undefined ? undefined : await spare.catch(() => undefined)) ?? (await this.#open(mode));
    if (more) this.prepare();
    return network;
  }

  /** Starts a `default` network now, for a RUN that is known to come (none when one is ready or starting). */
  prepare(): void {
    if (this.#closed || this.#spare !== undefined) return;
    const next = this.#open('default');
    next.catch(() => undefined);
    this.#spare = next;
  }

  /** Stops a network taken from the pool; its namespace is removed in the background. */
  release(network: ContainerNetwork): void {
    const done = network.close().catch(() => undefined);
    this.#closing.add(done);
    void done.then(() => this.#closing.delete(done));
  }

  /** Stops the spare and waits until every network of the pool is gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const spare = this.#spare;
    this.#spare = undefined;
    if (spare !== undefined) {
      const network = await spare.catch(() => undefined);
      if (network !== undefined) this.release(network);
    }
    await Promise.all([...this.#closing]);
  }
}
