// A build stores its layers uncompressed and never compresses; push and save
// write the image's export form (gzip layers, the same config), compressed
// once and remembered in the store. Through this checkout's bin/strata, as a
// user runs it, against the reference registry; skopeo reads what was written.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { conversionKey, MediaType, Store, type Descriptor, type Digest } from '@strata/cache';
import { runStrata, type StrataRun } from './support/cli-json.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';

const execFileAsync = promisify(execFile);
const BIN = resolve(__dirname, '..', 'bin', 'strata');
jest.setTimeout(240_000);

interface Manifest {
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

const sha256 = (bytes: Buffer | string): string => `sha256:${execFileSync('sha256sum', { input: bytes }).toString().split(' ')[0]}`;
const skopeo = (...args: string[]): string => execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

/** The first bytes of a file inside a tar (GNU tar streams it; we read two bytes). */
function entryHead(tarFile: string, name: string): Buffer {
  return execFileSync('sh', ['-c', 'tar -xOf "$1" "$2" | head -c 2', 'sh', tarFile, name]);
}

describe('export compression', () => {
  let dir: string;
  let root: string;
  let env: NodeJS.ProcessEnv;
  let store: Store;
  let registry: TestRegistry;
  let ref: string;
  /** The digest the first push reported (the registry's manifest). */
  let pushed: string;

  const strata = (args: string[], options: { root?: string } = {}): Promise<StrataRun> =>
    runStrata(args, { env: { ...env, STRATA_ROOT: options.root ?? root }, cwd: dir });

  const manifestOf = async (s: Store, name: string): Promise<Manifest> => s.readJson<Manifest>((await s.resolve(name)).digest);
  const blobCount = (r: string): number => readdirSync(join(r, 'blobs', 'sha256')).length;
  /** The digest a `strata push` printed last (`NAME: digest: sha256:… size: N`). */
  const pushDigest = (out: string): string => /digest: (sha256:[0-9a-f]{64}) size: \d+\s*$/.exec(out)?.[1] ?? `no digest in ${JSON.stringify(out)}`;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-export-compression-');
    root = join(dir, 'store');
    env = { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: join(dir, 'docker') };
    store = await Store.open(root);
    await loadTestImage(store, testImage('busybox', 'amd64'), 'localhost/test/busybox:latest');
    const context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'hello.txt'), 'hello, uncompressed\n'.repeat(2000));
    writeFileSync(join(context, 'Dockerfile'), 'FROM localhost/test/busybox:latest\nCOPY hello.txt /hello.txt\nRUN echo built > /built\n');
    registry = await startRegistry();
    ref = `${registry.host}/exp/app:1`;
    const built = await strata(['build', '-q', '-t', ref, 'ctx']);
    expect(built).toMatchObject({ code: 0 });
  });
  afterAll(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a build stores its layers uncompressed (media type tar, digest = diff ID); the base keeps its gzip layer', async () => {
    const manifest = await manifestOf(store, ref);
    const config = await store.readConfig(manifest.config.digest);
    expect(manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayer, MediaType.ociLayer]);
    const base = await manifestOf(store, 'localhost/test/busybox:latest');
    expect(manifest.layers[0]).toEqual(base.layers[0]);
    for (const i of [1, 2]) expect(manifest.layers[i]?.digest).toBe(config.rootfs.diff_ids[i]);
    // the build compressed nothing: no conversion is remembered yet
    for (const layer of manifest.layers.slice(1)) expect(await store.getCacheRecord(conversionKey(layer.digest, 'gzip'))).toBeUndefined();
  });

  it('skopeo inspects and copies every tagged image out of the store (uncompressed OCI layers are valid)', async () => {
    const images = await store.images();
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const [i, image] of images.entries()) {
      const inspect = JSON.parse(skopeo('inspect', `oci:${root}:${image.ref}`)) as { Digest: string; Layers: string[] };
      expect(inspect.Digest).toBe(image.descriptor.digest);
      // a copy reads (and verifies) every layer; an OCI destination compresses the uncompressed ones, the config stays
      const copy = join(dir, `copy-${i}`);
      skopeo('copy', '--quiet', `oci:${root}:${image.ref}`, `oci:${copy}:x`);
      const original = JSON.parse(skopeo('inspect', '--raw', `oci:${root}:${image.ref}`)) as Manifest;
      const copied = JSON.parse(skopeo('inspect', '--raw', `oci:${copy}:x`)) as Manifest;
      expect(copied.config.digest).toBe(original.config.digest);
      expect(copied.layers).toHaveLength(inspect.Layers.length);
    }
  });

  it('strata push sends gzip layers; the registry, skopeo and RepoDigests agree on the digest; the store keeps its layers', async () => {
    const local = (await store.resolve(ref)).digest;
    const r = await strata(['push', ref]);
    expect(r).toMatchObject({ code: 0 });
    pushed = pushDigest(r.out);
    expect(pushed).not.toBe(local);
    const raw = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${ref}`);
    expect(sha256(raw)).toBe(pushed);
    const remote = JSON.parse(raw) as Manifest;
    expect(remote.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    const stored = await manifestOf(store, ref);
    expect(remote.config).toEqual(stored.config);
    expect(remote.layers[0]).toEqual(stored.layers[0]);
    const inspect = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${ref}`)) as { Digest: string; Layers: string[] };
    expect(inspect.Digest).toBe(pushed);
    expect(inspect.Layers).toEqual(remote.layers.map((l) => l.digest));
    // RepoDigests name what the registry has
    expect(await store.repoDigests(local as Digest)).toEqual([`${registry.host}/exp/app@${pushed}`]);
    const shown = JSON.parse((await strata(['inspect', ref])).out) as { RepoDigests: string[] }[];
    expect(shown[0]?.RepoDigests).toEqual([`${registry.host}/exp/app@${pushed}`]);
    // the store's image is as built: the conversions are remembered beside it
    expect(stored.layers.slice(1).map((l) => l.mediaType)).toEqual([MediaType.ociLayer, MediaType.ociLayer]);
    for (const [i, layer] of stored.layers.entries()) {
      if (i === 0) continue;
      expect((await store.getCacheRecord(conversionKey(layer.digest, 'gzip')))?.layer?.digest).toBe(remote.layers[i]?.digest);
    }
  });

  it('a second push compresses nothing (no record rewritten, no blob added) and pushes the same manifest', async () => {
    const stored = await manifestOf(store, ref);
    const keys = stored.layers.slice(1).map((l) => conversionKey(l.digest, 'gzip'));
    const before = await Promise.all(keys.map(async (k) => (await store.getCacheRecord(k))?.createdAt));
    const blobs = blobCount(root);
    const r = await strata(['push', ref]);
    expect(r).toMatchObject({ code: 0 });
    expect(pushDigest(r.out)).toBe(pushed);
    expect(r.out).toContain('Layer already exists');
    expect(r.out).not.toMatch(/: Pushed/);
    expect(await Promise.all(keys.map(async (k) => (await store.getCacheRecord(k))?.createdAt))).toEqual(before);
    expect(blobCount(root)).toBe(blobs);
  });

  it('the compressed layers mount across repositories: the store knows them by their uncompressed sources', async () => {
    const other = `${registry.host}/exp/other:1`;
    expect(await strata(['tag', ref, other])).toMatchObject({ code: 0 });
    const r = await strata(['push', other]);
    expect(r).toMatchObject({ code: 0 });
    expect(pushDigest(r.out)).toBe(pushed);
    expect(r.out.match(/Mounted from exp\/app/g)).toHaveLength(3);
  });

  it('push -> pull (into a fresh store) -> push gives the same manifest digest', async () => {
    const fresh = join(dir, 'fresh');
    expect(await strata(['pull', ref], { root: fresh })).toMatchObject({ code: 0 });
    const copy = `${registry.host}/exp/copy:1`;
    expect(await strata(['tag', ref, copy], { root: fresh })).toMatchObject({ code: 0 });
    const again = await strata(['push', copy], { root: fresh });
    expect(again).toMatchObject({ code: 0 });
    expect(pushDigest(again.out)).toBe(pushed);
    // and in the store that built it: pull back, push again
    expect(await strata(['pull', ref])).toMatchObject({ code: 0 });
    expect((await store.resolve(ref)).digest).toBe(pushed);
    const third = await strata(['push', ref]);
    expect(pushDigest(third.out)).toBe(pushed);
  });

  it('strata save writes gzip layers: skopeo reads the docker-archive and the OCI archive, strata loads them back', async () => {
    const built = `${registry.host}/exp/other:1`;
    const imageId = (await manifestOf(store, built)).config.digest;
    const docker = join(dir, 'app-docker.tar');
    expect(await strata(['save', '-o', docker, built])).toMatchObject({ code: 0 });
    const rawConfig = execFileSync('skopeo', ['inspect', '--raw', '--config', `docker-archive:${docker}`]);
    expect(sha256(rawConfig)).toBe(imageId);
    expect((JSON.parse(skopeo('inspect', `docker-archive:${docker}`)) as { Layers: string[] }).Layers).toHaveLength(3);
    const entries = JSON.parse(execFileSync('tar', ['-xOf', docker, 'manifest.json'], { encoding: 'utf8' })) as { Layers: string[] }[];
    expect(entries[0]?.Layers).toHaveLength(3);
    for (const layer of entries[0]?.Layers ?? []) expect(entryHead(docker, layer)).toEqual(GZIP_MAGIC);
    skopeo('copy', '--quiet', `docker-archive:${docker}`, `dir:${join(dir, 'from-docker-archive')}`);

    const oci = join(dir, 'app-oci.tar');
    expect(await strata(['save', '--format', 'oci', '-o', oci, built])).toMatchObject({ code: 0 });
    const raw = skopeo('inspect', '--raw', `oci-archive:${oci}:1`);
    // the same export form the registry got
    expect(sha256(raw)).toBe(pushed);
    expect((JSON.parse(raw) as Manifest).layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);

    // both load into an empty store with the same image ID
    for (const [name, file] of [['docker', docker], ['oci', oci]] as const) {
      const target = join(dir, `load-${name}`);
      expect(await strata(['load', '-i', file], { root: target })).toMatchObject({ code: 0 });
      const loaded = await Store.open(target);
      const tagged = await loaded.images();
      expect((await loaded.readManifest(tagged[0]?.descriptor.digest as Digest)).config.digest).toBe(imageId);
    }
  });
});

