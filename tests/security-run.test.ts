// RUN isolation: a step tries what an escape needs — see host processes,
// mount, make a user namespace, load a module, open a host disk through a
// node it made, set the clock, swap, reach the store or the context — and
// every attempt fails inside its container. The report is written into the
// image and read back with umoci.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, createRuntimeSpec, DENIED_SYSCALLS } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(120_000);

const base = 'localhost/test/busybox:latest';
let dir: string;
let store: Store;
let context: string;

/** A block device of this host (major:minor), for the step to make a node of. */
function hostBlockDevice(): string {
  for (const name of readdirSync('/dev').sort()) {
    try {
      const st = lstatSync(join('/dev', name));
      if (st.isBlockDevice()) return `${Math.floor(st.rdev / 256)} ${st.rdev % 256}`;
    } catch {
      // gone
    }
  }
  return '7 0';
}

beforeAll(async () => {
  // the store and context live under the host's /tmp, which the step's /tmp (the image's) must not show
  dir = mkdtempSync(join(tmpdir(), 'strata-sec-run-'));
  store = await Store.open(join(dir, 'store'));
  await loadTestImage(store, testImage('busybox', 'amd64'), base);
  context = join(dir, 'ctx');
  mkdirSync(context);
  writeFileSync(join(context, 'context-file'), 'context\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a RUN step', () => {
  it('cannot see host processes, mount, unshare, load modules, open host disks, set the clock, swap, or reach the store and context', async () => {
    const device = hostBlockDevice();
    const attempt = (name: string, command: string) => `{ ${command}; } > /r/${name} 2>&1; echo "rc=$?" >> /r/${name}`;
    const script = [
      'mkdir /r',
      `grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status > /r/status`,
      `ls /proc | grep -c '^[0-9]' > /r/pids`,
      `tr '\\0' ' ' < /proc/1/cmdline > /r/pid1`,
      attempt('mount', 'mount -t tmpfs none /mnt'),
      attempt('unshare', 'unshare -U -r true'),
      attempt('insmod', 'insmod /bin/busybox'),
      attempt('disk', `mknod /tmp/disk b ${device} && dd if=/tmp/disk of=/dev/null bs=512 count=1`),
      attempt('date', 'date -s 2001-01-01'),
      attempt('swapon', 'swapon /tmp/disk'),
      attempt('store', `ls ${store.root}`),
      attempt('context', `ls ${context}`),
      attempt('work', 'ls /work/main'),
      'true',
    ].join('; ');
    await build({ store, context, dockerfileText: `FROM ${base}\nRUN ${script}\n`, tags: ['localhost/sec/run:1'] });
    const out = join(dir, 'rootfs');
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:localhost/sec/run:1`, out], { stdio: 'pipe' });
    const r = (name: string) => readFileSync(join(out, 'r', name), 'utf8');

    // the filter and privileges runc applied: seccomp filter mode, no_new_privs, docker's 14 capabilities
    expect(r('status')).toMatch(/Seccomp:\s+2/);
    expect(r('status')).toMatch(/NoNewPrivs:\s+1/);
    expect(r('status')).toMatch(/CapEff:\s+00000000a80425fb/);
    // its own pid namespace: a handful of processes, pid 1 is its shell
    const hostPids = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).length;
    const pids = Number(r('pids').trim());
    expect(pids).toBeLessThan(10);
    expect(hostPids).toBeGreaterThan(pids);
    expect(r('pid1')).toMatch(/^\/bin\/sh -c /);
    for (const name of ['mount', 'unshare', 'insmod', 'disk', 'date', 'swapon']) {
      // busybox date reports the refusal but exits 0
      if (name !== 'date') expect({ name, text: r(name) }).toEqual({ name, text: expect.stringMatching(/rc=[1-9][0-9]*\n$/) });
      expect({ name, text: r(name) }).toEqual({ name, text: expect.stringMatching(/Operation not permitted|Permission denied|permission denied/) });
    }
    for (const name of ['store', 'context', 'work']) {
      expect({ name, text: r(name) }).toEqual({ name, text: expect.stringMatching(/No such file or directory[\s\S]*rc=[1-9]/) });
    }
  });

  it('gets a spec with the seccomp deny list on the host architecture and a deny-all device cgroup', () => {
    const spec = createRuntimeSpec({ rootfs: '/x', process: { args: ['true'], env: [], cwd: '/', uid: 0, gid: 0 } });
    const seccomp = spec.linux.seccomp as { defaultAction: string; architectures: string[]; syscalls: { names: string[]; action: string; errnoRet?: number }[] };
    expect(seccomp.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(seccomp.architectures).toContain(process.arch === 'arm64' ? 'SCMP_ARCH_AARCH64' : 'SCMP_ARCH_X86_64');
    const denied = seccomp.syscalls.find((s) => s.errnoRet === 1 && s.names.includes('mount'));
    for (const name of ['mount', 'umount2', 'kexec_load', 'init_module', 'finit_module', 'delete_module', 'swapon', 'reboot', 'unshare', 'bpf']) {
      expect(denied?.names).toContain(name);
    }
    expect(DENIED_SYSCALLS).toEqual(denied?.names);
    expect(spec.linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
    expect(createRuntimeSpec({ rootfs: '/x', process: { args: ['true'], env: [], cwd: '/', uid: 0, gid: 0 }, seccomp: false }).linux.seccomp).toBeUndefined();
  });
});
