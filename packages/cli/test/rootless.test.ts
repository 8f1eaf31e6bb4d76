import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { needsUserNamespace } from '../src/main.js';
import { checkRootless, rootlessEnv, RootlessError, subordinateRange, USERNS_MARK } from '../src/rootless.js';

describe('rootless strata: what the machine must give', () => {
  let dir: string;
  const user = { name: 'dev', uid: 1001 };
  /** A /etc/subuid, /etc/subgid and /proc/sys of our making, and a PATH with the tools (or not). */
  function machine(o: { subuid?: string; subgid?: string; maxNs?: string; clone?: string; tools?: string[] } = {}) {
    const root = mkdtempSync(join(dir, 'm-'));
    const bin = join(root, 'bin');
    mkdirSync(bin);
    for (const t of o.tools ?? ['newuidmap', 'newgidmap', 'unshare']) writeFileSync(join(bin, t), '#!/bin/sh\n', { mode: 0o755 });
    writeFileSync(join(root, 'subuid'), o.subuid ?? 'dev:100000:65536\n');
    writeFileSync(join(root, 'subgid'), o.subgid ?? 'dev:100000:65536\n');
    mkdirSync(join(root, 'proc', 'user'), { recursive: true });
    mkdirSync(join(root, 'proc', 'kernel'), { recursive: true });
    writeFileSync(join(root, 'proc', 'user', 'max_user_namespaces'), `${o.maxNs ?? '1000'}\n`);
    if (o.clone !== undefined) writeFileSync(join(root, 'proc', 'kernel', 'unprivileged_userns_clone'), `${o.clone}\n`);
    return () => checkRootless({ PATH: bin }, user, { subuid: join(root, 'subuid'), subgid: join(root, 'subgid'), proc: join(root, 'proc') });
  }
  const failure = (check: () => void) => {
    try {
      check();
    } catch (error) {
      expect(error).toBeInstanceOf(RootlessError);
      const e = error as RootlessError;
      return { code: e.code, message: e.message, hint: e.hint };
    }
    throw new Error('no error');
  };

  beforeAll(() => {
    dir = mkdtempSync('/tmp/strata-rootless-unit-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on a machine set up for the user (by name or by uid)', () => {
    expect(machine()).not.toThrow();
    expect(machine({ subuid: '1001:200000:65536\n', subgid: '1001:200000:65536\n' })).not.toThrow();
  });

  it('names the missing range and the usermod that adds it', () => {
    expect(failure(machine({ subuid: 'other:100000:65536\n' }))).toEqual({
      code: 'ROOTLESS_NO_SUBID_RANGE',
      message: expect.stringContaining('user dev has no subordinate uid range in'),
      hint: expect.stringContaining('usermod --add-subuids 100000-165535 --add-subgids 100000-165535 dev'),
    });
    expect(failure(machine({ subgid: '' })).message).toContain('no subordinate gid range');
  });

  it('names the package of a missing newuidmap', () => {
    expect(failure(machine({ tools: ['unshare', 'newgidmap'] }))).toMatchObject({ code: 'ROOTLESS_TOOL_MISSING', hint: expect.stringContaining('apt-get install uidmap') });
  });

  it('says which sysctl disables user namespaces', () => {
    expect(failure(machine({ maxNs: '0' }))).toMatchObject({ code: 'ROOTLESS_USERNS_DISABLED', message: expect.stringContaining('user.max_user_namespaces = 0') });
    expect(failure(machine({ clone: '0' }))).toMatchObject({ code: 'ROOTLESS_USERNS_DISABLED', message: expect.stringContaining('kernel.unprivileged_userns_clone = 0') });
  });

  it('reads subordinate ranges as newuidmap does', () => {
    expect(subordinateRange('a:1:2\ndev:100000:65536\n', user)).toEqual({ start: 100000, count: 65536 });
    expect(subordinateRange('dev:x:1\ndev:5:0\n', user)).toBeUndefined();
  });

  it("points the inner strata at the user's store and runtime folders", () => {
    const env = rootlessEnv({ HOME: '/home/dev', XDG_RUNTIME_DIR: '/run/user/1001' }, 1001, '/home/dev');
    expect(env).toMatchObject({ [USERNS_MARK]: '1', STRATA_ROOT: '/home/dev/.local/share/strata', STRATA_RUN_DIR: '/run/user/1001/strata' });
    expect(rootlessEnv({ HOME: '/home/dev', XDG_DATA_HOME: '/data', STRATA_ROOT: '' }, 1001, '/home/dev')).toMatchObject({ STRATA_ROOT: '/data/strata', STRATA_RUN_DIR: '/tmp/strata-run-1001/strata' });
    expect(rootlessEnv({ STRATA_ROOT: '/srv/s' }, 1001, '/home/dev').STRATA_ROOT).toBe('/srv/s');
  });
});

describe('which command lines run in the user namespace', () => {
  test.each([
    [['build', '-t', 'x', '.'], true],
    [['run', 'img', 'python', '--version'], true],
    [['run', 'img', 'sh', '-c', 'x --help'], true],
    [['build', '--help'], false],
    [['--version'], false],
    [['help', 'build'], false],
    [['lint', 'Dockerfile'], false],
    [['pull', '-h'], false],
  ])('%j → %s', (argv, expected) => {
    expect(needsUserNamespace(argv)).toBe(expected);
  });
});
