import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { getAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { writeLayer, type LayerCompression } from '../../src/layer/index.js';
import { LONG_DIR, LONG_TARGET, makeEveryTypeTree, MTIME, setMtimes, summarize } from './support/fixture.js';
import { readTar, untarBytes } from './support/tar-reader.js';

let work: string;
let tree: string;
beforeAll(() => {
  work = mkdtempSync('/dev/shm/strata-write-layer-');
  tree = join(work, 'tree');
  mkdirSync(tree);
  makeEveryTypeTree(tree);
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

let seq = 0;
function out(ext: string): string {
  return join(work, `out-${seq++}.${ext}`);
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('writeLayer on a tree with every file type', () => {
  let tarFile: string;
  let result: Awaited<ReturnType<typeof writeLayer>>;
  beforeAll(async () => {
    tarFile = out('tar');
    result = await writeLayer(tree, { output: tarFile, compression: 'none' });
  });

  test('reports the tar it wrote: digest = diffId = sha256 of the bytes, sizes, media type', () => {
    const bytes = readFileSync(tarFile);
    expect(result.diffId).toBe(sha256(bytes));
    expect(result.digest).toBe(result.diffId);
    expect(result.size).toBe(bytes.length);
    expect(result.uncompressedSize).toBe(bytes.length);
    expect(result.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
    expect(result.empty).toBe(false);
    expect(result.skipped).toEqual(['run/socket']);
    expect(bytes.length % 512).toBe(0);
  });

  test('GNU tar lists exactly the expected entries, modes, owners and link targets, depth first with siblings in name byte order', () => {
    const listing = execFileSync('tar', ['--numeric-owner', '--utc', '-tvf', tarFile], { encoding: 'utf8' })
      .trimEnd()
      .split('\n')
      .map((line) => {
        const m = /^(\S+) (\S+)\s+(\S+) \S+ \S+ (.*)$/.exec(line);
        if (m === null) throw new Error(`unexpected tar -tv line: ${line}`);
        return `${m[1]} ${m[2]} ${m[3]} ${m[4]}`;
      });
    const dirs = LONG_DIR.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    expect(listing).toEqual([
      'drwxr-xr-x 0/0 0 bin/',
      '-rwxr-xr-x 0/0 20 bin/ping',
      '-rwsr-xr-x 0/0 7 bin/su',
      '-rwxr-sr-x 0/0 7 bin/wall',
      'drwxr-xr-x 0/0 0 data/',
      `-rw-r--r-- 0/0 ${3 * (1 << 20) + 7} data/a`,
      'hrw-r--r-- 0/0 0 data/b link to data/a',
      'hrw-r--r-- 0/0 0 data/c link to data/a',
      '-rw-r--r-- 0/0 0 data/empty',
      'drwxr-xr-x 0/0 0 dev/',
      'brw-rw---- 0/0 7,0 dev/loop0',
      'crw-rw-rw- 0/0 1,3 dev/null',
      'drwxr-xr-x 0/0 0 etc/',
      '-rw-r--r-- 3000000/4000000 4 etc/big-ids',
      `lrwxrwxrwx 0/0 0 etc/long-link -> ${LONG_TARGET}`,
      '-rw-r----- 1234/5678 6 etc/owned',
      '-rw-r--r-- 0/0 30 etc/passwd',
      'lrwxrwxrwx 0/0 0 lib -> usr/lib',
      'drwxr-xr-x 0/0 0 opt/',
      'drwxr-xr-x 0/0 0 opt/café/',
      '-rw-r--r-- 0/0 6 opt/café/naïve.txt',
      'drwxr-xr-x 0/0 0 run/',
      'prw------- 0/0 0 run/fifo',
      'drwxr-xr-x 0/0 0 srv/',
      'drwxrwsr-x 0/50 0 srv/shared/',
      'drwxrwxrwt 0/0 0 tmp/',
      'drwxr-xr-x 0/0 0 usr/',
      'drwxr-xr-x 0/0 0 usr/lib/',
      ...dirs.slice(1).map((d) => `drwxr-xr-x 0/0 0 ${d}/`),
      `-rw-r--r-- 0/0 5 ${LONG_DIR}/file-with-a-long-path.txt`,
    ]);
  });

  test('headers: PAX only where needed, mtimes kept, no uname/gname, kept xattrs only', () => {
    const entries = readTar(readFileSync(tarFile));
    for (const e of entries) {
      expect(e.mtime).toBe(MTIME);
      expect([e.uname, e.gname]).toEqual(['', '']);
      for (const key of e.pax.keys()) expect(key).toMatch(/^(path|linkpath|uid|gid|SCHILY\.xattr\.(security\.capability|user\..+))$/);
    }
    const byName = new Map(entries.map((e) => [e.name, e]));
    expect([...(byName.get('etc/passwd')?.pax.keys() ?? [])]).toEqual(['SCHILY.xattr.user.comment']);
    expect(byName.get('etc/passwd')?.pax.get('SCHILY.xattr.user.comment')?.toString()).toBe('kept');
    expect(byName.get('bin/ping')?.pax.get('SCHILY.xattr.security.capability')).toEqual(getAttributeSync(join(tree, 'bin/ping'), 'security.capability'));
    expect([...(byName.get('etc/big-ids')?.pax.keys() ?? [])]).toEqual(['gid', 'uid']);
    expect([...(byName.get('etc/long-link')?.pax.keys() ?? [])]).toEqual(['linkpath']);
    expect([...(byName.get('opt/café/naïve.txt')?.pax.keys() ?? [])]).toEqual(['path']);
    expect(byName.get('data/a')?.content.equals(readFileSync(join(tree, 'data/a')))).toBe(true);
    const longDirs = LONG_DIR.split('/')
      .map((_, i, parts) => `${parts.slice(0, i + 1).join('/')}/`)
      .filter((d) => d.length > 100);
    expect(longDirs.length).toBeGreaterThan(0);
    expect(entries.filter((e) => e.pax.size > 0).map((e) => e.name)).toEqual([
      'bin/ping',
      'etc/big-ids',
      'etc/long-link',
      'etc/passwd',
      'opt/café/',
      'opt/café/naïve.txt',
      ...longDirs,
      `${LONG_DIR}/file-with-a-long-path.txt`,
    ]);
  });

  test('GNU tar extracts the same tree: types, modes, owners, content, links, devices, hardlinks, capabilities', () => {
    const dest = join(work, 'extracted');
    mkdirSync(dest);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarFile, '-C', dest]);
    const expected = summarize(tree);
    delete expected['run/socket'];
    expect(summarize(dest)).toEqual(expected);
    expect(expected['data/c']?.inodeGroup).toBe('data/a');
    expect(expected['bin/ping']?.xattrs?.['security.capability']).toMatch(/^01000002/);
  });
});

describe('determinism', () => {
  test.each<LayerCompression>(['gzip', 'zstd', 'none'])('two runs, and a copy of the tree with new inodes, give identical %s blobs', async (compression) => {
    const first = await writeLayer(tree, { output: out(compression), compression });
    const second = await writeLayer(tree, { output: out(compression), compression });
    const copy = join(work, `copy-${compression}`);
    execFileSync('cp', ['-a', tree, copy]);
    const third = await writeLayer(copy, { output: out(compression), compression });
    expect(second).toEqual(first);
    expect(third).toEqual(first);
  });

  test('compressed blobs decompress to the tar whose sha256 is the diffId; digest is the sha256 of the blob', async () => {
    const plain = await writeLayer(tree, { output: out('tar'), compression: 'none' });
    for (const compression of ['gzip', 'zstd'] as const) {
      const file = out(compression);
      const r = await writeLayer(tree, { output: file, compression });
      const blob = readFileSync(file);
      expect(r.digest).toBe(sha256(blob));
      expect(r.size).toBe(blob.length);
      expect(r.size).toBeLessThan(r.uncompressedSize);
      expect(r.diffId).toBe(plain.diffId);
      expect(sha256(untarBytes(blob, compression))).toBe(plain.diffId);
      expect(r.mediaType).toBe(`application/vnd.oci.image.layer.v1.tar+${compression}`);
    }
  });

  test('SOURCE_DATE_EPOCH clamps later mtimes and keeps earlier ones; touching files then changes nothing', async () => {
    const dir = join(work, 'sde');
    execFileSync('cp', ['-a', tree, dir]);
    utimesSync(join(dir, 'etc/passwd'), 1000, 1000);
    const epoch = 1_500_000_000;
    const file = out('tar');
    const a = await writeLayer(dir, { output: file, compression: 'none', sourceDateEpoch: epoch });
    const entries = readTar(readFileSync(file));
    expect(entries.find((e) => e.name === 'etc/passwd')?.mtime).toBe(1000);
    expect(entries.filter((e) => e.name !== 'etc/passwd').every((e) => e.mtime === epoch)).toBe(true);
    setMtimes(dir, MTIME + 12345);
    utimesSync(join(dir, 'etc/passwd'), 1000, 1000);
    const b = await writeLayer(dir, { output: out('tgz'), sourceDateEpoch: epoch });
    const c = await writeLayer(dir, { output: out('tgz'), sourceDateEpoch: epoch });
    expect(b.diffId).toBe(a.diffId);
    expect(c.digest).toBe(b.digest);
    const unclamped = await writeLayer(dir, { output: out('tar'), compression: 'none' });
    expect(unclamped.diffId).not.toBe(a.diffId);
  });
});

describe('outputs and edge cases', () => {
  test('an empty directory is an empty layer: two zero blocks, reported as empty', async () => {
    const dir = join(work, 'empty');
    mkdirSync(dir);
    const r = await writeLayer(dir, { output: out('tar'), compression: 'none' });
    expect(r).toMatchObject({ empty: true, entries: 0, uncompressedSize: 1024, diffId: sha256(Buffer.alloc(1024)) });
    const g = await writeLayer(dir, { output: out('tgz') });
    expect(g).toMatchObject({ empty: true, diffId: r.diffId });
  });

  test('writes to a Writable and ends it', async () => {
    const sink = new PassThrough();
    const chunks: Buffer[] = [];
    sink.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => sink.on('end', resolve));
    const r = await writeLayer(tree, { output: sink, compression: 'gzip', level: 6 });
    await ended;
    const blob = Buffer.concat(chunks);
    expect(r.digest).toBe(sha256(blob));
    expect(r.size).toBe(blob.length);
  });

  test('orders entries depth first, siblings by name bytes (not locale or UTF-16 units)', async () => {
    const dir = join(work, 'order');
    mkdirSync(dir);
    for (const name of ['b', 'B', 'a-b', 'a.b', '\u{1F600}', '\uFF5E', 'é', '_']) writeFileSync(join(dir, name), name);
    mkdirSync(join(dir, 'a'));
    writeFileSync(join(dir, 'a', 'x'), 'x');
    const file = out('tar');
    await writeLayer(dir, { output: file, compression: 'none' });
    const names = readTar(readFileSync(file)).map((e) => e.name);
    // depth first: a directory's contents follow it; siblings by name bytes: U+FF5E (EF BD 9E) before U+1F600 (F0 9F 98 80)
    expect(names).toEqual(['B', '_', 'a/', 'a/x', 'a-b', 'a.b', 'b', 'é', '\uFF5E', '\u{1F600}']);
  });

  test('drops trusted.overlay.* and other non-kept xattrs', async () => {
    const file = out('tar');
    await writeLayer(tree, { output: file, compression: 'none' });
    const all = readTar(readFileSync(file)).flatMap((e) => [...e.pax.keys()]);
    expect(all.some((k) => k.includes('overlay') || k.includes('trusted'))).toBe(false);
    expect(all).toContain('SCHILY.xattr.user.comment');
  });

  test('refuses overlay redirects and metacopy files: BUILD_LAYER_OVERLAY_FEATURE', async () => {
    const dir = join(work, 'redirect');
    mkdirSync(join(dir, 'moved'), { recursive: true });
    setAttributeSync(join(dir, 'moved'), 'trusted.overlay.redirect', '/orig');
    await expect(writeLayer(dir, { output: out('tar') })).rejects.toMatchObject({ code: 'BUILD_LAYER_OVERLAY_FEATURE' });
  });

  test('rejects bad options with BUILD_LAYER_OPTIONS', async () => {
    await expect(writeLayer(tree, { output: out('x'), level: 0 })).rejects.toMatchObject({ code: 'BUILD_LAYER_OPTIONS' });
    await expect(writeLayer(tree, { output: out('x'), compression: 'zstd', level: 20 })).rejects.toMatchObject({ code: 'BUILD_LAYER_OPTIONS' });
    await expect(writeLayer(tree, { output: out('x'), sourceDateEpoch: 1.5 })).rejects.toMatchObject({ code: 'BUILD_LAYER_OPTIONS' });
    await expect(writeLayer(tree, { output: out('x'), compression: 'lz4' as LayerCompression })).rejects.toMatchObject({ code: 'BUILD_LAYER_OPTIONS' });
  });

  test('a missing or failing zstd command is BUILD_LAYER_COMPRESSOR', async () => {
    await expect(writeLayer(tree, { output: out('zst'), compression: 'zstd', zstdCommand: join(work, 'no-such-zstd') })).rejects.toMatchObject({
      code: 'BUILD_LAYER_COMPRESSOR',
    });
    await expect(writeLayer(tree, { output: out('zst'), compression: 'zstd', zstdCommand: 'false' })).rejects.toMatchObject({ code: 'BUILD_LAYER_COMPRESSOR' });
  });

  test('an aborted signal stops the write', async () => {
    const controller = new AbortController();
    controller.abort();
    for (const compression of ['gzip', 'zstd'] as const) {
      await expect(writeLayer(tree, { output: out('x'), compression, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    }
  });

  test('an output the system refuses is BUILD_LAYER_WRITE, with the file and the cause', async () => {
    const target = join(work, 'no-such-folder', 'layer.tar');
    await expect(writeLayer(tree, { output: target, compression: 'none' })).rejects.toMatchObject({ code: 'BUILD_LAYER_WRITE', message: expect.stringContaining(target) });
  });

  test('a directory that does not exist is BUILD_LAYER_READ', async () => {
    await expect(writeLayer(join(work, 'nope'), { output: out('tar') })).rejects.toMatchObject({ code: 'BUILD_LAYER_READ' });
  });
});

describe('memory', () => {
  test('a file far larger than the read size is streamed: the peak memory does not grow with it', async () => {
    const dir = join(work, `big-${seq++}`);
    mkdirSync(dir);
    // sparse: 768 MiB of zeros that take no room on tmpfs until read
    const big = join(dir, 'model.bin');
    writeFileSync(big, '');
    truncateSync(big, 768 << 20);
    const before = process.resourceUsage().maxRSS;
    const file = out('tar');
    const r = await writeLayer(dir, { output: file, compression: 'none' });
    rmSync(file);
    expect(r.uncompressedSize).toBeGreaterThan(768 << 20);
    // maxRSS is in KiB; reading the file whole would add 768 MiB
    expect((process.resourceUsage().maxRSS - before) / 1024).toBeLessThan(256);
  });
});

