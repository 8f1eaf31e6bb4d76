import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerResolvConf, createRuntimeSpec, defaultRoutes, NetworkPool, networkName, openNetwork, removeOrphanNetworks } from '@strata/builder';
import { scratchDir } from '../support/busybox-rootfs.js';

describe('containerResolvConf', () => {
  it('drops nameservers on the host loopback and keeps the others with search and options', () => {
    const host = 'search lab.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nnameserver ::1\noptions edns0 trust-ad\n';
    expect(containerResolvConf(host, '192.0.2.1')).toEqual({
      text: 'search lab.example\nnameserver 10.0.0.2\noptions edns0 trust-ad\n',
      forwarded: false,
    });
  });

  it('points at the forwarder when every nameserver is on the loopback (systemd-resolved)', () => {
    expect(containerResolvConf('nameserver 127.0.0.53\noptions edns0\n', '192.0.2.1')).toEqual({
      text: 'nameserver 192.0.2.1\noptions edns0\n',
      forwarded: true,
    });
    expect(containerResolvConf('nameserver ::1\n', 'fd00::1').text).toBe('nameserver fd00::1\n');
    // an empty or missing resolv.conf: the forwarder (which asks the host's resolver) too
    expect(containerResolvConf('', '192.0.2.1')).toEqual({ text: 'nameserver 192.0.2.1\n', forwarded: true });
  });

  it('without a forwarder leaves no loopback nameserver (rather none than one that cannot answer)', () => {
    expect(containerResolvConf('nameserver 127.0.0.1\nsearch x\n')).toEqual({ text: 'search x\n', forwarded: false });
  });
});

describe('defaultRoutes', () => {
  let dir: string;
  beforeAll(() => {
    dir = scratchDir('routes');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the lowest-metric default route of each family, skipping routes that are down or unreachable', async () => {
    writeFileSync(
      join(dir, 'route'),
      [
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
        'wlan0\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0',
        'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0',
        'down0\t00000000\t01010101\t0002\t0\t0\t1\t00000000\t0\t0\t0',
        'eth0\t000200C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0',
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(dir, 'ipv6_route'),
      [
        `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 ${'0'.repeat(32)} ffffffff 00000001 00000000 00200200       lo`,
        `${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0`,
        `fd000000000000000000000000000000 40 ${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00000100 00000001 00000000 00000001     eth0`,
        '',
      ].join('\n'),
    );
    expect(await defaultRoutes(dir)).toEqual({
      v4: { iface: 'eth0', gateway: '192.0.2.1' },
      v6: { iface: 'eth0', gateway: 'fd00:0000:0000:0000:0000:0000:0000:0001' },
    });
  });

  it('has none on a machine without a default route', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    writeFileSync(join(empty, 'route'), 'Iface\tDestination\tGateway\n');
    expect(await defaultRoutes(empty)).toEqual({});
  });
});

describe('createRuntimeSpec networking', () => {
  const spec = (extra: object) =>
    createRuntimeSpec({ rootfs: '/r', process: { args: ['true'], env: [], cwd: '/', uid: 0, gid: 0 }, ...extra }) as unknown as {
      linux: { namespaces: { type: string; path?: string }[] };
      mounts: { destination: string; type: string; source: string }[];
    };
  const netns = (s: ReturnType<typeof spec>) => s.linux.namespaces.filter((n) => n.type === 'network');
  const sys = (s: ReturnType<typeof spec>) => s.mounts.find((m) => m.destination === '/sys');

  it('default: joins the given namespace and mounts its own sysfs', () => {
    const s = spec({ network: 'default', networkNamespace: '/run/strata/net/x/ns' });
    expect(netns(s)).toEqual([{ type: 'network', path: '/run/strata/net/x/ns' }]);
    expect(sys(s)).toMatchObject({ type: 'sysfs', source: 'sysfs' });
  });

  it('default without a namespace, and none: a fresh namespace (loopback only) with its own sysfs', () => {
    for (const s of [spec({}), spec({ network: 'none' })]) {
      expect(netns(s)).toEqual([{ type: 'network' }]);
      expect(sys(s)).toMatchObject({ type: 'sysfs' });
    }
  });

  it("host: no network namespace, the host's /sys bound read-only", () => {
    const s = spec({ network: 'host' });
    expect(netns(s)).toEqual([]);
    expect(sys(s)).toMatchObject({ type: 'bind', source: '/sys' });
  });
});

