// Malicious layers against every way a layer reaches the disk: unpacking into
// snapshots (what pull, load and import lead to when a build uses the image),
// `strata load` of archives, `strata import` of root filesystems, and a pull
// from a real registry. Each layer either extracts inside its snapshot or
// fails with a CACHE_* code; a sentinel folder outside the store, which the
// layers aim at, must never change, and the store must verify clean.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType, Store, type Descriptor } from '@strata/cache';
import { build } from '@strata/builder';
import { main } from '@strata/cli';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { base256, evilTar, type EvilEntry } from './support/evil-tar.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

jest.setTimeout(120_000);

let dir: string;
let sentinel: string;
let store: Store;
let registry: TestRegistry | undefined;

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** What the sentinel folder holds: names, sizes, modes, times; any write through a layer changes it. */
function sentinelState(): string {
  const walk = (d: string): string[] =>
    readdirSync(d).sort().flatMap((name) => {
      const p = join(d, name);
      const st = lstatSync(p);
      const line = `${p.slice(sentinel.length)} ${st.mode.toString(8)} ${st.size} ${st.uid}:${st.gid} ${st.mtimeMs}`;
      return st.isDirectory() ? [line, ...walk(p)] : [line];
    });
  const st = statSync(sentinel);
  return [`/ ${st.mode.toString(8)} ${st.mtimeMs}`, ...walk(sentinel)].join('\n');
}
let sentinelBefore: string;

async function strata(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({ cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, STRATA_ROOT: store.root, ...env } });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

async function unpackLayer(target: Store, tar: Buffer, options: { gzip?: boolean } = {}) {
  const gzip = options.gzip ?? true;
  const data = gzip ? gzipSync(tar) : tar;
  const put = await target.putBlob(data);
  return target.snapshots.unpack({ layer: { mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: put.digest, size: put.size } });
}

/** An image of these layers (uncompressed tars, stored gzip) on nothing, tagged `ref`. */
async function storeImage(target: Store, layers: readonly Buffer[], ref: string): Promise<Descriptor> {
  const descriptors: Descriptor[] = [];
  for (const tar of layers) {
    const put = await target.putBlob(gzipSync(tar));
    descriptors.push({ mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size });
  }
  const config = await target.putJson(
    { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map(sha256) }, history: layers.map(() => ({ created_by: 'evil' })) },
    MediaType.ociConfig,
  );
  const manifest = await target.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: descriptors }, MediaType.ociManifest);
  await target.tag(ref, manifest);
  return manifest;
}

/** A docker-archive (`docker save` layout) of one image of these layers. */
async function dockerArchive(layers: readonly Buffer[], tag: string, options: { gzip?: boolean } = {}): Promise<Buffer> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map(sha256) } }));
  const archive = evilTar([
    { name: 'manifest.json', body: JSON.stringify([{ Config: 'config.json', RepoTags: [tag], Layers: layers.map((_, i) => `${i}/layer.tar`) }]) },
    { name: 'config.json', body: config },
    ...layers.map((tar, i) => ({ name: `${i}/layer.tar`, body: tar })),
  ]);
  return options.gzip === true ? gzipSync(archive) : archive;
}

/** Builds `FROM image` + a COPY, which unpacks every layer of the image into snapshots and readies them for overlay. */
async function buildFrom(target: Store, image: string): Promise<unknown> {
  const context = mkdtempSync(join(dir, 'ctx-'));
  writeFileSync(join(context, 'x'), 'x\n');
  return build({ store: target, context, dockerfileText: `FROM ${image}\nCOPY x /x\n`, tags: ['localhost/sec/after:1'] });
}

function storeIsClean(target: Store): void {
  expect(readdirSync(target.paths.tmp)).toEqual([]);
  for (const name of readdirSync(target.paths.snapshots)) {
    expect(existsSync(join(target.paths.snapshots, name, 'meta.json'))).toBe(true);
  }
}

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-sec-unpack-');
  sentinel = join(dir, 'sentinel');
  mkdirSync(join(sentinel, 'sub'), { recursive: true });
  writeFileSync(join(sentinel, 'keep'), 'host data\n');
  writeFileSync(join(sentinel, 'sub', 'keep'), 'host data\n');
  sentinelBefore = sentinelState();
  store = await Store.open(join(dir, 'store'));
});