describe('a save killed while it compresses', () => {
  let dir: string;
  let root: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    dir = mkdtempSync('/dev/shm/strata-export-kill-');
    root = join(dir, 'store');
    env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
    try {
      const { stdout, stderr } = await execFileAsync(BIN, args, { env, cwd: dir, maxBuffer: 64 << 20 });
      return { code: 0, out: stdout, err: stderr };
    } catch (error) {
      const e = error as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
    }
  };

  /** Bytes of the store's in-flight temp files (a conversion writes its blob there). */
  function tempBytes(): number {
    let total = 0;
    for (const name of readdirSync(join(root, 'tmp'))) total += statSync(join(root, 'tmp', name), { throwIfNoEntry: false })?.size ?? 0;
    return total;
  }

  it('leaves a store that strata verify accepts, and the next save succeeds', async () => {
    const context = join(dir, 'ctx');
    mkdirSync(context);
    // random bytes compress slowly and not at all: two 160 MB layers keep gzip busy for seconds
    for (const name of ['big1', 'big2']) execFileSync('head', ['-c', String(160 << 20), '/dev/urandom'], { stdio: ['ignore', openSync(join(context, name), 'w'), 'inherit'] });
    writeFileSync(join(context, 'Dockerfile'), 'FROM scratch\nCOPY big1 /big1\nCOPY big2 /big2\n');
    expect(await run(['build', '-q', '-t', 'localhost/big:1', 'ctx'])).toMatchObject({ code: 0 });

    const archive = join(dir, 'big.tar');
    const child = spawn(BIN, ['save', '-o', archive, 'localhost/big:1'], { env, cwd: dir, stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | number | null>((done) => child.on('exit', (code, signal) => done(signal ?? code)));
    // kill it once a compressed blob is being written into the store (not by the clock)
    let seen = 0;
    while (child.exitCode === null) {
      seen = tempBytes();
      if (seen > 4 << 20) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    expect(seen).toBeGreaterThan(4 << 20);
    // what it left: a partial temp file, no archive
    expect(tempBytes()).toBeGreaterThan(0);
    expect(readdirSync(dir).filter((n) => n.startsWith('big.tar'))).toEqual([]);

    const verify = await run(['verify']);
    expect(verify).toMatchObject({ code: 0 });
    expect(tempBytes()).toBe(0);

    const again = await run(['save', '-o', archive, 'localhost/big:1']);
    expect(again).toMatchObject({ code: 0 });
    const entries = JSON.parse(execFileSync('tar', ['-xOf', archive, 'manifest.json'], { encoding: 'utf8' })) as { Layers: string[] }[];
    expect(entries[0]?.Layers).toHaveLength(2);
    for (const layer of entries[0]?.Layers ?? []) expect(entryHead(archive, layer)).toEqual(GZIP_MAGIC);
    expect((JSON.parse(skopeo('inspect', `docker-archive:${archive}`)) as { Layers: string[] }).Layers).toHaveLength(2);
    expect(await run(['verify'])).toMatchObject({ code: 0 });
  });
});
