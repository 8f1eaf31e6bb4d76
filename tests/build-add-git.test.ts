import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent, type BuildOptions } from '@strata/builder';
import { runStrata } from './support/cli-json.js';
import { git, startGitDaemon, startGitHttp, startSshd, type GitHttpServer, type RunningServer, type Sshd } from './support/git-servers.js';
import { loadTestImage, testImage } from './support/test-images.js';

// ADD of git repositories on real builds over busybox, against servers this
// test starts on 127.0.0.1: git daemon (git://), git http-backend behind node
// (http:// with a GIT_AUTH_TOKEN) and sshd with a test key (ssh:// through
// --ssh). strata runs Debian's git on the build host; a `git` wrapper first
// on PATH logs what it was asked, so a test can tell that a rebuild only
// asked the remote (ls-remote) and fetched nothing.
describe('strata build: ADD of a git repository', () => {
  let dir: string;
  let store: Store;
  let context: string;
  let daemon: RunningServer;
  let http: GitHttpServer;
  let sshd: Sshd;
  let work: string;
  let sshKey: string;
  let gitLog: string;
  const savedPath = process.env.PATH;
  const base = 'localhost/test/busybox:latest';
  const T1 = 1_700_000_000;
  const T2 = 1_700_100_000;
  const shas = { one: '', two: '' };

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-add-git-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(context);
    const srv = join(dir, 'srv');
    mkdirSync(join(srv, 'private'), { recursive: true });
    // a library used as a submodule (by a relative URL, so it follows the superproject's server)
    const lib = join(dir, 'lib');
    mkdirSync(lib);
    git(lib, ['init', '-q']);
    writeFileSync(join(lib, 'lib.txt'), 'lib\n');
    git(lib, ['add', '-A']);
    git(lib, ['commit', '-q', '-m', 'lib'], T1);
    git(dir, ['clone', '-q', '--bare', lib, join(srv, 'lib.git')]);
    // the repository: a tree with an executable, a link and a folder; tag v1 (annotated) on the first commit
    work = join(dir, 'work');
    mkdirSync(join(work, 'src', 'deep'), { recursive: true });
    mkdirSync(join(work, 'bin'));
    git(work, ['init', '-q']);
    writeFileSync(join(work, 'README'), 'one\n');
    writeFileSync(join(work, 'src', 'app.txt'), 'app\n');
    writeFileSync(join(work, 'src', 'deep', 'deep.txt'), 'deep\n');
    writeFileSync(join(work, 'bin', 'run.sh'), '#!/bin/sh\necho run\n');
    chmodSync(join(work, 'bin', 'run.sh'), 0o755);
    symlinkSync('src/app.txt', join(work, 'link'));
    git(work, ['add', '-A']);
    git(work, ['submodule', 'add', '-q', join(srv, 'lib.git'), 'vendor/lib']);
    // the recorded URL is relative: the checkout finds it on the server the repository came from
    git(work, ['config', '-f', '.gitmodules', 'submodule.vendor/lib.url', '../lib.git']);
    git(work, ['add', '-A']);
    git(work, ['commit', '-q', '-m', 'one'], T1);
    git(work, ['tag', '-a', 'v1', '-m', 'v1'], T1);
    shas.one = git(work, ['rev-parse', 'HEAD']).trim();
    writeFileSync(join(work, 'README'), 'two\n');
    git(work, ['commit', '-q', '-am', 'two'], T2);
    shas.two = git(work, ['rev-parse', 'HEAD']).trim();
    git(dir, ['clone', '-q', '--bare', work, join(srv, 'repo.git')]);
    git(work, ['remote', 'add', 'origin', join(srv, 'repo.git')]);
    git(dir, ['clone', '-q', '--bare', work, join(srv, 'private', 'repo.git')]);
    daemon = await startGitDaemon(srv);
    http = await startGitHttp(srv, { token: 'sekret-token-123' });
    sshKey = join(dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'strata-test', '-f', sshKey]);
    sshd = await startSshd(join(dir, 'sshd'), readFileSync(`${sshKey}.pub`, 'utf8'));
    // git, logged: the build's git runs (sh -c 'exec git "$@"') find this first on PATH
    const wrapper = join(dir, 'bin');
    mkdirSync(wrapper);
    gitLog = join(dir, 'git.log');
    writeFileSync(join(wrapper, 'git'), `#!/bin/sh\necho "$*" >> ${gitLog}\nexec /usr/bin/git "$@"\n`, { mode: 0o755 });
    process.env.PATH = `${wrapper}:${savedPath ?? ''}`;
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    await daemon?.close();
    await http?.close();
    await sshd?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  let counter = 0;
  async function buildText(text: string, options: Partial<BuildOptions> = {}) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/add-git:${(counter += 1)}`;
    await build({ store, context, dockerfileText: text, tags: [tag], onEvent: (e) => events.push(e), ...options });
    return { tag, events };
  }
  /** The layer the step at `index` made, extracted into a fresh folder (the tar's own modes, owners and times). */
  function layerOf(events: BuildEvent[], index: number): { root: string; names: string[] } {
    const done = events.find((e) => e.type === 'step-completed' && e.index === index) as { layer?: { digest: string } } | undefined;
    const digest = done?.layer?.digest;
    if (digest === undefined) throw new Error(`step ${index} made no layer`);
    const blob = join(store.root, 'blobs', 'sha256', digest.slice('sha256:'.length));
    const root = join(dir, `layer-${(counter += 1)}`);
    mkdirSync(root);
    execFileSync('tar', ['-xf', blob, '-C', root, '--numeric-owner', '--same-permissions']);
    const names = execFileSync('tar', ['-tf', blob], { encoding: 'utf8' }).split('\n').filter((n) => n !== '');
    return { root, names };
  }
  const mtime = (path: string) => Math.floor(lstatSync(path).mtimeMs / 1000);
  const readGitLog = () => (existsSync(gitLog) ? readFileSync(gitLog, 'utf8') : '');

  it('adds a tag: the tree with modes, a link and submodules, no .git, every entry at the commit time', async () => {
    const { events } = await buildText(`FROM ${base}\nADD ${daemon.url('repo.git')}#v1 /tag\n`);
    const { root, names } = layerOf(events, 2);
    const tag = join(root, 'tag');
    expect(readFileSync(join(tag, 'README'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(tag, 'vendor', 'lib', 'lib.txt'), 'utf8')).toBe('lib\n');
    expect(readlinkSync(join(tag, 'link'))).toBe('src/app.txt');
    expect(lstatSync(join(tag, 'bin', 'run.sh')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(tag, 'src', 'app.txt')).mode & 0o7777).toBe(0o644);
    expect(lstatSync(join(tag, 'src')).mode & 0o7777).toBe(0o755);
    const st = lstatSync(join(tag, 'README'));
    expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(names.filter((n) => n.split('/').includes('.git'))).toEqual([]);
    for (const p of ['README', 'link', 'bin', 'bin/run.sh', 'src', 'src/deep', 'src/deep/deep.txt', 'vendor', 'vendor/lib', 'vendor/lib/lib.txt']) {
      expect([p, mtime(join(tag, p))]).toEqual([p, T1]);
    }
  });

  it('adds a branch, a commit and a subdir; the same commit again is the same layer (with SOURCE_DATE_EPOCH for the folders it makes)', async () => {
    const branch = await buildText(`FROM ${base}\nADD ${daemon.url('repo.git')}#main /b\nADD ${daemon.url('repo.git')}#${shas.one}:src /sub/\n`);
    const b = layerOf(branch.events, 2).root;
    expect(readFileSync(join(b, 'b', 'README'), 'utf8')).toBe('two\n');
    expect(mtime(join(b, 'b', 'README'))).toBe(T2);
    const sub = layerOf(branch.events, 3);
    expect(readdirSync(join(sub.root, 'sub')).sort()).toEqual(['app.txt', 'deep']);
    expect(readFileSync(join(sub.root, 'sub', 'deep', 'deep.txt'), 'utf8')).toBe('deep\n');
    const again = (n: number) => buildText(`FROM ${base}\nADD ${daemon.url('repo.git')}#${shas.one} /c${n}\n`, { noCache: true, sourceDateEpoch: 1_750_000_000 });
    const [first, second] = [await again(1), await again(1)];
    const digest = (e: BuildEvent[]) => (e.find((x) => x.type === 'step-completed' && x.index === 2) as { layer?: { digest: string } }).layer?.digest;
    expect(digest(first.events)).toBeDefined();
    const list = (e: BuildEvent[]) => execFileSync('tar', ['-tvf', join(store.root, 'blobs', 'sha256', (digest(e) ?? '').slice(7)), '--full-time', '--numeric-owner'], { encoding: 'utf8' });
    expect(list(second.events)).toBe(list(first.events));
    expect(digest(second.events)).toBe(digest(first.events));
    expect(readFileSync(join(layerOf(first.events, 2).root, 'c1', 'README'), 'utf8')).toBe('one\n');
  });

  it('--keep-git-dir keeps .git: HEAD is the commit, the remote is the source', async () => {
    const { events } = await buildText(`FROM ${base}\nADD --keep-git-dir=true ${daemon.url('repo.git')}#v1 /kept\n`);
    const kept = join(layerOf(events, 2).root, 'kept');
    expect(existsSync(join(kept, '.git'))).toBe(true);
    expect(git(kept, ['rev-parse', 'HEAD^{commit}']).trim()).toBe(shas.one);
    expect(git(kept, ['remote', 'get-url', 'origin']).trim()).toBe(daemon.url('repo.git'));
    expect(git(kept, ['status', '--porcelain', '--ignore-submodules']).trim()).toBe('');
    expect(readFileSync(join(kept, 'vendor', 'lib', 'lib.txt'), 'utf8')).toBe('lib\n');
  });

  it('a wrong --checksum is BUILD_CHECKSUM_MISMATCH at the ADD line (file:line:column, the line); a right prefix builds', async () => {
    mkdirSync(join(context, 'sum'));
    const line = `ADD --checksum=${'0'.repeat(12)} ${daemon.url('repo.git')}#v1 /src`;
    writeFileSync(join(context, 'sum', 'Dockerfile'), `FROM ${base}\n${line}\n`);
    const env = { PATH: process.env.PATH, STRATA_ROOT: store.root };
    const bad = await runStrata(['build', '--progress', 'plain', join(context, 'sum')], { env, cwd: dir });
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('Dockerfile:2:1');
    expect(bad.err).toContain('BUILD_CHECKSUM_MISMATCH');
    expect(bad.err).toContain(`expected commit ${'0'.repeat(12)}, got `);
    expect(bad.err).toContain(line);
    await expect(buildText(`FROM ${base}\nADD --checksum=${shas.one.slice(0, 10)} ${daemon.url('repo.git')}#v1 /src\n`)).resolves.toBeDefined();
    await expect(buildText(`FROM ${base}\nADD ${daemon.url('repo.git')}#no-such-ref /src\n`)).rejects.toMatchObject({
      code: 'BUILD_GIT_FAILED',
      message: expect.stringContaining('no ref no-such-ref'),
    });
  });

  it('a rebuild with the remote unchanged asks the remote (ls-remote) and fetches nothing; a new commit on the branch reruns', async () => {
    const text = `FROM ${base}\nADD ${daemon.url('repo.git')}#main /app\n`;
    const first = await buildText(text);
    expect(first.events.some((e) => e.type === 'step-completed' && e.index === 2)).toBe(true);
    rmSync(gitLog, { force: true });
    const same = await buildText(text);
    const stepOf = (events: BuildEvent[], type: string) => events.find((e) => e.type === type && 'index' in e && e.index === 2);
    expect(stepOf(same.events, 'step-cached')).toBeDefined();
    expect(stepOf(same.events, 'step-completed')).toBeUndefined();
    const asked = readGitLog();
    expect(asked).toMatch(/ls-remote/);
    expect(asked).not.toMatch(/\bfetch\b|\binit\b|checkout/);
    writeFileSync(join(work, 'README'), 'three\n');
    git(work, ['commit', '-q', '-am', 'three'], T2 + 100);
    git(work, ['push', '-q', 'origin', 'main']);
    const moved = await buildText(text);
    const step = stepOf(moved.events, 'step-completed') as { reason?: string } | undefined;
    expect(step).toBeDefined();
    expect(step?.reason).toContain('repo.git#main');
    expect(readFileSync(join(layerOf(moved.events, 2).root, 'app', 'README'), 'utf8')).toBe('three\n');
  });

  it('https with GIT_AUTH_TOKEN: sent as basic x-access-token, never in the events; without it the server refuses (?submodules=false)', async () => {
    // the token is scoped to the repository's URL (BuildKit): its submodule, elsewhere on the server, is left out
    const url = `${http.url('private/repo.git')}?submodules=false#v1`;
    await expect(buildText(`FROM ${base}\nADD ${url} /p\n`)).rejects.toMatchObject({ code: 'BUILD_GIT_FAILED' });
    const token = join(dir, 'token');
    writeFileSync(token, 'sekret-token-123\n');
    const { events } = await buildText(`FROM ${base}\nADD ${url} /p\n`, { secrets: { GIT_AUTH_TOKEN: token } });
    const p = join(layerOf(events, 2).root, 'p');
    expect(readFileSync(join(p, 'README'), 'utf8')).toBe('one\n');
    expect(readdirSync(join(p, 'vendor', 'lib'))).toEqual([]);
    expect(http.authorizations).toContain(`basic ${Buffer.from('x-access-token:sekret-token-123').toString('base64')}`);
    expect(JSON.stringify(events)).not.toContain('sekret-token-123');
    expect(readGitLog()).not.toContain('sekret-token-123');
  });

  it('a password in the URL is given to git but not kept in the image (its history says xxxxx)', async () => {
    const withPassword = (password: string) => `${http.url('private/repo.git').replace('://', `://x-access-token:${password}@`)}?submodules=false#v1`;
    const events: BuildEvent[] = [];
    const result = await build({ store, context, dockerfileText: `FROM ${base}\nADD ${withPassword('sekret-token-123')} /p\n`, onEvent: (e) => events.push(e) });
    expect(readFileSync(join(layerOf(events, 2).root, 'p', 'README'), 'utf8')).toBe('one\n');
    const config = readFileSync(join(store.root, 'blobs', 'sha256', result.imageId.slice('sha256:'.length)), 'utf8');
    expect(config).not.toContain('sekret-token-123');
    expect(config).toContain('x-access-token:xxxxx@');
  });

  it('ssh through --ssh (a key file served by an agent strata starts); the key is in no layer', async () => {
    const url = `${sshd.url(join(dir, 'srv', 'repo.git'))}#v1`;
    const { events } = await buildText(`FROM ${base}\nADD ${url} /s\n`, { ssh: [{ id: 'default', paths: [sshKey] }] });
    const { root } = layerOf(events, 2);
    expect(readFileSync(join(root, 's', 'README'), 'utf8')).toBe('one\n');
    expect(readFileSync(join(root, 's', 'vendor', 'lib', 'lib.txt'), 'utf8')).toBe('lib\n');
    const secretLine = readFileSync(sshKey, 'utf8').split('\n')[2] as string;
    const blob = readFileSync(join(store.root, 'blobs', 'sha256', ((events.find((e) => e.type === 'step-completed' && e.index === 2) as { layer: { digest: string } }).layer.digest).slice(7)));
    expect(blob.includes(secretLine)).toBe(false);
    expect(JSON.stringify(events)).not.toContain(secretLine);
  });
});
