import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

/** The host's static busybox (Debian's busybox-static, installed by scripts/bootstrap). */
export const HOST_BUSYBOX = '/bin/busybox';

/**
 * Makes a minimal busybox root filesystem: /bin/busybox with relative applet
 * links, /etc/passwd and /etc/group with root, a user `builder` (1000) in
 * groups `builder` (1000) and `extra` (2000), and /tmp. No /proc, /dev, /sys,
 * /etc/hosts: the runtime must create (and strata remove) their mount points.
 */
export function makeBusyboxRootfs(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777);
  copyFileSync(HOST_BUSYBOX, join(dir, 'bin', 'busybox'));
  chmodSync(join(dir, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) symlinkSync('busybox', join(dir, 'bin', applet));
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nbuilder:x:1000:\nextra:x:2000:builder\n');
  return dir;
}

/** A scratch folder on tmpfs (the disk is slow for many small files). */
export function scratchDir(prefix: string): string {
  return mkdtempSync(join('/dev/shm', `strata-${prefix}-`));
}
