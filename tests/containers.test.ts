// Containers as a docker user meets them: this worktree's bin/strata with a
// temporary store (STRATA_ROOT on /dev/shm) holding the busybox test image.
// run changes files, commit turns them into a layer, a build FROM the commit
// sees the tree; exit codes, start, rm, concurrent runs, rmi and prune.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Store, pruneStore, type Manifest } from '@strata/cache';
import { startRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(180_000);

const BIN = resolve(__dirname, '..', 'bin', 'strata');

interface Run {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

describe('strata run, ps, start, rm, commit', () => {
  let dir: string;
  let root: string;
  const busybox = 'localhost/test/busybox:latest';
  const base = 'localhost/test/ctr-base:1';

  /** Runs bin/strata (asynchronously, so that two can run at once). */
  function strata(args: readonly string[], options: { input?: string; cmd?: string[] } = {}): Promise<Run> {
    return new Promise((done, fail) => {
      const [cmd, ...pre] = options.cmd ?? [process.execPath, BIN];
      const child = spawn(cmd as string, [...pre, ...args], { env: { ...process.env, STRATA_ROOT: root }, cwd: dir });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.on('error', fail);
      child.on('close', (code) => done({ code: code ?? -1, out, err }));
      if (options.input !== undefined) child.stdin.end(options.input);
      else child.stdin.end();
    });
  }

  async function ok(args: readonly string[]): Promise<string> {
    const r = await strata(args);
    if (r.code !== 0) throw new Error(`strata ${args.join(' ')} exited ${r.code}: ${r.err}`);
    return r.out;
  }

  async function containerId(name: string): Promise<string> {
    const out = await ok(['ps', '-a', '--no-trunc']);
    const line = out.split('\n').find((l) => l.trimEnd().endsWith(` ${name}`));
    if (line === undefined) throw new Error(`no container ${name} in\n${out}`);
    return line.split(/\s+/)[0] as string;
  }

  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  async function topLayerEntries(ref: string): Promise<string[]> {
    const store = await Store.open(root);
    const manifest: Manifest = await store.readManifest((await store.resolve(ref)).digest);
    const top = manifest.layers[manifest.layers.length - 1];
    if (top === undefined) throw new Error(`${ref} has no layer`);
    const blob = join(root, 'blobs', 'sha256', top.digest.slice('sha256:'.length));
    return execFileSync('tar', ['-tf', blob], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
  }

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-containers-');
    root = join(dir, 'store');
    const store = await Store.open(root);
    await loadTestImage(store, testImage('busybox', 'amd64'), busybox);
    // a base with folders to delete, replace and keep
    const ctx = join(dir, 'base-ctx');
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM ${busybox}\nRUN mkdir -p /data/keep /data/old && echo a > /data/keep/a && echo b > /data/old/b && echo c > /data/gone.txt\nCMD ["cat", "/data/keep/a"]\n`,
    );
    await ok(['build', '--progress', 'plain', '-t', base, ctx]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a command that adds, deletes and replaces; commit makes a layer with whiteouts and an opaque folder; a build FROM it sees the tree and the history', async () => {
    const change = [
      'rm /data/gone.txt',
      'rm -rf /data/old && mkdir /data/old && echo fresh > /data/old/new',
      'mkdir -p /added && echo hi > /added/f',
      'echo changed > /data/keep/a',
      'echo done',
    ].join(' && ');
    const run = await strata(['run', '--name', 'editor', base, 'sh', '-c', change]);
    expect(run).toMatchObject({ code: 0, out: 'done\n' });

    const commit = await strata(['commit', '-m', 'hand-made fix', '-a', 'Jane Doe <jane@example.com>', '-c', 'CMD ["cat", "/added/f"]', 'editor', 'localhost/test/committed:1']);
    expect(commit.code).toBe(0);
    expect(commit.out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const imageId = commit.out.trim();

    // the layer: the build's diff rules (whiteout for a deleted file, opaque marker for a replaced folder)
    const entries = await topLayerEntries('localhost/test/committed:1');
    expect(entries).toEqual(expect.arrayContaining(['data/.wh.gone.txt', 'data/old/.wh..wh..opq', 'data/old/new', 'added/f', 'data/keep/a']));
    expect(entries.some((e) => e.startsWith('proc') || e.startsWith('etc/hosts') || e.startsWith('dev/'))).toBe(false);

    // the image as skopeo reads it: ID, config from the container plus --change, history with message and author
    const raw = execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${root}:localhost/test/committed:1`]);
    expect(`sha256:${execFileSync('sha256sum', { input: raw }).toString().split(' ')[0]}`).toBe(imageId);
    const config = JSON.parse(raw.toString('utf8')) as { author?: string; config: { Cmd?: string[] }; history: { created_by?: string; author?: string; comment?: string; empty_layer?: boolean }[] };
    expect(config.author).toBe('Jane Doe <jane@example.com>');
    expect(config.config.Cmd).toEqual(['cat', '/added/f']);
    expect(config.history[config.history.length - 1]).toMatchObject({
      created_by: `sh -c ${change}`,
      author: 'Jane Doe <jane@example.com>',
      comment: 'hand-made fix',
    });

    const ctx = join(dir, 'from-commit');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM localhost/test/committed:1\nRUN test ! -e /data/gone.txt && test ! -e /data/old/b && cat /data/old/new /added/f /data/keep/a > /seen\n');
    await ok(['build', '--progress', 'plain', '-t', 'localhost/test/from-commit:1', ctx]);
    const tree = unpack('localhost/test/from-commit:1');
    expect(readFileSync(join(tree, 'seen'), 'utf8')).toBe('fresh\nhi\nchanged\n');
    expect(existsSync(join(tree, 'data', 'gone.txt'))).toBe(false);
    expect(readdirSync(join(tree, 'data', 'old'))).toEqual(['new']);
    const history = (JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${root}:localhost/test/from-commit:1`], { encoding: 'utf8' })) as typeof config).history;
    expect(history.find((h) => h.comment === 'hand-made fix')).toMatchObject({ author: 'Jane Doe <jane@example.com>' });
    expect(history[history.length - 1]?.created_by).toContain('cat /data/old/new');

    // the committed image runs its new CMD
    expect(await strata(['run', '--rm', 'localhost/test/committed:1'])).toMatchObject({ code: 0, out: 'hi\n' });
  });

  it('tags and pushes a committed image (the README flow); the registry serves its layers and history', async () => {
    const registry = await startRegistry({ auth: 'none' });
    try {
      const remote = `${registry.host}/demo/committed:1`;
      await ok(['tag', 'localhost/test/committed:1', remote]);
      await ok(['push', remote]);
      const pushed = JSON.parse(execFileSync('skopeo', ['inspect', '--tls-verify=false', '--config', `docker://${remote}`], { encoding: 'utf8' })) as {
        rootfs: { diff_ids: string[] };
        history: { comment?: string; author?: string }[];
      };
      const local = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${root}:localhost/test/committed:1`], { encoding: 'utf8' })) as typeof pushed;
      expect(pushed.rootfs.diff_ids).toEqual(local.rootfs.diff_ids);
      expect(pushed.history[pushed.history.length - 1]).toMatchObject({ comment: 'hand-made fix', author: 'Jane Doe <jane@example.com>' });
    } finally {
      await registry.stop();
    }
  });

  it('propagates exit codes: the command\'s, 127 for a missing command, 125 for a missing image', async () => {
    expect((await strata(['run', '--rm', base, 'sh', '-c', 'exit 42'])).code).toBe(42);
    const missing = await strata(['run', '--rm', base, '/no/such/program']);
    expect(missing.code).toBe(127);
    expect(missing.err).toContain('BUILD_RUNTIME_FAILED');
    const noImage = await strata(['run', '--rm', 'localhost/test/absent:1', 'true']);
    expect(noImage.code).toBe(125);
    expect(noImage.err).toContain("Unable to find image 'localhost/test/absent:1'");
    // the image's CMD when no command is given
    expect(await strata(['run', '--rm', base])).toMatchObject({ code: 0, out: 'a\n' });
  });

  it('passes -e, -w, -u, -i, --network none and -v to the process', async () => {
    const host = join(dir, 'vol');
    mkdirSync(host, { mode: 0o777 });
    chmodSync(host, 0o777);
    writeFileSync(join(host, 'in.txt'), 'from host\n');
    const script = 'echo "$FOO $HOME_SET"; pwd; id -u; id -g; ls /sys/class/net; cat /vol/in.txt; echo out > /vol/out.txt; cat';
    const r = await strata(
      ['run', '--rm', '-i', '-e', 'FOO=bar', '-e', 'HOME_SET', '-w', '/work/here', '-u', '1000:1000', '--network', 'none', '-v', `${host}:/vol`, base, 'sh', '-c', script],
      { input: 'typed in\n' },
    );
    expect(r.err).toBe('');
    expect(r.out).toBe('bar \n/work/here\n1000\n1000\nlo\nfrom host\ntyped in\n');
    expect(readFileSync(join(host, 'out.txt'), 'utf8')).toBe('out\n');
    const ro = await strata(['run', '--rm', '-v', `${host}:/vol:ro`, base, 'sh', '-c', 'echo x > /vol/nope']);
    expect(ro.code).not.toBe(0);
    expect(existsSync(join(host, 'nope'))).toBe(false);
  });

  it('runs an arm64 image through qemu-user, as a foreign RUN step', async () => {
    const store = await Store.open(root);
    await loadTestImage(store, testImage('busybox', 'arm64'), 'localhost/test/busybox-arm64:latest');
    expect(await strata(['run', '--rm', 'localhost/test/busybox-arm64:latest', 'uname', '-m'])).toMatchObject({ code: 0, out: 'aarch64\n' });
  });

  it('gives -it a terminal (under script(1), which supplies one)', async () => {
    const r = await strata(['-qec', `${process.execPath} ${BIN} run --rm -it ${base} sh -c 'tty; exit 5'`, '/dev/null'], { cmd: ['script'] });
    expect(r.code).toBe(5);
    expect(r.out).toMatch(/\/dev\/pts\/\d+/);
  });

  it('keeps a container\'s changes across start; ps shows it; rm removes its layer', async () => {
    const first = await strata(['run', '--name', 'keeper', base, 'sh', '-c', 'echo run >> /log; cat /log; exit 3']);
    expect(first).toMatchObject({ code: 3, out: 'run\n' });
    const ps = await ok(['ps', '-a']);
    const lines = ps.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^CONTAINER ID\s{3,}IMAGE\s{3,}COMMAND\s{3,}CREATED\s{3,}STATUS\s{3,}NAMES$/);
    expect(lines.find((l) => l.endsWith(' keeper'))).toMatch(new RegExp(`^[0-9a-f]{12}\\s+${base.replace(/[.:/]/g, '\\$&')}\\s+"sh -c echo run >> /…"\\s+.+ ago\\s+Exited \\(3\\) .+ ago\\s+keeper$`));
    expect(await ok(['ps'])).not.toContain('keeper');

    const again = await strata(['start', '-a', 'keeper']);
    expect(again).toMatchObject({ code: 3, out: 'run\nrun\n' });

    const id = await containerId('keeper');
    const layerDir = join(root, 'containers-v1', id);
    expect(readFileSync(join(layerDir, 'upper', 'log'), 'utf8')).toBe('run\nrun\n');
    expect(await strata(['rm', id.slice(0, 8)])).toMatchObject({ code: 0, out: `${id.slice(0, 8)}\n` });
    expect(existsSync(layerDir)).toBe(false);
    expect(existsSync(`${layerDir}.json`)).toBe(false);
    expect(await ok(['ps', '-a'])).not.toContain('keeper');
    expect(await strata(['start', '-a', 'keeper'])).toMatchObject({ code: 125, err: expect.stringContaining('CACHE_CONTAINER_NOT_FOUND') });
  });

  it('while a container runs: ps shows it Up, start, commit and rm refuse it, rm --force kills it', async () => {
    const running = strata(['run', '--name', 'sleeper', base, 'sh', '-c', 'sleep 120']);
    let line: string | undefined;
    for (let i = 0; i < 120 && line === undefined; i += 1) {
      line = (await ok(['ps'])).split('\n').find((l) => l.endsWith(' sleeper'));
      if (line === undefined) await new Promise((r) => setTimeout(r, 250));
    }
    expect(line).toMatch(/\s+Up (Less than a second|\d+ seconds?|About a minute)\s+sleeper$/);
    expect(await strata(['start', '-a', 'sleeper'])).toMatchObject({ code: 125, err: expect.stringContaining('BUILD_CONTAINER_RUNNING') });
    expect(await strata(['commit', 'sleeper'])).toMatchObject({ code: 1, err: expect.stringContaining('BUILD_CONTAINER_RUNNING') });
    expect(await strata(['rm', 'sleeper'])).toMatchObject({ code: 1, err: expect.stringContaining('BUILD_CONTAINER_RUNNING') });
    expect(await strata(['rm', '--force', 'sleeper'])).toMatchObject({ code: 0, out: 'sleeper\n' });
    expect((await running).code).toBe(137);
    expect(await ok(['ps', '-a'])).not.toContain('sleeper');
  });

  it('--rm removes the container; a name in use is refused', async () => {
    expect(await strata(['run', '--rm', '--name', 'gone', base, 'true'])).toMatchObject({ code: 0 });
    expect(await ok(['ps', '-a'])).not.toContain(' gone');
    await ok(['run', '--name', 'taken', base, 'true']);
    const clash = await strata(['run', '--name', 'taken', base, 'true']);
    expect(clash.code).toBe(125);
    expect(clash.err).toContain('CACHE_CONTAINER_CONFLICT');
    await ok(['rm', 'taken']);
  });

  it('runs two containers of one image at once without either seeing the other\'s changes', async () => {
    // a host folder both see: each waits until the other has written its own file, so the two really overlap
    const sync = join(dir, 'sync');
    mkdirSync(sync);
    const probe = (mine: string, theirs: string) =>
      `echo ${mine} > /${mine} && touch /sync/${mine} && i=0; while [ ! -e /sync/${theirs} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; ` +
      `test -e /sync/${theirs} && test -e /${mine} && test ! -e /${theirs} && echo clean`;
    const [a, b] = await Promise.all([
      strata(['run', '--name', 'left', '-v', `${sync}:/sync`, base, 'sh', '-c', probe('left-file', 'right-file')]),
      strata(['run', '--name', 'right', '-v', `${sync}:/sync`, base, 'sh', '-c', probe('right-file', 'left-file')]),
    ]);
    expect(a).toMatchObject({ code: 0, out: 'clean\n' });
    expect(b).toMatchObject({ code: 0, out: 'clean\n' });
    const left = await containerId('left');
    const right = await containerId('right');
    expect(readdirSync(join(root, 'containers-v1', left, 'upper'))).toEqual(['left-file']);
    expect(readdirSync(join(root, 'containers-v1', right, 'upper'))).toEqual(['right-file']);
    await ok(['rm', 'left', 'right']);
  });

  it('rmi refuses an image a container uses unless --force; prune keeps it for the container', async () => {
    // an image with one name
    const image = 'localhost/test/in-use:1';
    await ok(['run', '--name', 'maker', base, 'sh', '-c', 'echo made > /made']);
    await ok(['commit', 'maker', image]);
    await ok(['rm', 'maker']);
    await ok(['run', '--name', 'user', image, 'sh', '-c', 'echo mine > /mine']);
    const refused = await strata(['rmi', image]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/unable to remove repository reference "localhost\/test\/in-use:1" \(must force\) - container [0-9a-f]{12} is using its referenced image/);
    // another name of the same image can go: the image keeps a name
    await ok(['tag', image, 'localhost/test/in-use:2']);
    expect(await strata(['rmi', 'localhost/test/in-use:2'])).toMatchObject({ code: 0 });
    expect(await strata(['rmi', '--force', image])).toMatchObject({ code: 0, out: 'Untagged: localhost/test/in-use:1\n' });

    // make the image untagged everywhere: a fresh store holding only what the container needs
    const store = await Store.open(root);
    const record = await store.containers.find('user');
    for (const t of await store.images()) await store.untag(t.ref);
    await pruneStore(store, { all: true, gracePeriodMs: 0 });
    const kept = await store.imageBlobs(record.manifest);
    expect(kept.missing).toEqual([]);
    for (const digest of kept.blobs.keys()) expect(await store.statBlob(digest)).toBeDefined();
    for (const chainId of record.chainIds) expect(await store.snapshots.get(chainId)).toBeDefined();

    // the container still starts and commits with its image untagged and pruned
    expect(await strata(['start', '-a', 'user'])).toMatchObject({ code: 0 });
    const committed = await strata(['commit', 'user', 'localhost/test/after-prune:1']);
    expect(committed.code).toBe(0);
    expect(await strata(['run', '--rm', 'localhost/test/after-prune:1', 'cat', '/mine'])).toMatchObject({ code: 0, out: 'mine\n' });

    // once the container is gone, prune may take its image
    await ok(['rm', 'user']);
    await ok(['rmi', 'localhost/test/after-prune:1']);
    const result = await pruneStore(store, { all: true, gracePeriodMs: 0 });
    expect(result.removed.blobs).toBeGreaterThan(0);
    expect((await store.imageBlobs(record.manifest)).missing).toContain(record.manifest.digest);
  });
});
