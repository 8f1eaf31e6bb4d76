// RUN --mount=type=ssh: a RUN step clones a repository over ssh with the
// agent of --ssh, and the key reaches no layer, no cache record, no event.
// RUN steps have a network of their own and do not reach the build host's
// 127.0.0.1, so sshd runs in the "internet" namespace of
// tests/support/test-network.ts and strata in its "builder" namespace, as on
// a real machine whose RUN steps reach a git server through the default route.
// busybox has no git or ssh client: the test ADDs the host's (Debian's git
// and openssh-client, with the libraries ldd names) as a tar layer.
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { STRATA } from './support/cli-json.js';
import { git, startSshd, type Sshd } from './support/git-servers.js';
import { testImage } from './support/test-images.js';
import { INTERNET_ADDRESS, makeTestNetwork, type TestNetwork } from './support/test-network.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(120_000);

describe('RUN --mount=type=ssh', () => {
  let net: TestNetwork;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let sshd: Sshd;
  let key: string;
  let repoUrl: string;
  let ctx: string;

  beforeAll(async () => {
    net = await makeTestNetwork();
    dir = mkdtempSync('/dev/shm/strata-run-ssh-');
    env = { PATH: process.env.PATH, STRATA_ROOT: join(dir, 'store') };
    const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
    await execFileAsync(STRATA, ['load', '--name', 'test/busybox:1.0', '-i', testImage('busybox', arch).archive], { env });
    // the repository, served by sshd in the internet namespace
    const work = join(dir, 'work');
    mkdirSync(work);
    git(work, ['init', '-q']);
    writeFileSync(join(work, 'README'), 'cloned over ssh\n');
    git(work, ['add', '-A']);
    git(work, ['commit', '-q', '-m', 'one']);
    git(dir, ['clone', '-q', '--bare', work, join(dir, 'repo.git')]);
    key = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'strata-run-ssh', '-f', key]);
    sshd = await startSshd(join(dir, 'sshd'), readFileSync(`${key}.pub`, 'utf8'), { address: INTERNET_ADDRESS, wrap: net.inInternet });
    repoUrl = sshd.url(join(dir, 'repo.git'));
    // git and ssh from the host, with their libraries, for the busybox image
    ctx = join(dir, 'ctx');
    mkdirSync(ctx);
    const files = new Set(['usr/bin/git', 'usr/bin/ssh']);
    for (const line of execFileSync('ldd', ['/usr/bin/git', '/usr/bin/ssh'], { encoding: 'utf8' }).split('\n')) {
      const path = /(\/\S+) \(0x/.exec(line)?.[1];
      if (path !== undefined) files.add(path.slice(1));
    }
    execFileSync('tar', ['-chf', join(ctx, 'tools.tar'), '-C', '/', ...files]);
  });
  afterAll(async () => {
    await sshd?.close();
    net?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  async function strata(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
    const argv = net.inBuilder([STRATA, ...args]);
    try {
      const r = await execFileAsync(argv[0] as string, argv.slice(1), { env, cwd: dir, maxBuffer: 64 << 20 });
      return { code: 0, out: r.stdout, err: r.stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  }

  function dockerfile(name: string, lines: readonly string[]): string {
    const file = join(ctx, name);
    writeFileSync(file, ['FROM test/busybox:1.0', 'ADD tools.tar /', ...lines, ''].join('\n'));
    return file;
  }

  it('clones over ssh with the agent; the key is in no layer, record or event; the socket leaves nothing', async () => {
    const file = dockerfile('Dockerfile.clone', [
      `RUN --mount=type=ssh GIT_SSH_COMMAND='ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null' git clone -q ${repoUrl} /cloned && cat /cloned/README && echo "sock=$SSH_AUTH_SOCK"`,
    ]);
    const r = await strata(['build', '--progress', 'json', '--ssh', `default=${key}`, '-f', file, '-t', 'cloned', ctx]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const events = r.out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string; index?: number; text?: string; layer?: { digest: string } });
    const logged = events.filter((e) => e.type === 'step-log').map((e) => e.text);
    expect(logged).toContain('cloned over ssh');
    expect(logged).toContain('sock=/run/buildkit/ssh_agent.0');
    const layer = events.find((e) => e.type === 'step-completed' && e.index === 3)?.layer?.digest;
    expect(layer).toBeDefined();
    const store = env.STRATA_ROOT as string;
    const names = execFileSync('tar', ['-tf', join(store, 'blobs', 'sha256', (layer as string).slice(7))], { encoding: 'utf8' }).split('\n');
    expect(names).toContain('cloned/README');
    expect(names.filter((n) => n.startsWith('run/'))).toEqual([]);
    // no line of the private key anywhere in the store (layers, configs, records) or the event stream
    const body = readFileSync(key, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    for (const line of body) {
      expect(r.out).not.toContain(line);
      const grep = execFileSync('sh', ['-c', 'grep -rlF -- "$1" "$2" || true', 'sh', line, store], { encoding: 'utf8' });
      expect(grep).toBe('');
    }
  });

  it('required=true without that agent is BUILD_SSH_MISSING at the line; without required the step runs with no socket', async () => {
    const required = dockerfile('Dockerfile.required', ['RUN --mount=type=ssh,id=deploy,required=true true']);
    const r = await strata(['build', '--progress', 'plain', '--ssh', `default=${key}`, '-f', required, ctx]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('BUILD_SSH_MISSING');
    expect(r.err).toContain('Dockerfile.required:3:1');
    expect(r.err).toContain("needs the SSH agent 'deploy'");
    const optional = dockerfile('Dockerfile.optional', ['RUN --mount=type=ssh,id=deploy,target=/tmp/agent.sock echo "sock=$SSH_AUTH_SOCK" && test ! -e /tmp/agent.sock && echo absent']);
    const o = await strata(['build', '--progress', 'plain', '-f', optional, ctx]);
    expect(o.code).toBe(0);
    expect(o.err).toContain('sock=/tmp/agent.sock');
    expect(o.err).toContain('absent');
  });
});
