// RUN steps get a network of their own (pasta, from Debian's passt): they reach
// "the internet" through the builder's default route, by address, by an
// --add-host name and by DNS (the builder's resolver on its loopback, through
// pasta's forwarder), and they do not reach the builder's loopback or its own
// addresses. `--network host` (only when asked for) does, and says so.
// tests/support/test-network.ts makes the two namespaces this runs in.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { STRATA } from './support/cli-json.js';
import { testImage } from './support/test-images.js';
import { BUILDER_ADDRESS, INTERNET_ADDRESS, makeTestNetwork, type TestNetwork } from './support/test-network.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(120_000);

const NET_DIR = '/run/strata/net';

describe('RUN networking (--network default|host|none)', () => {
  let net: TestNetwork;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    net = await makeTestNetwork();
    dir = mkdtempSync('/dev/shm/strata-network-');
    env = { PATH: process.env.PATH, STRATA_ROOT: join(dir, 'store') };
    await strata(['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', 'amd64').archive], { inNs: false });
  });
  afterAll(() => {
    net?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** `strata ARGS` inside the builder namespace (or outside, `inNs: false`); a failure is a result. */
  async function strata(args: readonly string[], options: { inNs?: boolean; cwd?: string } = {}): Promise<{ code: number; out: string; err: string }> {
    const argv = options.inNs === false ? [STRATA, ...args] : net.inBuilder([STRATA, ...args]);
    try {
      const r = await execFileAsync(argv[0]!, argv.slice(1), { env, cwd: options.cwd ?? dir, maxBuffer: 16 << 20 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  }

  let contexts = 0;
  /** A context whose Dockerfile is `FROM test/busybox:1.0` and `lines`. */
  function context(lines: readonly string[]): string {
    contexts += 1;
    const ctx = join(dir, `ctx${contexts}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), ['FROM test/busybox:1.0', ...lines, ''].join('\n'));
    return ctx;
  }

  /** `probe NAME URL` in a RUN prints `NAME=<body>` or `NAME=unreachable`. */
  const probe = (name: string, url: string) => `echo "${name}=$(timeout 5 wget -qO- ${url} 2>/dev/null || echo unreachable)"`;

  /** The lines a build's RUN printed (plain progress: `#N 0.123 text`). */
  const printed = (out: string) => out.split('\n').map((l) => /^#\d+ \d+\.\d+ (.*)$/.exec(l)?.[1]).filter((l): l is string => l !== undefined);

  it('by default: reaches the internet by address, --add-host name and DNS; not the host loopback, not the host address; its own /sys', async () => {
    const ctx = context([
      `RUN ${probe('ip', `http://${INTERNET_ADDRESS}:8080/`)}; ${probe('hosts', 'http://mirror.example:8080/')}; ${probe('dns', 'http://files.internet.test:8080/')}; ` +
        `${probe('loopback', 'http://127.0.0.1:8081/')}; ${probe('hostaddr', `http://${BUILDER_ADDRESS}:8082/`)}; ` +
        `echo "sys=$(ls /sys/class/net | tr '\\n' ' ')"; echo "resolv=$(grep nameserver /etc/resolv.conf | tr '\\n' ' ')"`,
    ]);
    const r = await strata(['build', '--progress', 'plain', '--add-host', `mirror.example:${INTERNET_ADDRESS}`, ctx]);
    expect(r.err).not.toMatch(/ERROR/);
    expect(r.code).toBe(0);
    const lines = printed(r.err);
    expect(lines).toContain('ip=internet-hello');
    expect(lines).toContain('hosts=internet-hello');
    expect(lines).toContain('dns=internet-hello');
    expect(lines).toContain('loopback=unreachable');
    expect(lines).toContain('hostaddr=unreachable');
    // the container's own interfaces (pasta names its interface after the builder's), not the builder's sysfs
    expect(lines).toContain(`sys=${[net.builderIface, 'lo'].sort().join(' ')} `);
    // the builder's resolver is 127.0.0.53: the RUN is given pasta's forwarder (the gateway) instead
    expect(lines).toContain('resolv=nameserver 10.203.0.1 ');
    expect(r.err).not.toMatch(/network: /);
  });

  it('--network host reaches the host loopback and says so; --network none reaches nothing', async () => {
    const ctx = context([`RUN ${probe('loopback', 'http://127.0.0.1:8081/')}; ${probe('ip', `http://${INTERNET_ADDRESS}:8080/`)}`]);
    const host = await strata(['build', '--progress', 'plain', '--network', 'host', ctx]);
    expect(host.code).toBe(0);
    expect(printed(host.err)).toEqual(expect.arrayContaining(['loopback=loopback-secret', 'ip=internet-hello']));
    expect(host.err).toMatch(/network: the build machine's network \(--network host\)/);
    const none = await strata(['build', '--progress', 'plain', '--network', 'none', '--no-cache', ctx]);
    expect(none.code).toBe(0);
    expect(printed(none.err)).toEqual(expect.arrayContaining(['loopback=unreachable', 'ip=unreachable']));
  });

  it('RUN --network=host needs --allow network.host (the Dockerfile alone cannot take the host network)', async () => {
    const ctx = context([`RUN --network=host ${probe('loopback', 'http://127.0.0.1:8081/')}`]);
    const refused = await strata(['build', '--progress', 'plain', ctx]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toMatch(/BUILD_NETWORK_NOT_ALLOWED/);
    expect(refused.err).toMatch(/--allow network\.host/);
    const allowed = await strata(['build', '--progress', 'plain', '--allow', 'network.host', ctx]);
    expect(allowed.code).toBe(0);
    expect(printed(allowed.err)).toContain('loopback=loopback-secret');
  });

  it('two builds at once each serve 127.0.0.1:8080 in their RUN without conflict', async () => {
    const serve = (id: string) =>
      context([`RUN mkdir /www && echo ${id} > /www/id && httpd -p 127.0.0.1:8080 -h /www && sleep 1 && echo "served=$(timeout 5 wget -qO- http://127.0.0.1:8080/id)"`]);
    const [a, b] = await Promise.all([strata(['build', '--progress', 'plain', serve('build-a')]), strata(['build', '--progress', 'plain', serve('build-b')])]);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(printed(a.err)).toContain('served=build-a');
    expect(printed(b.err)).toContain('served=build-b');
  });

  it('strata run gets its own network by default', async () => {
    const r = await strata(['run', '--rm', 'test/busybox:1.0', 'sh', '-c', `${probe('loopback', 'http://127.0.0.1:8081/')}; ${probe('ip', `http://${INTERNET_ADDRESS}:8080/`)}; ls /sys/class/net`]);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')).toEqual(expect.arrayContaining(['loopback=unreachable', 'ip=internet-hello', 'lo', net.builderIface]));
  });

  it('leaves no network namespace or pasta behind, and the next build removes those of a killed build', async () => {
    const mine = () => readdirSync(NET_DIR).filter((n) => n.startsWith('strata-'));
    const before = new Set(existsSync(NET_DIR) ? mine() : []);
    // outside the test namespaces: the builder's mounts must be visible to the next build
    const ctx = context(['RUN sleep 60']);
    const child = spawn(STRATA, ['build', '--progress', 'plain', ctx], { env, cwd: dir, stdio: 'ignore' });
    let left: string[] = [];
    for (let i = 0; i < 200 && left.length === 0; i += 1) {
      await new Promise((r) => setTimeout(r, 50));
      left = existsSync(NET_DIR) ? mine().filter((n) => !before.has(n) && n.startsWith(`strata-${child.pid}-`)) : [];
    }
    expect(left.length).toBeGreaterThan(0);
    // the spare network the build started for its next RUN, too
    const pastaOf = (name: string) => {
      const pid = Number(readFileSync(join(NET_DIR, name, 'pasta.pid'), 'utf8'));
      return readCmdline(pid).includes(name) ? pid : undefined;
    };
    await new Promise((r) => setTimeout(r, 300));
    const orphans = mine().filter((n) => n.startsWith(`strata-${child.pid}-`));
    const pastas = orphans.map(pastaOf);
    expect(pastas.every((p) => p !== undefined)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // the killed build's network stays until a build starts
    expect(mine().filter((n) => n.startsWith(`strata-${child.pid}-`)).length).toBe(orphans.length);
    const next = await strata(['build', '-q', context(['RUN true'])], { inNs: false });
    expect(next.code).toBe(0);
    expect(mine().filter((n) => n.startsWith(`strata-${child.pid}-`))).toEqual([]);
    // killed: gone, or still in the kernel's exit (its command line already empty)
    for (const pid of pastas) expect(readCmdline(pid)).not.toMatch(/pasta|passt/);
    // and a build that finished left nothing of its own: what is there belongs to live builds (other tests run at once)
    const ofDead = mine().filter((n) => !existsSync(`/proc/${n.split('-')[1]}`));
    expect(ofDead).toEqual([]);
  });
});

function readCmdline(pid: number | undefined): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}
