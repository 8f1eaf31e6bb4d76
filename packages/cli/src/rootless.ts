import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { constants as os, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { defaultStoreRoot } from '@strata/cache';

/**
 * Rootless strata: an ordinary user's strata runs itself again inside a user
 * namespace where it is root, with the user's id mapped to 0 and the user's
 * subordinate range (/etc/subuid, /etc/subgid, through Debian's newuidmap and
 * newgidmap) to 1..N, and a mount namespace of its own: util-linux's
 * `unshare --user --map-root-user --map-auto --mount`. Inside, everything runs
 * as it does for root (overlayfs, runc, pasta), files keep their in-image
 * owners, and what is written on disk belongs to the user and the user's range.
 */

/** Marks the process that already runs in strata's user namespace. */
export const USERNS_MARK = 'STRATA_USERNS';

/** A reason rootless strata cannot start, with the fix. */
export class RootlessError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint: string,
  ) {
    super(message);
    this.name = 'RootlessError';
  }
}

/** The first `name:start:count` line of a subordinate-id file for the user (by name or uid). */
export function subordinateRange(text: string, user: { name: string; uid: number }): { start: number; count: number } | undefined {
  for (const line of text.split('\n')) {
    const [who, start, count] = line.trim().split(':');
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== user.name && who !== String(user.uid)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (Number.isInteger(range.start) && Number.isInteger(range.count) && range.count > 0) return range;
  }
  return undefined;
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  for (const dir of (env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

/** What the machine must give a user for rootless strata; throws RootlessError naming the fix. */
export function checkRootless(env: NodeJS.ProcessEnv, user = { name: userInfo().username, uid: process.getuid?.() ?? -1 }, files = { subuid: '/etc/subuid', subgid: '/etc/subgid', proc: '/proc/sys' }): void {
  const maxNs = readOr(join(files.proc, 'user', 'max_user_namespaces'), '1').trim();
  if (maxNs === '0') {
    throw new RootlessError('ROOTLESS_USERNS_DISABLED', 'user namespaces are disabled on this machine (user.max_user_namespaces = 0)', 'As root: sysctl -w user.max_user_namespaces=28633 (and set it in /etc/sysctl.d/ to keep it).');
  }
  if (readOr(join(files.proc, 'kernel', 'unprivileged_userns_clone'), '1').trim() === '0') {
    throw new RootlessError('ROOTLESS_USERNS_DISABLED', 'unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)', 'As root: sysctl -w kernel.unprivileged_userns_clone=1 (and set it in /etc/sysctl.d/ to keep it).');
  }
  for (const program of ['newuidmap', 'newgidmap', 'unshare']) {
    if (!onPath(program, env)) {
      const pkg = program === 'unshare' ? 'util-linux' : 'uidmap';
      throw new RootlessError('ROOTLESS_TOOL_MISSING', `${program} was not found on PATH: rootless strata maps the user's ids with it`, `As root: apt-get install ${pkg} (scripts/bootstrap --rootless-user ${user.name} does).`);
    }
  }
  // --map-auto (newuidmap with the user's /etc/subuid range) is util-linux 2.38's
  const help = spawnSync('unshare', ['--help'], { encoding: 'utf8' });
  if (!`${help.stdout ?? ''}`.includes('--map-auto')) {
    throw new RootlessError('ROOTLESS_TOOL_MISSING', "this unshare (util-linux) has no --map-auto: rootless strata needs util-linux 2.38 or later", 'Upgrade util-linux (Debian 12 and Ubuntu 23.04 have 2.38), or run strata as root.');
  }
  for (const [kind, path] of [['uid', files.subuid], ['gid', files.subgid]] as const) {
    if (subordinateRange(readOr(path, ''), user) === undefined) {
      throw new RootlessError(
        'ROOTLESS_NO_SUBID_RANGE',
        `user ${user.name} has no subordinate ${kind} range in ${path}: images own files as many users, and rootless strata needs ids to map them to`,
        `As root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user.name} (scripts/bootstrap --rootless-user ${user.name} does).`,
      );
    }
  }
}

/** The environment of the strata that runs in the user namespace: its store and runtime folders are the user's. */
export function rootlessEnv(env: NodeJS.ProcessEnv, uid: number, home: string): NodeJS.ProcessEnv {
  const runtimeDir = env.XDG_RUNTIME_DIR !== undefined && env.XDG_RUNTIME_DIR !== '' ? env.XDG_RUNTIME_DIR : `/tmp/strata-run-${uid}`;
  return {
    ...env,
    [USERNS_MARK]: '1',
    // inside, the process is uid 0: name the user's store, not root's /var/lib/strata
    STRATA_ROOT: defaultStoreRoot({ ...env, HOME: env.HOME ?? home }, uid),
    STRATA_RUN_DIR: env.STRATA_RUN_DIR ?? join(runtimeDir, 'strata'),
  };
}

/**
 * For a user other than root outside strata's user namespace: runs this same
 * command (`process.execPath` + the script and `argv`) again inside one, and
 * resolves to its exit code. Resolves to undefined when no re-run is needed.
 */
export async function runRootless(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  const uid = process.geteuid?.() ?? 0;
  if (uid === 0 || env[USERNS_MARK] === '1') return undefined;
  checkRootless(env);
  const inner = rootlessEnv(env, uid, userInfo().homedir);
  // a folder of this user's only: another user must not have made it (a fallback under /tmp)
  const run = inner.STRATA_RUN_DIR!;
  const notOwn = (why: string): RootlessError =>
    new RootlessError('ROOTLESS_RUN_DIR', `${run} ${why}`, 'Set XDG_RUNTIME_DIR (a login session does) or STRATA_RUN_DIR to a folder of your own.');
  try {
    mkdirSync(run, { recursive: true, mode: 0o700 });
  } catch (error) {
    // e.g. /tmp/strata-run-<uid> made by another user
    throw notOwn(`cannot be made: ${(error as Error).message}`);
  }
  const facts = lstatSync(run);
  if (!facts.isDirectory() || facts.uid !== uid || (facts.mode & 0o022) !== 0) throw notOwn('is not a folder that only this user can write');
  const script = process.argv[1];
  if (script === undefined) throw new RootlessError('ROOTLESS_NO_SCRIPT', 'cannot tell which script to run again in the user namespace', 'Run strata through its launcher (bin/strata or the installed strata command).');
  // this process now only waits: bin/strata leaves its code cache to the inner one, which runs the command
  (globalThis as Record<symbol, unknown>)[Symbol.for('strata.relaunched')] = true;
  const child = spawn(
    'unshare',
    ['--user', '--map-root-user', '--map-auto', '--mount', '--propagation', 'private', '--', process.execPath, script, ...argv],
    { stdio: 'inherit', env: inner },
  );
  // Ctrl-C reaches the inner strata from the terminal already (same process group): a second
  // SIGINT from here would take its default action there, before the step is cleaned up
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = [['SIGINT', () => undefined], ['SIGTERM', forward('SIGTERM')], ['SIGHUP', forward('SIGHUP')]] as const;
  for (const [s, h] of handlers) process.on(s, h);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal === null ? 1 : (os.signals[signal] ?? 1))));
    });
  } finally {
    for (const [s, h] of handlers) process.off(s, h);
  }
}
