// Debian's dockerd (docker.io) for benchmarks that compare with BuildKit: a
// daemon of its own with a temp data-root and socket under `dir`, no iptables
// and no bridge (as root on this machine), driven by Debian's 20.10 client
// (/usr/bin/docker; a newer client on PATH would need buildx).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** Stops a child process: SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
export async function stopChild(child, graceMs) {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts dockerd under `dir` (data-root, exec-root, socket: on the disk `dir`
 * is on). Returns `{ error }` when it cannot run (not installed, exited, no
 * answer within 60 s), else `{ sock, docker, stop }`: `docker` is the client
 * command line for its socket, `stop()` ends it. `insecureRegistries`
 * (`127.0.0.1:PORT`) are reached over plain HTTP (`docker push` to a local
 * registry; dockerd also treats 127.0.0.0/8 so by default, said here anyway).
 */
export async function startDockerd(dir, { insecureRegistries = [] } = {}) {
  if (!existsSync('/usr/sbin/dockerd') || !existsSync('/usr/bin/docker')) return { error: 'dockerd is not installed (apt-get install docker.io)' };
  mkdirSync(dir, { recursive: true });
  const sock = join(dir, 'docker.sock');
  const daemon = spawn(
    '/usr/sbin/dockerd',
    ['--iptables=false', '--ip6tables=false', '--bridge=none', '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'), '-H', `unix://${sock}`, ...insecureRegistries.flatMap((r) => ['--insecure-registry', r])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  daemon.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  const tail = () => stderr.trim().split('\n').slice(-3).join(' | ');
  const stop = () => stopChild(daemon, 20_000);
  for (let i = 0; i < 120; i++) {
    if (daemon.exitCode !== null) return { error: `dockerd exited (${daemon.exitCode}): ${tail()}` };
    if (spawnSync('/usr/bin/docker', ['-H', `unix://${sock}`, 'version'], { stdio: 'ignore' }).status === 0) {
      return { sock, docker: `/usr/bin/docker -H unix://${sock}`, stop, log: () => stderr };
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  await stop();
  return { error: `dockerd did not answer within 60 s: ${tail()}` };
}
