import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// COPY --parents (with rsync's `/./` pivot), --link (a layer made as if on
// scratch, reused across parent changes) and --exclude, on real builds over
// busybox, read back with umoci.
describe('strata build: COPY --parents, --link, --exclude', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:latest';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-copy-flags-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    for (const d of ['src/x/sub', 'src/y/sub', 'app/storage/views', 'app/storage/cache']) mkdirSync(join(context, d), { recursive: true });
    writeFileSync(join(context, 'src/x/a.txt'), 'x/a\n');
    writeFileSync(join(context, 'src/y/a.txt'), 'y/a\n');
    writeFileSync(join(context, 'src/x/sub/b.go'), 'package b\n');
    writeFileSync(join(context, 'src/y/sub/c.go'), 'package c\n');
    writeFileSync(join(context, 'src/y/sub/c.txt'), 'c\n');
    chmodSync(join(context, 'src/x'), 0o750);
    writeFileSync(join(context, 'app/main.php'), '<?php\n');
    writeFileSync(join(context, 'app/notes.md'), 'notes\n');
    writeFileSync(join(context, 'app/storage/views/v.html'), 'view\n');
    writeFileSync(join(context, 'app/storage/cache/c.bin'), 'cache\n');
    writeFileSync(join(context, 'big.txt'), 'a layer made once\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let counter = 0;
  async function buildText(text: string) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/copy-flags:${(counter += 1)}`;
    const result = await build({ store, context, dockerfileText: text, tags: [tag], onEvent: (e) => events.push(e) });
    return { tag, events, result };
  }
  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${(counter += 1)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }
  function tree(root: string, rel = ''): string[] {
    const out: string[] = [];
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(root, path));
      out.push(st.isDirectory() ? `${path}/` : path);
      if (st.isDirectory()) out.push(...tree(root, path));
    }
    return out;
  }

  it('--parents keeps each source’s folders; without it sources land side by side (the last wins)', async () => {
    const { tag } = await buildText(`FROM ${base}\nCOPY src/x/a.txt src/y/a.txt /flat/\nCOPY --parents src/x/a.txt src/y/a.txt /parents/\n`);
    const rootfs = unpack(tag);
    expect(tree(join(rootfs, 'flat'))).toEqual(['a.txt']);
    expect(readFileSync(join(rootfs, 'flat/a.txt'), 'utf8')).toBe('y/a\n');
    expect(tree(join(rootfs, 'parents'))).toEqual(['src/', 'src/x/', 'src/x/a.txt', 'src/y/', 'src/y/a.txt']);
    // the kept folders carry the context's modes; owners are root
    const x = statSync(join(rootfs, 'parents/src/x'));
    expect([x.mode & 0o7777, x.uid, x.gid]).toEqual([0o750, 0, 0]);
  });

  it('--parents: a kept folder whose mode changed is a miss, not the old layer (its mode is in the key)', async () => {
    mkdirSync(join(context, 'modes/kept'), { recursive: true });
    writeFileSync(join(context, 'modes/kept/f.txt'), 'f\n');
    chmodSync(join(context, 'modes/kept'), 0o755);
    const text = `FROM ${base}\nCOPY --parents modes/kept/f.txt /m/\n`;
    await buildText(text);
    chmodSync(join(context, 'modes/kept'), 0o700);
    const { tag, events } = await buildText(text);
    expect(events.flatMap((e) => (e.type === 'step-cached' ? [e.instruction.text] : []))).toEqual([]);
    expect(statSync(join(unpack(tag), 'm/modes/kept')).mode & 0o7777).toBe(0o700);
  });

  it('--parents with a /./ pivot, wildcards, ** and a folder source', async () => {
    const { tag } = await buildText(
      [
        `FROM ${base}`,
        'COPY --parents ./src/./x/sub/*.go /pivot/',
        'COPY --parents src/*/sub/*.go /glob/',
        'COPY --parents src/**/*.txt /star/',
        'COPY --parents src/y/sub /dir/',
        'WORKDIR /work',
        'COPY --parents src/./y/a.txt rel/',
        '',
      ].join('\n'),
    );
    const rootfs = unpack(tag);
    expect(tree(join(rootfs, 'pivot'))).toEqual(['x/', 'x/sub/', 'x/sub/b.go']);
    expect(tree(join(rootfs, 'glob'))).toEqual(['src/', 'src/x/', 'src/x/sub/', 'src/x/sub/b.go', 'src/y/', 'src/y/sub/', 'src/y/sub/c.go']);
    expect(tree(join(rootfs, 'star'))).toEqual(['src/', 'src/x/', 'src/x/a.txt', 'src/y/', 'src/y/a.txt', 'src/y/sub/', 'src/y/sub/c.txt']);
    expect(tree(join(rootfs, 'dir'))).toEqual(['src/', 'src/y/', 'src/y/sub/', 'src/y/sub/c.go', 'src/y/sub/c.txt']);
    expect(readFileSync(join(rootfs, 'work/rel/y/a.txt'), 'utf8')).toBe('y/a\n');
  });

  it('--parents with --from: absolute stage paths with a /./ pivot', async () => {
    const { tag } = await buildText(
      `FROM ${base} AS build\nRUN mkdir -p /app/dist/js /app/dist/css && echo js > /app/dist/js/a.js && echo css > /app/dist/css/a.css\nFROM ${base}\nCOPY --from=build --parents /app/./dist/*/a.* /srv/\n`,
    );
    expect(tree(join(unpack(tag), 'srv'))).toEqual(['dist/', 'dist/css/', 'dist/css/a.css', 'dist/js/', 'dist/js/a.js']);
  });

  it('--exclude for COPY: patterns match from the context root and from a folder source', async () => {
    const { tag } = await buildText(
      `FROM ${base}\nCOPY --exclude=storage/views --exclude=*.md app/ /app/\nCOPY --exclude=src/y --exclude=**/*.go src /src/\n`,
    );
    const rootfs = unpack(tag);
    expect(tree(join(rootfs, 'app'))).toEqual(['main.php', 'storage/', 'storage/cache/', 'storage/cache/c.bin']);
    expect(tree(join(rootfs, 'src'))).toEqual(['x/', 'x/a.txt', 'x/sub/']);
  });

  it('without --link a destination through an image symlink is followed inside the image', async () => {
    const { tag } = await buildText(`FROM ${base}\nRUN mkdir -p /real && ln -s /real /lnk && ln -s ../real /rel\nCOPY big.txt /lnk/big.txt\nCOPY big.txt /rel/\n`);
    const rootfs = unpack(tag);
    expect(readlinkSync(join(rootfs, 'lnk'))).toBe('/real');
    expect(tree(join(rootfs, 'real'))).toEqual(['big.txt']);
  });

  it('without --link a source folder where the image has a symlink is refused, as BuildKit does; with --link it replaces it', async () => {
    mkdirSync(join(context, 'overlay/lnk'), { recursive: true });
    writeFileSync(join(context, 'overlay/lnk/x.txt'), 'x\n');
    const prefix = `FROM ${base}\nRUN mkdir -p /real && ln -s /real /lnk\n`;
    await expect(buildText(`${prefix}COPY overlay/ /\n`)).rejects.toMatchObject({ code: 'BUILD_NOT_DIRECTORY', message: expect.stringContaining('/lnk') });
    const { tag } = await buildText(`${prefix}COPY --link overlay/ /\n`);
    const rootfs = unpack(tag);
    expect(lstatSync(join(rootfs, 'lnk')).isDirectory()).toBe(true);
    expect(readFileSync(join(rootfs, 'lnk/x.txt'), 'utf8')).toBe('x\n');
  });

  it('--link makes the layer as if on scratch: image symlinks on the way are not followed, parents are plain folders', async () => {
    const { tag } = await buildText(
      `FROM ${base}\nRUN mkdir -p /real && ln -s /real /lnk\nCOPY --link big.txt /lnk/big.txt\nCOPY --link big.txt /tmp/big.txt\nRUN test -f /lnk/big.txt && test ! -e /real/big.txt && echo ok > /check\n`,
    );
    const rootfs = unpack(tag);
    expect(lstatSync(join(rootfs, 'lnk')).isDirectory()).toBe(true);
    expect(readFileSync(join(rootfs, 'lnk/big.txt'), 'utf8')).toBe('a layer made once\n');
    expect(readdirSync(join(rootfs, 'real'))).toEqual([]);
    // the RUN after it sees the same tree over overlayfs
    expect(readFileSync(join(rootfs, 'check'), 'utf8')).toBe('ok\n');
    // BuildKit's documented caveat: a --link layer's parent folders are 0755, owned by root
    expect(statSync(join(rootfs, 'tmp')).mode & 0o7777).toBe(0o755);
  });

  it('--link reuses its layer when the parent changes; without --link the copy reruns', async () => {
    const text = (n: number) => `FROM ${base}\nRUN echo ${n} > /n\nCOPY --link big.txt /opt/big.txt\nCOPY big.txt /opt/plain.txt\n`;
    const first = await buildText(text(1));
    const second = await buildText(text(2));
    const cached = second.events.flatMap((e) => (e.type === 'step-cached' ? [e.instruction.text] : []));
    expect(cached).toEqual(['COPY --link big.txt /opt/big.txt']);
    const layers = (ref: string) =>
      (JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci:${store.root}:${ref}`], { encoding: 'utf8' })) as { layers: { digest: string }[] }).layers.map((l) => l.digest);
    const [a, b] = [layers(first.tag), layers(second.tag)];
    expect(a[2]).toBe(b[2]);
    expect(a[1]).not.toBe(b[1]);
    const rootfs = unpack(second.tag);
    expect(readFileSync(join(rootfs, 'n'), 'utf8')).toBe('2\n');
    expect(readFileSync(join(rootfs, 'opt/big.txt'), 'utf8')).toBe('a layer made once\n');
    expect(existsSync(join(rootfs, 'opt/plain.txt'))).toBe(true);
  });
});