afterEach(() => {
  // the host is untouched after every case
  expect(sentinelState()).toBe(sentinelBefore);
});

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('unpacking a layer into a snapshot', () => {
  const s = () => sentinel;
  const climb = '../../../../../../../../../../../..';
  const refused: [string, () => EvilEntry[], string][] = [
    ['a .. entry', () => [{ name: '../escape', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a nested .. entry', () => [{ name: 'a/b/../../../escape', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['an absolute entry', () => [{ name: `${s()}/escape`, body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a PAX path climbing out', () => [{ name: 'innocent', body: 'x', pax: { path: `${climb}${s()}/escape` } }], 'CACHE_UNSAFE_PATH'],
    ['a PAX path with a NUL byte', () => [{ name: 'innocent', body: 'x', pax: { path: 'a\u0000b' } }], 'CACHE_UNSAFE_PATH'],
    ['a write through a relative symlink out', () => [{ name: 'up', type: 'symlink', linkname: `${climb}${s()}` }, { name: 'up/escape', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a write through an absolute symlink', () => [{ name: 'abs', type: 'symlink', linkname: s() }, { name: 'abs/escape', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a folder made through a symlink', () => [{ name: 'abs', type: 'symlink', linkname: s() }, { name: 'abs/newdir/', type: 'directory' }], 'CACHE_UNSAFE_PATH'],
    ['a nested symlink out', () => [{ name: 'd/', type: 'directory' }, { name: 'd/l', type: 'symlink', linkname: s() }, { name: 'd/l/sub/escape', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a whiteout through a symlink', () => [{ name: 'abs', type: 'symlink', linkname: s() }, { name: 'abs/.wh.keep' }], 'CACHE_UNSAFE_PATH'],
    ['a device through a symlink', () => [{ name: 'abs', type: 'symlink', linkname: s() }, { name: 'abs/null', type: 'char', devmajor: 1, devminor: 3 }], 'CACHE_UNSAFE_PATH'],
    ['a hard link out with ..', () => [{ name: 'passwd', type: 'link', linkname: `${climb}/etc/passwd` }], 'CACHE_UNSAFE_PATH'],
    ['an absolute hard link', () => [{ name: 'keep', type: 'link', linkname: `${s()}/keep` }], 'CACHE_UNSAFE_PATH'],
    ['a hard link through a symlink', () => [{ name: 'abs', type: 'symlink', linkname: s() }, { name: 'keep', type: 'link', linkname: 'abs/keep' }], 'CACHE_UNSAFE_PATH'],
    ['a hard link to a missing file', () => [{ name: 'orphan', type: 'link', linkname: 'not/there' }], 'CACHE_UNSAFE_PATH'],
    ['a hard link to a folder', () => [{ name: 'd/', type: 'directory' }, { name: 'dl', type: 'link', linkname: 'd' }], 'CACHE_UNSAFE_PATH'],
    ['a PAX linkpath out', () => [{ name: 'f', body: 'x' }, { name: 'l', type: 'link', linkname: 'f', pax: { linkpath: `${climb}/etc/shadow` } }], 'CACHE_UNSAFE_PATH'],
    ['a whiteout of its own folder', () => [{ name: 'a/', type: 'directory' }, { name: 'a/.wh..' }], 'CACHE_UNSAFE_PATH'],
    ['a whiteout of nothing', () => [{ name: '.wh.' }], 'CACHE_UNSAFE_PATH'],
    ['an entry under a device', () => [{ name: 'dev0', type: 'char', devmajor: 1, devminor: 3 }, { name: 'dev0/x', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['an entry under a file', () => [{ name: 'f', body: 'x' }, { name: 'f/x', body: 'x' }], 'CACHE_UNSAFE_PATH'],
    ['a negative size', () => [{ name: 'neg', size: base256(-1n), body: 'x' }], 'CACHE_LAYER_INVALID'],
    ['a huge size past the end of the archive', () => [{ name: 'huge', size: base256(1n << 40n), body: 'x' }], 'CACHE_LAYER_INVALID'],
    ['a PAX size that is not a number', () => [{ name: 'f', body: 'x', pax: { size: 'abc' } }], 'CACHE_LAYER_INVALID'],
    ['a PAX size that is negative', () => [{ name: 'f', body: 'x', pax: { size: '-5' } }], 'CACHE_LAYER_INVALID'],
    ['a PAX uid that is negative', () => [{ name: 'f', body: 'x', pax: { uid: '-5' } }], 'CACHE_LAYER_INVALID'],
    ['a PAX uid too large for uid_t', () => [{ name: 'f', body: 'x', pax: { uid: '4294967295' } }], 'CACHE_LAYER_INVALID'],
    ['a PAX gid that is not a number', () => [{ name: 'f', body: 'x', pax: { gid: 'wheel' } }], 'CACHE_LAYER_INVALID'],
    ['a PAX mtime that is not a number', () => [{ name: 'f', body: 'x', pax: { mtime: 'yesterday' } }], 'CACHE_LAYER_INVALID'],
    ['a negative base-256 uid', () => [{ name: 'f', body: 'x', uid: base256(-2n, 8) }], 'CACHE_LAYER_INVALID'],
  ];

  it.each(refused)('refuses %s', async (_name, entries, code) => {
    const layersBefore = readdirSync(store.paths.snapshots).length;
    await expect(unpackLayer(store, evilTar(entries()))).rejects.toMatchObject({ code });
    expect(readdirSync(store.paths.snapshots)).toHaveLength(layersBefore);
    storeIsClean(store);
  });

  it('refuses a damaged header, a truncated tar and a blob that is not gzip, as CACHE_LAYER_INVALID', async () => {
    const tar = evilTar([{ name: 'a', body: 'aaaa' }, { name: 'b', body: 'b'.repeat(3000) }]);
    const damaged = Buffer.from(tar);
    damaged[512 * 2 + 10] = (damaged[512 * 2 + 10] ?? 0) ^ 0x55; // inside the second header: its checksum no longer matches
    await expect(unpackLayer(store, damaged)).rejects.toMatchObject({ code: 'CACHE_LAYER_INVALID' });
    await expect(unpackLayer(store, tar.subarray(0, 512 * 3 + 100))).rejects.toMatchObject({ code: 'CACHE_LAYER_INVALID' });
    const notGzip = await store.putBlob(Buffer.from('this is not gzip at all'));
    await expect(store.snapshots.unpack({ layer: { mediaType: MediaType.ociLayerGzip, digest: notGzip.digest, size: notGzip.size } })).rejects.toMatchObject({
      code: 'CACHE_LAYER_INVALID',
    });
    storeIsClean(store);
  });

  it('stops a gzip bomb at the size limit with CACHE_LAYER_TOO_LARGE', async () => {
    const small = await Store.open(store.root, { maxLayerSize: 1024 * 1024 });
    const bomb = gzipSync(evilTar([{ name: 'zeros', body: Buffer.alloc(32 * 1024 * 1024) }]), { level: 9 });
    expect(bomb.length).toBeLessThan(64 * 1024);
    const put = await small.putBlob(bomb);
    const before = readdirSync(store.paths.snapshots).length;
    const error = await small.snapshots.unpack({ layer: { mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size } }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CACHE_LAYER_TOO_LARGE', hint: expect.stringContaining('STRATA_MAX_LAYER_SIZE') });
    expect(readdirSync(store.paths.snapshots)).toHaveLength(before);
    storeIsClean(store);
  });

  it('lets later entries replace earlier ones without writing through them', async () => {
    const info = await unpackLayer(store, evilTar([
      { name: 'dup', body: 'one' },
      { name: 'dup', body: 'two' },
      // a symlink out, then a file of the same name: the file replaces the link
      { name: 'keep', type: 'symlink', linkname: `${sentinel}/keep` },
      { name: 'keep', body: 'mine' },
      // a file, then a folder of the same name, then a file in it
      { name: 'x', body: '1' },
      { name: 'x/', type: 'directory' },
      { name: 'x/y', body: 'y' },
      // a folder with recorded changes under it, then replaced by a symlink out: nothing recorded may survive under it
      { name: 'd/', type: 'directory' },
      { name: 'd/.wh.gone' },
      { name: 'd/.wh..wh..opq' },
      { name: 'd/null', type: 'char', devmajor: 1, devminor: 3 },
      { name: 'd', type: 'symlink', linkname: sentinel },
      // a whiteout undone by a later entry of the same path
      { name: '.wh.back' },
      { name: 'back', body: 'back' },
    ]));
    expect(readFileSync(join(info.path, 'dup'), 'utf8')).toBe('two');
    expect(lstatSync(join(info.path, 'keep')).isFile()).toBe(true);
    expect(readFileSync(join(info.path, 'keep'), 'utf8')).toBe('mine');
    expect(readFileSync(join(info.path, 'x', 'y'), 'utf8')).toBe('y');
    expect(readlinkSync(join(info.path, 'd'))).toBe(sentinel);
    expect(info.whiteouts).toEqual([]);
    expect(info.opaqueDirs).toEqual([]);
    expect(info.specials).toEqual([]);
  });

  it('records device nodes and fifos instead of creating them, keeps absolute symlinks as links, and applies PAX owners', async () => {
    const info = await unpackLayer(store, evilTar([
      { name: 'dev/', type: 'directory' },
      { name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o666 },
      { name: 'dev/mem', type: 'char', devmajor: 1, devminor: 1, mode: 0o666 },
      { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', type: 'symlink', linkname: '/etc/shadow' },
      { name: 'big-uid', body: 'x', pax: { uid: '3000000', gid: '3000001', mtime: '1700000000.5' } },
    ]));
    expect(info.specials).toEqual([
      { path: 'dev/sda', type: 'block-device', mode: 0o666, devmajor: 8, devminor: 0 },
      { path: 'dev/mem', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 1 },
      { path: 'dev/pipe', type: 'fifo', mode: 0o600, devmajor: 0, devminor: 0 },
    ]);
    expect(readdirSync(join(info.path, 'dev'))).toEqual([]);
    expect(readlinkSync(join(info.path, 'etc', 'passwd'))).toBe('/etc/shadow');
    const st = statSync(join(info.path, 'big-uid'));
    expect([st.uid, st.gid]).toEqual([3000000, 3000001]);
    expect(st.mtimeMs).toBe(1_700_000_000_500);
  });
});

describe('the ways a user brings a layer in', () => {
  const escape = (): Buffer => evilTar([{ name: 'abs', type: 'symlink', linkname: sentinel }, { name: 'abs/escape', body: 'x' }]);
  /** Extracts fine; a snapshot that recorded changes under `d` and then replaced `d` with a symlink out would write there when readied for overlay. */
  const replaced = (): Buffer => evilTar([
    { name: 'd/', type: 'directory' },
    { name: 'd/.wh.keep' },
    { name: 'd/sub/', type: 'directory' },
    { name: 'd/sub/.wh..wh..opq' },
    { name: 'd/null', type: 'char', devmajor: 1, devminor: 3 },
    { name: 'd', type: 'symlink', linkname: sentinel },
  ]);

  it('a build FROM an image with a layer that escapes fails with CACHE_UNSAFE_PATH; one with replaced folders builds without touching the host', async () => {
    await storeImage(store, [escape()], 'localhost/sec/escape:1');
    await expect(buildFrom(store, 'localhost/sec/escape:1')).rejects.toMatchObject({ code: 'CACHE_UNSAFE_PATH' });
    await storeImage(store, [replaced()], 'localhost/sec/replaced:1');
    await expect(buildFrom(store, 'localhost/sec/replaced:1')).resolves.toMatchObject({ tags: ['localhost/sec/after:1'] });
    storeIsClean(store);
    expect((await strata(['verify'])).code).toBe(0);
    // snapshots hold setuid files and devices of any image: root only
    expect(statSync(join(store.root, 'snapshots-v1')).mode & 0o777).toBe(0o700);
    expect(statSync(store.paths.tmp).mode & 0o777).toBe(0o700);
    // and so do cache mounts (whatever RUN steps left in them)
    expect(statSync(store.paths.cacheMounts).mode & 0o777).toBe(0o700);
  });

  it('strata load stores an escaping layer by digest only; the build that uses it refuses it', async () => {
    const file = join(dir, 'escape.tar');
    writeFileSync(file, await dockerArchive([escape()], 'localhost/sec/loaded:1'));
    const loaded = await strata(['load', '-i', file]);
    expect(loaded).toMatchObject({ code: 0 });
    await expect(buildFrom(store, 'localhost/sec/loaded:1')).rejects.toMatchObject({ code: 'CACHE_UNSAFE_PATH' });
    expect((await strata(['verify'])).code).toBe(0);
  });

  it('strata load refuses a gzip bomb archive past STRATA_MAX_LAYER_SIZE and tags nothing', async () => {
    const file = join(dir, 'bomb.tar.gz');
    writeFileSync(file, await dockerArchive([evilTar([{ name: 'zeros', body: Buffer.alloc(24 * 1024 * 1024) }])], 'localhost/sec/bomb:1', { gzip: true }));
    const r = await strata(['load', '-i', file], { STRATA_MAX_LAYER_SIZE: '4M' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('CACHE_LAYER_TOO_LARGE');
    expect((await store.images()).map((i) => i.ref)).not.toContain('localhost/sec/bomb:1');
    storeIsClean(store);
    expect((await strata(['verify'])).code).toBe(0);
  });

  it('strata import refuses a gzip bomb root filesystem; an escaping one is refused when a build unpacks it', async () => {
    const bomb = join(dir, 'rootfs-bomb.tar.gz');
    writeFileSync(bomb, gzipSync(evilTar([{ name: 'zeros', body: Buffer.alloc(24 * 1024 * 1024) }]), { level: 9 }));
    const r = await strata(['import', bomb, 'localhost/sec/rootfs-bomb:1'], { STRATA_MAX_LAYER_SIZE: '4M' });
    expect(r.code).toBe(1);
    expect(r.err).toContain('CACHE_LAYER_TOO_LARGE');
    const evil = join(dir, 'rootfs-evil.tar');
    writeFileSync(evil, escape());
    expect(await strata(['import', evil, 'localhost/sec/rootfs-evil:1'])).toMatchObject({ code: 0 });
    await expect(buildFrom(store, 'localhost/sec/rootfs-evil:1')).rejects.toMatchObject({ code: 'CACHE_UNSAFE_PATH' });
    storeIsClean(store);
    expect((await strata(['verify'])).code).toBe(0);
  });

  it('strata pull of an image with escaping layers from a registry stores it by digest; the build refuses it and the host is untouched', async () => {
    registry = await startRegistry();
    await storeImage(store, [escape()], `${registry.host}/sec/escape:1`);
    await storeImage(store, [replaced()], `${registry.host}/sec/replaced:1`);
    expect(await strata(['push', `${registry.host}/sec/escape:1`])).toMatchObject({ code: 0 });
    expect(await strata(['push', `${registry.host}/sec/replaced:1`])).toMatchObject({ code: 0 });
    const fresh = await Store.open(join(dir, 'fresh-store'));
    const env = { STRATA_ROOT: fresh.root };
    expect(await strata(['pull', `${registry.host}/sec/escape:1`], env)).toMatchObject({ code: 0 });
    expect(await strata(['pull', `${registry.host}/sec/replaced:1`], env)).toMatchObject({ code: 0 });
    await expect(buildFrom(fresh, `${registry.host}/sec/escape:1`)).rejects.toMatchObject({ code: 'CACHE_UNSAFE_PATH' });
    await expect(buildFrom(fresh, `${registry.host}/sec/replaced:1`)).resolves.toBeDefined();
    storeIsClean(fresh);
    expect((await strata(['verify'], env)).code).toBe(0);
  });
});

