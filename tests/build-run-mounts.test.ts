import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// RUN --mount with from=<stage|image> (bind and cache), and #! heredoc scripts: real builds in runc.
describe('strata build: RUN --mount from= and #! heredoc scripts (busybox, linux/amd64)', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const busybox = 'localhost/test/busybox:latest';

  const mountsDockerfile = [
    `FROM ${busybox} AS src`,
    'ARG VERSION=1',
    'RUN mkdir -p /data/sub && echo "from-stage $VERSION" > /data/file.txt && echo nested > /data/sub/n.txt && ln -s /data /data-link',
    `FROM ${busybox}`,
    'RUN --mount=type=bind,from=src,source=/data-link,target=/srcmnt cat /srcmnt/file.txt /srcmnt/sub/n.txt > /copied.txt',
    'ARG ONE=/one.txt',
    // a variable in a mount option: the option is read again with the ARG in scope
    'RUN --mount=type=bind,from=src,source=data/file.txt,target=$ONE cat /one.txt > /single.txt',
    "RUN --mount=type=bind,from=src,source=/data,target=/srcmnt sh -c 'if touch /srcmnt/new 2>/dev/null; then echo writable; else echo read-only; fi > /ro.txt'",
    "RUN --mount=type=bind,from=src,source=/data,target=/srcmnt,rw sh -c 'echo changed > /srcmnt/file.txt && echo x > /srcmnt/new && cat /srcmnt/file.txt > /rw.txt'",
    'RUN --mount=type=bind,from=src,source=/data,target=/srcmnt sh -c \'cat /srcmnt/file.txt > /after-rw.txt; ls /srcmnt > /after-rw-ls.txt\'',
    `RUN --mount=type=bind,from=${busybox},source=/etc,target=/image-etc cat /image-etc/passwd > /from-image.txt`,
    "RUN --mount=type=cache,from=src,source=/data,target=/cache,id=seeded sh -c 'cat /cache/file.txt > /cache-seen.txt; echo run >> /cache/runs'",
    'RUN date +%s%N > /last.txt',
    '',
  ].join('\n');

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-run-mounts-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), busybox);
    context = join(dir, 'ctx');
    mkdirSync(join(context, 'conf'), { recursive: true });
    writeFileSync(join(context, 'conf', 'settings.txt'), 'setting=1\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  /** The paths each layer of an image holds (top layers last). */
  function layerPaths(ref: string): string[][] {
    const layout = store.root;
    const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { digest: string; annotations?: Record<string, string> }[] };
    const top = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === `${ref}`);
    if (top === undefined) throw new Error(`${ref} is not tagged`);
    const blob = (d: string) => join(layout, 'blobs/sha256', d.slice('sha256:'.length));
    const manifest = JSON.parse(readFileSync(blob(top.digest), 'utf8')) as { layers: { digest: string }[] };
    return manifest.layers.map((l) => execFileSync('tar', ['-tf', blob(l.digest)], { encoding: 'utf8' }).split('\n').filter((p) => p !== ''));
  }

  async function buildMounts(extra: Partial<Parameters<typeof build>[0]> = {}) {
    const events: BuildEvent[] = [];
    const result = await build({ store, context, dockerfileText: mountsDockerfile, tags: ['localhost/test/mounts:1'], onEvent: (e) => events.push(e), ...extra });
    const ran = events.flatMap((e) => (e.type === 'step-completed' && e.instruction.text.startsWith('RUN') ? [e.instruction.text] : []));
    const cached = events.filter((e) => e.type === 'step-cached').map((e) => e.instruction.text);
    return { result, ran, cached };
  }

  it('binds a path of another stage and of an image; read-only by default, rw writes thrown away', async () => {
    await buildMounts();
    const rootfs = unpack('localhost/test/mounts:1');
    // source= through an absolute symlink resolves inside the source stage, not on the host
    expect(readFileSync(join(rootfs, 'copied.txt'), 'utf8')).toBe('from-stage 1\nnested\n');
    expect(readFileSync(join(rootfs, 'single.txt'), 'utf8')).toBe('from-stage 1\n');
    expect(readFileSync(join(rootfs, 'ro.txt'), 'utf8')).toBe('read-only\n');
    expect(readFileSync(join(rootfs, 'rw.txt'), 'utf8')).toBe('changed\n');
    expect(readFileSync(join(rootfs, 'after-rw.txt'), 'utf8')).toBe('from-stage 1\n');
    expect(readFileSync(join(rootfs, 'after-rw-ls.txt'), 'utf8')).not.toContain('new');
    expect(readFileSync(join(rootfs, 'from-image.txt'), 'utf8')).toContain('root:x:0:0');
    expect(readFileSync(join(rootfs, 'cache-seen.txt'), 'utf8')).toBe('from-stage 1\n');
    // no mount point, and nothing written through a mount, is in a layer
    for (const p of ['srcmnt', 'one.txt', 'image-etc', 'cache']) expect(existsSync(join(rootfs, p))).toBe(false);
    const paths = layerPaths('localhost/test/mounts:1').slice(1).flat();
    expect(paths.filter((p) => /srcmnt|image-etc|cache\/|runs/.test(p))).toEqual([]);
  });

  it('keys a RUN by the source stage: unchanged source is CACHED, a changed one reruns the mounting steps', async () => {
    await buildMounts();
    const again = await buildMounts();
    expect(again.ran).toEqual([]);
    expect(again.cached).toHaveLength(9);

    const changed = await buildMounts({ buildArgs: { VERSION: '2' } });
    // every step that mounts src reruns (the image mount alone stays cached only until its parent changes)
    expect(changed.ran).toEqual(expect.arrayContaining(mountsDockerfile.split('\n').filter((l) => l.includes('from=src'))));
    const rootfs = unpack('localhost/test/mounts:1');
    expect(readFileSync(join(rootfs, 'copied.txt'), 'utf8')).toBe('from-stage 2\nnested\n');
    // a new seed is a new cache: seeded from version 2
    expect(readFileSync(join(rootfs, 'cache-seen.txt'), 'utf8')).toBe('from-stage 2\n');
  });

  it('keeps a cache mount seeded from a stage across runs (contents are not part of the key)', async () => {
    const dockerfileText = [
      `FROM ${busybox} AS src`,
      'RUN mkdir -p /seed && echo seed > /seed/start.txt',
      `FROM ${busybox}`,
      'ARG RUN_ID',
      "RUN --mount=type=cache,from=src,source=/seed,target=/c,id=persist sh -c 'echo $RUN_ID >> /c/runs; cat /c/start.txt /c/runs > /seen.txt'",
      '',
    ].join('\n');
    await build({ store, context, dockerfileText, buildArgs: { RUN_ID: 'a' }, tags: ['localhost/test/cache-from:1'] });
    await build({ store, context, dockerfileText, buildArgs: { RUN_ID: 'b' }, tags: ['localhost/test/cache-from:1'] });
    expect(readFileSync(join(unpack('localhost/test/cache-from:1'), 'seen.txt'), 'utf8')).toBe('seed\na\nb\n');
  });

  it('binds a context folder rw as a throwaway copy: the context is untouched', async () => {
    const dockerfileText = `FROM ${busybox}\nRUN --mount=type=bind,source=conf,target=/conf,rw sh -c 'echo changed > /conf/settings.txt && touch /conf/new && cat /conf/settings.txt > /seen.txt'\n`;
    await build({ store, context, dockerfileText, tags: ['localhost/test/ctx-rw:1'] });
    expect(readFileSync(join(unpack('localhost/test/ctx-rw:1'), 'seen.txt'), 'utf8')).toBe('changed\n');
    expect(readFileSync(join(context, 'conf', 'settings.txt'), 'utf8')).toBe('setting=1\n');
    expect(existsSync(join(context, 'conf', 'new'))).toBe(false);
  });

  it('reruns a context bind when the bound files change', async () => {
    const dockerfileText = `FROM ${busybox}\nRUN --mount=type=bind,source=conf,target=/conf cat /conf/settings.txt > /seen.txt\n`;
    const run = async () => {
      const events: BuildEvent[] = [];
      await build({ store, context, dockerfileText, tags: ['localhost/test/ctx-ro:1'], onEvent: (e) => events.push(e) });
      return events.some((e) => e.type === 'step-cached');
    };
    await run();
    expect(await run()).toBe(true);
    writeFileSync(join(context, 'conf', 'settings.txt'), 'setting=2\n');
    try {
      expect(await run()).toBe(false);
      expect(readFileSync(join(unpack('localhost/test/ctx-ro:1'), 'seen.txt'), 'utf8')).toBe('setting=2\n');
    } finally {
      writeFileSync(join(context, 'conf', 'settings.txt'), 'setting=1\n');
    }
  });

  it('still mounts cache (kept across builds), tmpfs and secrets, none of them in the layers', async () => {
    const secret = join(dir, 'token.txt');
    writeFileSync(secret, 's3cr3t');
    const dockerfileText = [
      `FROM ${busybox}`,
      "RUN --mount=type=cache,target=/var/cache/app sh -c 'echo run >> /var/cache/app/runs; wc -l < /var/cache/app/runs > /cache-count.txt'",
      "RUN --mount=type=tmpfs,target=/scratch sh -c 'echo x > /scratch/f && grep -c \" /scratch tmpfs \" /proc/mounts > /tmpfs.txt'",
      "RUN --mount=type=secret,id=token sh -c 'wc -c < /run/secrets/token > /secret-size.txt'",
      '',
    ].join('\n');
    const opts = { store, context, dockerfileText, secrets: { token: secret }, tags: ['localhost/test/plain-mounts:1'] };
    await build(opts);
    await build({ ...opts, noCache: true });
    const rootfs = unpack('localhost/test/plain-mounts:1');
    expect(readFileSync(join(rootfs, 'cache-count.txt'), 'utf8').trim()).toBe('2');
    expect(readFileSync(join(rootfs, 'tmpfs.txt'), 'utf8')).toBe('1\n');
    expect(readFileSync(join(rootfs, 'secret-size.txt'), 'utf8').trim()).toBe('6');
    const paths = layerPaths('localhost/test/plain-mounts:1').slice(1).flat();
    expect(paths.sort()).toEqual(['cache-count.txt', 'secret-size.txt', 'tmpfs.txt']);
  });

  it('fails with BUILD_MOUNT_SOURCE when source= is not in the from= stage', async () => {
    const dockerfileText = `FROM ${busybox} AS src\nFROM ${busybox}\nRUN --mount=type=bind,from=src,source=/nope,target=/x true\n`;
    await expect(build({ store, context, dockerfileText })).rejects.toMatchObject({ code: 'BUILD_MOUNT_SOURCE', message: expect.stringContaining('/nope') });
  });

  it('runs a #! heredoc script with its interpreter and leaves no script file in the layer', async () => {
    const dockerfileText = [
      `FROM ${busybox}`,
      'RUN <<EOF',
      '#!/bin/awk -f',
      'BEGIN { print "awk ran" > "/awk.txt" }',
      'EOF',
      'RUN <<SCRIPT',
      '#!/bin/sh',
      'set -e',
      'echo "script $0 as $(id -u)" > /script.txt',
      'SCRIPT',
      '',
    ].join('\n');
    const events: BuildEvent[] = [];
    await build({ store, context, dockerfileText, tags: ['localhost/test/shebang:1'], onEvent: (e) => events.push(e) });
    const rootfs = unpack('localhost/test/shebang:1');
    expect(readFileSync(join(rootfs, 'awk.txt'), 'utf8')).toBe('awk ran\n');
    expect(readFileSync(join(rootfs, 'script.txt'), 'utf8')).toBe('script /dev/pipes/SCRIPT as 0\n');
    const layers = layerPaths('localhost/test/shebang:1');
    expect(layers.slice(-2)).toEqual([['awk.txt'], ['script.txt']]);

    // the script's text is in the key: an edited body reruns, the same one is cached
    const again: BuildEvent[] = [];
    await build({ store, context, dockerfileText, onEvent: (e) => again.push(e) });
    expect(again.filter((e) => e.type === 'step-cached')).toHaveLength(2);
    const edited: BuildEvent[] = [];
    await build({ store, context, dockerfileText: dockerfileText.replace('awk ran', 'awk ran again'), onEvent: (e) => edited.push(e) });
    expect(edited.filter((e) => e.type === 'step-cached')).toHaveLength(0);
  });
});
