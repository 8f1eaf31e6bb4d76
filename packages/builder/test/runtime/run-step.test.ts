import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CAPABILITIES, defaultRoutes, resolveUser, runStep, type RunStepOptions } from '@strata/builder';
import { makeBusyboxRootfs, scratchDir } from '../support/busybox-rootfs.js';

// These tests run real containers with runc over real overlay mounts (root, Linux).
describe('runStep (runc over overlayfs)', () => {
  let base: string;
  let lower: string;
  let n = 0;

  beforeAll(() => {
    base = scratchDir('runstep');
    lower = makeBusyboxRootfs(join(base, 'lower'));
    mkdirSync(join(base, 'empty'));
    writeFileSync(join(base, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    writeFileSync(join(base, 'hosts'), '127.0.0.1 localhost\n');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  async function run(args: string[], extra: Partial<RunStepOptions['container']> = {}) {
    n += 1;
    const dir = join(base, `step${n}`);
    let stdout = '';
    let stderr = '';
    const options: RunStepOptions = {
      overlay: {
        lowerDirs: [lower],
        upperDir: join(dir, 'upper'),
        workDir: join(dir, 'work'),
        target: join(dir, 'merged'),
        emptyDir: join(base, 'empty'),
      },
      container: {
        process: { args, env: ['PATH=/bin', 'FOO=bar'], cwd: '/', uid: 0, gid: 0 },
        etcFiles: { resolvConf: join(base, 'resolv.conf'), hosts: join(base, 'hosts') },
        ...extra,
      },
      stateDir: join(base, 'runc-state'),
      bundleDir: join(dir, 'bundle'),
      id: `strata-test-${process.pid}-${n}`,
      onOutput: (stream, chunk) => {
        if (stream === 'stdout') stdout += chunk;
        else stderr += chunk;
      },
    };
    const result = await runStep(options);
    return { ...result, stdout, stderr, upper: join(dir, 'upper'), merged: join(dir, 'merged') };
  }

  it('streams output and returns the exit code', async () => {
    const r = await run(['/bin/sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('hello\n');
    expect(r.stderr).toBe('oops\n');
  });

  it('runs as pid 1 in its own pid namespace with docker default capabilities and no_new_privs', async () => {
    const r = await run(['/bin/sh', '-c', 'echo $$; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; hostname']);
    expect(r.exitCode).toBe(0);
    const [pid, capEff, nnp, hostname] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    // docker's 14 default capabilities as a mask
    expect(capEff).toBe('CapEff:\t00000000a80425fb');
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
    expect(nnp).toBe('NoNewPrivs:\t1');
    expect(hostname).toBe('strata');
  });

  it('applies env, cwd and a user resolved from the image', async () => {
    const user = resolveUser('builder', {
      passwd: readFileSync(join(lower, 'etc/passwd'), 'utf8'),
      group: readFileSync(join(lower, 'etc/group'), 'utf8'),
    });
    expect(user).toEqual({ uid: 1000, gid: 1000, additionalGids: [2000], home: '/home/builder' });
    const r = await run(['/bin/sh', '-c', 'id -u; id -g; id -G; pwd; echo $FOO'], {
      process: { args: ['/bin/sh', '-c', 'id -u; id -g; id -G; pwd; echo $FOO'], env: ['PATH=/bin', 'FOO=bar'], cwd: '/tmp', uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('1000\n1000\n1000 2000\n/tmp\nbar\n');
  });

  it('--network=none leaves only loopback', async () => {
    const r = await run(['/bin/sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'], { network: 'none' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['lo']);
  });

  it('--network=default: its own namespace with loopback and an interface named after the host route, and its own /sys', async () => {
    const routes = await defaultRoutes();
    const script = 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " " | sort; echo ---; ls /sys/class/net';
    const r = await run(['/bin/sh', '-c', script], { network: 'default' });
    expect(r.exitCode).toBe(0);
    const ifaces = [...new Set([routes.v4?.iface, routes.v6?.iface, 'lo'].filter((x): x is string => x !== undefined))].sort();
    expect(r.stdout).toBe(`${ifaces.join('\n')}\n---\n${ifaces.join('\n')}\n`);
  });

  it('sees the resolv.conf its network gives and hosts read-only, and leaves no mount stub in the layer', async () => {
    const r = await run(['/bin/sh', '-c', 'cat /etc/resolv.conf; echo x > /etc/hosts || echo ro; echo data > /tmp/new; mkdir /made'], { network: 'host' });
    // --network host: the host's own resolv.conf, as it is
    expect(r.stdout).toContain(readFileSync('/etc/resolv.conf', 'utf8'));
    expect(r.stdout).toContain('ro');
    // the layer is exactly what the step wrote: /tmp/new and /made (and /tmp copied up as its parent)
    expect(readdirSync(r.upper).sort()).toEqual(['made', 'tmp']);
    expect(readdirSync(join(r.upper, 'tmp'))).toEqual(['new']);
    expect(readFileSync(join(r.upper, 'tmp', 'new'), 'utf8')).toBe('data\n');
    // unmounted afterwards
    expect(existsSync(join(r.merged, 'bin'))).toBe(false);
  });

  it('keeps the host invisible: no host processes, no host files', async () => {
    const script = `tr "\\0" " " < /proc/1/cmdline; echo; test -e /proc/${process.pid} && echo host-visible || echo host-hidden; ls /work 2>&1 || true`;
    const r = await run(['/bin/sh', '-c', script]);
    const [pid1, host, ls] = r.stdout.split('\n');
    // pid 1 is the step's own shell; the test runner's pid does not exist in the step's namespace
    expect(pid1).toBe(`/bin/sh -c ${script} `);
    expect(host).toBe('host-hidden');
    expect(ls).toMatch(/No such file/);
  });

  it('reports a missing executable as a runtime failure with the runtime message', async () => {
    await expect(run(['/no/such/binary'])).rejects.toMatchObject({ code: 'BUILD_RUNTIME_FAILED' });
  });
});
