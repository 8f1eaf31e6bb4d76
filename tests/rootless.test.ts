// Rootless strata: an ordinary user builds, runs, commits, saves, loads,
// pushes, pulls and prunes with no root, in a user namespace mapped from
// /etc/subuid (scripts/setup-rootless sets the user up), and gets the image
// IDs a root build of the same inputs gets, ownership included.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { STRATA } from './support/cli-json.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { testImage } from './support/test-images.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(180_000);

const USER = 'strata-rootless';
const NO_RANGE_USER = 'strata-nosubid';
const EPOCH = '1700000000';

function ensureUser(name: string): { uid: number; home: string } {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', '-s', '/bin/sh', name]);
  }
  const [, , uid, , , home] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { uid: Number(uid), home: home! };
}

describe('rootless strata', () => {
  let dir: string;
  let user: { uid: number; home: string };
  let subuidStart: number;
  let registry: TestRegistry;
  let loopback: Server;
  let loopbackPort: number;

  beforeAll(async () => {
    user = ensureUser(USER);
    execFileSync(resolve(__dirname, '..', 'scripts', 'setup-rootless'), [USER], { stdio: 'ignore' });
    const line = execFileSync('grep', [`^${USER}:`, '/etc/subuid'], { encoding: 'utf8' }).trim().split('\n')[0]!;
    subuidStart = Number(line.split(':')[1]);
    rmSync(join(user.home, '.local', 'share', 'strata'), { recursive: true, force: true });
    dir = mkdtempSync('/tmp/strata-rootless-');
    chmodSync(dir, 0o755);
    registry = await startRegistry();
    loopback = createServer((_req, res) => res.end('loopback-secret\n'));
    await new Promise<void>((r) => loopback.listen(0, '127.0.0.1', r));
    loopbackPort = (loopback.address() as { port: number }).port;
  });
  afterAll(async () => {
    await registry?.stop();
    loopback?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** `strata ARGS` as USER (runuser), with SOURCE_DATE_EPOCH; a failure is a result. */
  async function asUser(name: string, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
    try {
      const r = await execFileAsync('runuser', ['-u', name, '--', 'env', `SOURCE_DATE_EPOCH=${EPOCH}`, STRATA, ...args], { cwd: dir, maxBuffer: 16 << 20 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  }
  const must = async (args: readonly string[]) => {
    const r = await asUser(USER, args);
    if (r.code !== 0) throw new Error(`strata ${args.join(' ')} failed (${r.code}): ${r.err}`);
    return r.out;
  };

  /** A context readable by every user. */
  function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
    const ctx = join(dir, name);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(ctx, f), text);
    execFileSync('chmod', ['-R', 'a+rX', ctx]);
    return ctx;
  }

  it('builds the image a root build makes (same image ID), with RUN chown, COPY --chown and USER; files on disk belong to the mapped ids', async () => {
    const ctx = context(
      'owners',
      [
        'FROM test/busybox:1.0',
        'RUN echo hi > /hello && chown 1000:1000 /hello && mkdir /d && chown 123:456 /d && touch /d/x && chmod 4755 /d/x',
        'COPY --chown=1000:2000 app.txt /app.txt',
        'USER 1000',
        'RUN id > /tmp/id',
        '',
      ].join('\n'),
      { 'app.txt': 'app\n' },
    );
    const archive = testImage('busybox', 'amd64').archive;
    // root, in a store of its own
    const rootStore = join(dir, 'root-store');
    const rootEnv = { PATH: process.env.PATH, STRATA_ROOT: rootStore, SOURCE_DATE_EPOCH: EPOCH };
    execFileSync(STRATA, ['load', '--name', 'test/busybox:1.0', '-i', archive], { env: rootEnv, stdio: 'ignore' });
    const rootId = execFileSync(STRATA, ['build', '-q', ctx], { env: rootEnv, encoding: 'utf8' }).trim();

    await must(['load', '--name', 'test/busybox:1.0', '-i', archive]);
    const id = (await must(['build', '-q', '-t', 'me/owners:1', ctx])).trim();
    expect(id).toBe(rootId);
    // the store is the user's, in ~/.local/share/strata
    const store = join(user.home, '.local', 'share', 'strata');
    expect(statSync(store).uid).toBe(user.uid);
    // uid 1000 in the image is the user's subordinate id start + 999 on the disk (0 is the user itself)
    const snapshots = join(store, 'snapshots-v1', 'layers');
    const owners = readdirSync(snapshots)
      .map((chain) => join(snapshots, chain, 'fs', 'hello'))
      .filter((p) => statSync(p, { throwIfNoEntry: false }) !== undefined)
      .map((p) => statSync(p).uid);
    expect(owners).toEqual([subuidStart + 999]);
  });

  it('builds on a base whose layers have an opaque folder, a whiteout, a fifo and a device node as root does', async () => {
    // the base, made by root: layer 2 removes /x and makes it again (opaque), and /gone (whiteout)
    const rootStore = join(dir, 'root-store-2');
    const rootEnv = { PATH: process.env.PATH, STRATA_ROOT: rootStore, SOURCE_DATE_EPOCH: EPOCH };
    execFileSync(STRATA, ['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', 'amd64').archive], { env: rootEnv, stdio: 'ignore' });
    const base = context('special-base', 'FROM test/busybox:1.0\nRUN mkdir /x && touch /x/a /gone && mkfifo /pipe && mknod /null2 c 1 3\nRUN rm -rf /x /gone && mkdir /x && touch /x/b\n');
    execFileSync(STRATA, ['build', '-q', '-t', 'local/special:1', base], { env: rootEnv, stdio: 'ignore' });
    const own = join(dir, 'user-files-2');
    mkdirSync(own);
    const tar = join(own, 'special.tar');
    execFileSync(STRATA, ['save', '-o', tar, 'local/special:1'], { env: rootEnv });
    chownSync(own, user.uid, user.uid);
    chownSync(tar, user.uid, user.uid);
    const app = context('special-app', 'FROM local/special:1\nRUN ls /x > /listing && test ! -e /gone && test -p /pipe && echo ok > /checked\n');
    const rootId = execFileSync(STRATA, ['build', '-q', app], { env: rootEnv, encoding: 'utf8' }).trim();
    await must(['load', '-i', tar]);
    const r = await asUser(USER, ['build', '-q', app]);
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe(rootId);
  });

  it('with fuse-overlayfs (the overlay of kernels before 5.11, forced here) builds the images root builds, and says so', async () => {
    const store = join(user.home, 'fuse-store');
    rmSync(store, { recursive: true, force: true });
    const fuse = async (args: readonly string[]) => {
      const r = await execFileAsync('runuser', ['-u', USER, '--', 'env', `SOURCE_DATE_EPOCH=${EPOCH}`, 'STRATA_OVERLAY=fuse-overlayfs', `STRATA_ROOT=${store}`, STRATA, ...args], {
        cwd: dir,
        maxBuffer: 16 << 20,
      }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: `${e.stderr ?? ''} (failed)` }));
      return r;
    };
    const rootStore = join(dir, 'root-store-fuse');
    const rootEnv = { PATH: process.env.PATH, STRATA_ROOT: rootStore, SOURCE_DATE_EPOCH: EPOCH };
    const archive = testImage('busybox', 'amd64').archive;
    execFileSync(STRATA, ['load', '--name', 'test/busybox:1.0', '-i', archive], { env: rootEnv, stdio: 'ignore' });
    expect((await fuse(['load', '--name', 'test/busybox:1.0', '-i', archive])).stderr).not.toMatch(/failed/);
    // a RUN that deletes lower files and makes a removed folder again (whiteouts, an opaque folder in fuse-overlayfs's form),
    // then a RUN over that layer
    const ctx = context(
      'fuse',
      [
        'FROM test/busybox:1.0',
        'RUN mkdir -p /x/sub && touch /x/a /x/sub/b /keep /gone && chown 1000:1000 /x/a',
        'RUN rm -rf /x /gone && mkdir /x && touch /x/new && chmod 700 /x',
        'RUN ls -A /x > /listing && test ! -e /gone',
        '',
      ].join('\n'),
    );
    const rootId = execFileSync(STRATA, ['build', '-q', ctx], { env: rootEnv, encoding: 'utf8' }).trim();
    const r = await fuse(['build', '--progress', 'plain', ctx]);
    expect(r.stderr).toMatch(/#0 rootless: a user namespace, overlays by fuse-overlayfs/);
    expect(r.stderr).not.toMatch(/ERROR|failed/);
    expect(r.stderr).toContain(`writing image ${rootId} done`);
  });

  it('gives RUN its own network: not the host loopback, its own interfaces', async () => {
    const ctx = context('net', `FROM test/busybox:1.0\nRUN echo "loopback=$(timeout 5 wget -qO- http://127.0.0.1:${loopbackPort}/ 2>/dev/null || echo unreachable)"; echo "net=$(ls /sys/class/net | tr '\\n' ' ')"\n`);
    await must(['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', 'amd64').archive]);
    const r = await asUser(USER, ['build', '--progress', 'plain', ctx]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/#0 rootless: a user namespace, overlays by overlayfs/);
    expect(r.err).toMatch(/loopback=unreachable/);
    expect(r.err).toMatch(/net=.*lo /);
  });

  it('runs and commits a container, saves and loads, pushes and pulls, prunes', async () => {
    await must(['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', 'amd64').archive]);
    const out = await must(['run', '--name', 'c1', 'test/busybox:1.0', 'sh', '-c', 'echo made > /made && chown 1000 /made && stat -c %u /made']);
    expect(out.trim()).toBe('1000');
    const committed = (await must(['commit', 'c1', 'me/committed:1'])).trim();
    expect(committed).toMatch(/^sha256:[0-9a-f]{64}$/);
    await must(['rm', 'c1']);
    const own = join(dir, 'user-files');
    mkdirSync(own);
    chownSync(own, user.uid, user.uid);
    const tar = join(own, 'saved.tar');
    await must(['save', '-o', tar, 'me/committed:1']);
    await must(['rmi', 'me/committed:1']);
    await must(['load', '-i', tar]);
    expect(await must(['images', 'me/committed'])).toMatch(/me\/committed\s+1/);
    const ref = `${registry.host}/rootless/committed:1`;
    await must(['tag', 'me/committed:1', ref]);
    await must(['push', ref]);
    await must(['rmi', ref, 'me/committed:1']);
    await must(['pull', ref]);
    const again = await must(['run', '--rm', ref, 'cat', '/made']);
    expect(again.trim()).toBe('made');
    await must(['prune', '--all']);
    // skopeo, an independent reader, agrees with what the user pushed
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' })) as { Layers: string[] };
    expect(inspect.Layers.length).toBeGreaterThan(1);
  });

  it('builds inside an unprivileged OCI container (runc): non-root, no added capabilities, as the README documents', async () => {
    // The container's image is this machine's root filesystem through an overlay (so it has node,
    // strata and the tools), with newuidmap/newgidmap given file capabilities instead of setuid:
    // a setuid newuidmap writes the map as root and would need CAP_SYS_ADMIN, which a pod lacks.
    const bundle = mkdtempSync('/dev/shm/strata-rootless-ctr-');
    const rootfs = join(bundle, 'rootfs');
    const home = join(bundle, 'home');
    for (const d of ['upper', 'work', 'rootfs', 'home']) mkdirSync(join(bundle, d));
    chownSync(home, user.uid, user.uid);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=/,upperdir=${join(bundle, 'upper')},workdir=${join(bundle, 'work')}`, rootfs]);
    try {
      for (const [tool, cap] of [['newuidmap', 'cap_setuid=ep'], ['newgidmap', 'cap_setgid=ep']] as const) {
        const path = join(rootfs, 'usr', 'bin', tool);
        chmodSync(path, 0o755);
        execFileSync('setcap', [cap, path]);
      }
      const ctx = context('in-container', 'FROM test/busybox:1.0\nRUN echo inside > /f && chown 1000 /f && echo "net=$(ls /sys/class/net | tr \'\\n\' \' \')"\n');
      const script = `${STRATA} load --name test/busybox:1.0 -i ${testImage('busybox', 'amd64').archive} && ${STRATA} build -q ${ctx}`;
      const dockerCaps = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'].map((c) => `CAP_${c}`);
      const config = {
        ociVersion: '1.0.2',
        process: {
          user: { uid: user.uid, gid: user.uid },
          args: ['sh', '-c', script],
          env: ['PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', `HOME=${user.home}`, `SOURCE_DATE_EPOCH=${EPOCH}`],
          cwd: '/tmp',
          // docker's (and a pod's) default bounding set, nothing effective for a non-root user
          capabilities: { bounding: dockerCaps, effective: [], permitted: [], inheritable: [], ambient: [] },
          noNewPrivileges: false,
        },
        root: { path: 'rootfs', readonly: false },
        hostname: 'pod',
        mounts: [
          { destination: '/proc', type: 'proc', source: 'proc' },
          { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
          { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
          { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
          { destination: user.home, type: 'bind', source: home, options: ['rbind', 'rw'] },
        ],
        linux: {
          // seccomp and AppArmor unconfined, /proc unmasked (procMount: Unmasked): what rootless BuildKit asks for
          namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
          devices: [{ path: '/dev/net/tun', type: 'c', major: 10, minor: 200, fileMode: 0o666, uid: 0, gid: 0 }],
          resources: { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }] },
          maskedPaths: [],
          readonlyPaths: [],
        },
      };
      writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
      const r = await execFileAsync('runc', ['--root', join(bundle, 'runc-state'), 'run', '--bundle', bundle, `strata-rootless-ctr-${process.pid}`], { maxBuffer: 16 << 20 }).catch(
        (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: `${e.stderr ?? ''} (failed)` }),
      );
      expect(r.stderr).not.toMatch(/error|failed/i);
      const id = r.stdout.trim().split('\n').pop();
      // the same image a root build makes
      const rootStore = join(dir, 'root-store-ctr');
      const rootEnv = { PATH: process.env.PATH, STRATA_ROOT: rootStore, SOURCE_DATE_EPOCH: EPOCH };
      execFileSync(STRATA, ['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', 'amd64').archive], { env: rootEnv, stdio: 'ignore' });
      expect(id).toBe(execFileSync(STRATA, ['build', '-q', ctx], { env: rootEnv, encoding: 'utf8' }).trim());
    } finally {
      spawnSync('umount', ['-l', rootfs]);
      rmSync(bundle, { recursive: true, force: true });
    }
  });

  it('a user without a subordinate id range gets a clear error naming the fix', async () => {
    ensureUser(NO_RANGE_USER);
    for (const file of ['/etc/subuid', '/etc/subgid']) execFileSync('sed', ['-i', `/^${NO_RANGE_USER}:/d`, file]);
    const r = await asUser(NO_RANGE_USER, ['images']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/ROOTLESS_NO_SUBID_RANGE: user strata-nosubid has no subordinate uid range in \/etc\/subuid/);
    expect(r.err).toMatch(/usermod --add-subuids .* strata-nosubid/);
  });
});