describe('openNetwork and NetworkPool', () => {
  let dir: string;
  beforeAll(() => {
    dir = scratchDir('netdir');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('names a namespace after its owner process', () => {
    expect(networkName('strata-123-abc-1')).toBe('strata-123-abc-1');
    expect(networkName('0123456789ab')).toBe(`strata-${process.pid}-0123456789ab`);
  });

  it('a missing pasta is BUILD_NETWORK_MISSING naming the package; a failing one BUILD_NETWORK_FAILED; neither leaves a namespace', async () => {
    const networkDir = join(dir, 'failing');
    await expect(openNetwork({ mode: 'default', id: 'a', networkDir, pasta: '/nonexistent/pasta' })).rejects.toMatchObject({
      code: 'BUILD_NETWORK_MISSING',
      hint: expect.stringMatching(/passt/),
    });
    await expect(openNetwork({ mode: 'default', id: 'b', networkDir, pasta: 'false' })).rejects.toMatchObject({ code: 'BUILD_NETWORK_FAILED' });
    expect(readdirSync(networkDir)).toEqual([]);
  });

  it('host and none need no namespace; host passes the host resolv.conf as it is', async () => {
    const resolv = join(dir, 'resolv.conf');
    writeFileSync(resolv, 'nameserver 127.0.0.53\n');
    const host = await openNetwork({ mode: 'host', id: 'h', hostResolvConf: resolv });
    expect(host.namespace).toEqual({ kind: 'host' });
    expect(host.resolvConf).toBe('nameserver 127.0.0.53\n');
    const none = await openNetwork({ mode: 'none', id: 'n' });
    expect(none.namespace).toEqual({ kind: 'new' });
  });

  it('a pool gives each take its own namespace and pasta, starts the next early, and leaves nothing after close', async () => {
    const networkDir = join(dir, 'pool');
    const pool = new NetworkPool({ networkDir });
    const pasta = (name: string) => Number(existsSync(join(networkDir, name, 'pasta.pid')) ? readFileSync(join(networkDir, name, 'pasta.pid'), 'utf8') : 0);
    let pids: number[] = [];
    try {
      const first = await pool.take('default');
      const second = await pool.take('default');
      expect(first.namespace.kind).toBe('path');
      expect(second.namespace).not.toEqual(first.namespace);
      // two taken and the spare (started in the background), each with its own pasta
      for (let i = 0; i < 500 && pids.filter((p) => p > 0).length < 3; i += 1) {
        await new Promise((r) => setTimeout(r, 10));
        pids = readdirSync(networkDir).map(pasta);
      }
      expect(new Set(pids.filter((p) => p > 0)).size).toBe(3);
      pool.release(first);
      pool.release(second);
    } finally {
      await pool.close();
    }
    expect(readdirSync(networkDir)).toEqual([]);
    for (const pid of pids) expect(existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '').not.toMatch(/pasta/);
  });

  it('prepare() starts a network that the next take() gets, and starts nothing when one is waiting', async () => {
    const networkDir = join(dir, 'prepared');
    const pool = new NetworkPool({ networkDir });
    try {
      pool.prepare();
      pool.prepare();
      // one network starting, not two
      const listed = () => (existsSync(networkDir) ? readdirSync(networkDir) : []);
      for (let i = 0; i < 500 && listed().length === 0; i += 1) await new Promise((r) => setTimeout(r, 10));
      expect(readdirSync(networkDir)).toHaveLength(1);
      const [prepared] = readdirSync(networkDir);
      const taken = await pool.take('default');
      expect(taken.namespace).toEqual({ kind: 'path', path: join(networkDir, prepared!, 'ns') });
      pool.release(taken);
    } finally {
      await pool.close();
    }
    expect(readdirSync(networkDir)).toEqual([]);
  });

  it('removeOrphanNetworks removes the namespaces of dead processes and keeps the live ones', async () => {
    const networkDir = join(dir, 'orphans');
    mkdirSync(join(networkDir, 'strata-999999999-dead'), { recursive: true });
    mkdirSync(join(networkDir, `strata-${process.pid}-live`), { recursive: true });
    expect(await removeOrphanNetworks(networkDir)).toEqual(['strata-999999999-dead']);
    expect(readdirSync(networkDir)).toEqual([`strata-${process.pid}-live`]);
  });
});
