// strata build --output type=oci|docker,dest=FILE[,compression=zstd] and --push,
// run as a user runs them (bin/strata of this checkout), read back with skopeo
// and umoci; pushes go to the reference registry with basic auth after
// `strata login`, as `strata push` does.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { conversionKey, MediaType, Store, type Digest } from '@strata/cache';
import { runStrata, type StrataRun } from './support/cli-json.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadMultiArchBusybox } from './support/test-images.js';

const user = { name: 'builder', password: 'push-s3cret' };

describe('strata build --output and --push', () => {
  let dir: string;
  let context: string;
  let env: NodeJS.ProcessEnv;
  let store: Store;
  let registry: TestRegistry;

  const strata = (args: string[], stdin?: string): Promise<StrataRun> => runStrata(args, { env, cwd: dir, ...(stdin === undefined ? {} : { stdin }) });

  const skopeo = (...args: string[]): string => execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const sha256 = (bytes: Buffer | string): string => `sha256:${execFileSync('sha256sum', { input: bytes }).toString().split(' ')[0]}`;
  const storeDigest = async (ref: string): Promise<string> => (await store.resolve(ref)).digest;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-output-');
    env = { PATH: process.env.PATH, HOME: dir, DOCKER_CONFIG: join(dir, 'docker'), STRATA_ROOT: join(dir, 'store') };
    store = await Store.open(join(dir, 'store'));
    await loadMultiArchBusybox(store);
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'hello.txt'), 'hello from the context\n');
    writeFileSync(join(context, 'Dockerfile'), 'FROM localhost/test/busybox:multi\nCOPY hello.txt /hello.txt\nRUN uname -m > /arch\nCMD ["cat", "/hello.txt"]\n');
    registry = await startRegistry({ auth: 'basic', users: [user] });
  });
  afterAll(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes an OCI archive that skopeo and umoci open, with the tagged image (gzip layers, the same config)', async () => {
    const r = await strata(['build', '--progress=plain', '-t', 'localhost/out/app:1', '--output', 'type=oci,dest=app-oci.tar', 'ctx']);
    expect(r).toMatchObject({ code: 0 });
    expect(r.err).toMatch(/exporting to type=oci,dest=\/.*app-oci\.tar/);
    const file = join(dir, 'app-oci.tar');
    const inspect = JSON.parse(skopeo('inspect', `oci-archive:${file}:1`)) as { Digest: string; Architecture: string; Layers: string[] };
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Layers).toHaveLength(3);
    // the archive holds the export form: the built layers gzip; the store keeps them uncompressed, with the same config
    const archived = JSON.parse(skopeo('inspect', '--raw', `oci-archive:${file}:1`)) as { config: { digest: string }; layers: { mediaType: string }[] };
    expect(archived.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    const stored = await store.readManifest((await store.resolve('localhost/out/app:1')).digest);
    expect(stored.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayer, MediaType.ociLayer]);
    expect(archived.config.digest).toBe(stored.config.digest);
    expect(inspect.Digest).not.toBe(await storeDigest('localhost/out/app:1'));
    // umoci reads the layout inside the archive and unpacks the root filesystem
    const layout = join(dir, 'oci-layout');
    mkdirSync(layout);
    execFileSync('tar', ['-xf', file, '-C', layout]);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${layout}:1`, join(dir, 'oci-rootfs')], { stdio: 'pipe' });
    expect(readFileSync(join(dir, 'oci-rootfs', 'hello.txt'), 'utf8')).toBe('hello from the context\n');
    expect(readFileSync(join(dir, 'oci-rootfs', 'arch'), 'utf8')).toBe('x86_64\n');
  });

  it('writes a docker-archive that skopeo opens, with the same config (image ID) and tag', async () => {
    const r = await strata(['build', '-q', '-t', 'localhost/out/app:1', '-o', 'type=docker,dest=app-docker.tar', 'ctx']);
    expect(r.code).toBe(0);
    const imageId = r.out.trim();
    const file = join(dir, 'app-docker.tar');
    const rawConfig = execFileSync('skopeo', ['inspect', '--raw', '--config', `docker-archive:${file}`]);
    expect(sha256(rawConfig)).toBe(imageId);
    const inspect = JSON.parse(skopeo('inspect', `docker-archive:${file}`)) as { RepoTags: string[]; Layers: string[]; Architecture: string };
    expect(inspect.Architecture).toBe('amd64');
    expect(inspect.Layers).toHaveLength(3);
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', file, 'manifest.json'], { encoding: 'utf8' })) as { RepoTags: string[]; Layers: string[] }[];
    expect(manifest[0]?.RepoTags).toEqual(['localhost/out/app:1']);
    // its layer files are gzip (docker load and skopeo read them)
    for (const layer of manifest[0]?.Layers ?? []) {
      expect(execFileSync('sh', ['-c', 'tar -xOf "$1" "$2" | head -c 2', 'sh', file, layer])).toEqual(Buffer.from([0x1f, 0x8b]));
    }
  });

  it('compression=zstd gives every layer of the archive (the base one too) zstd, keeping the image ID; the store is not compressed', async () => {
    const imageId = (await strata(['build', '-q', '-t', 'localhost/out/app:1', 'ctx'])).out.trim();
    const r = await strata(['build', '-q', '-t', 'localhost/out/app:zstd', '--output', 'type=oci,dest=app-zstd.tar,compression=zstd', 'ctx']);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(imageId);
    const file = join(dir, 'app-zstd.tar');
    const rawText = skopeo('inspect', '--raw', `oci-archive:${file}:zstd`);
    const raw = JSON.parse(rawText) as { config: { digest: string }; layers: { mediaType: string; digest: string }[] };
    expect(raw.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    expect(raw.config.digest).toBe(imageId);
    // the tagged image in the store is the build's (the same manifest as app:1): the output's compression is the output's
    expect(await storeDigest('localhost/out/app:zstd')).toBe(await storeDigest('localhost/out/app:1'));
    // skopeo copies the archive (decompressing zstd) to a directory
    execFileSync('skopeo', ['copy', `oci-archive:${file}:zstd`, `dir:${join(dir, 'zstd-dir')}`], { stdio: 'pipe' });
    // a second zstd output converts nothing again: the same manifest, no conversion record rewritten, no blob added
    const layers = (await store.readManifest((await store.resolve('localhost/out/app:zstd')).digest)).layers;
    const records = async () => Promise.all(layers.map(async (l) => (await store.getCacheRecord(conversionKey(l.digest, 'zstd')))?.createdAt));
    const before = await records();
    expect(before.every((t) => t !== undefined)).toBe(true);
    const blobs = readdirSync(join(store.root, 'blobs', 'sha256')).length;
    const again = await strata(['build', '-q', '-t', 'localhost/out/app:zstd2', '--output', 'type=oci,dest=app-zstd2.tar,compression=zstd', 'ctx']);
    expect(again.code).toBe(0);
    expect(skopeo('inspect', '--raw', `oci-archive:${join(dir, 'app-zstd2.tar')}:zstd2`)).toBe(rawText);
    expect(await records()).toEqual(before);
    expect(readdirSync(join(store.root, 'blobs', 'sha256')).length).toBe(blobs);
    // a docker-archive of the same image is gzip, whatever an earlier output asked for
    const back = await strata(['build', '-q', '-t', 'localhost/out/app:back', '-o', 'type=docker,dest=app-back.tar', 'ctx']);
    expect(back).toMatchObject({ code: 0, out: r.out });
    expect(JSON.parse(skopeo('inspect', `docker-archive:${join(dir, 'app-back.tar')}`)).Layers).toHaveLength(3);
  });

  it('--push pushes every tag with the credentials of strata login; the registry has the gzip export form', async () => {
    const login = await strata(['login', '-u', user.name, '--password-stdin', registry.host], `${user.password}\n`);
    expect(login.code).toBe(0);
    const tags = [`${registry.host}/team/app:1.0`, `${registry.host}/team/app:latest`];
    const r = await strata(['build', '--progress=plain', '--platform', 'linux/amd64', '-t', tags[0] as string, '-t', tags[1] as string, '--push', 'ctx']);
    expect(r).toMatchObject({ code: 0 });
    expect(r.err).toMatch(/: Pushed\n/);
    const local = await storeDigest(tags[0] as string);
    const digest = /pushed \S+ (sha256:[0-9a-f]{64})/.exec(r.err)?.[1];
    expect(digest).not.toBe(local);
    for (const tag of tags) {
      expect(r.err).toContain(`pushed ${tag} ${digest}`);
      const creds = ['--tls-verify=false', '--creds', `${user.name}:${user.password}`];
      const inspect = JSON.parse(skopeo('inspect', ...creds, `docker://${tag}`)) as { Digest: string };
      expect(inspect.Digest).toBe(digest);
      const raw = JSON.parse(skopeo('inspect', '--raw', ...creds, `docker://${tag}`)) as { layers: { mediaType: string }[] };
      expect(raw.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayerGzip, MediaType.ociLayerGzip, MediaType.ociLayerGzip]);
    }
    // RepoDigests of the stored image name what the registry has
    expect(await store.repoDigests(local as Digest)).toEqual([`${registry.host}/team/app@${digest}`]);
  });

  it('--platform linux/amd64,linux/arm64 --push pushes the index and both images', async () => {
    const tag = `${registry.host}/team/multi:1`;
    const r = await strata(['build', '--progress=plain', '--platform', 'linux/amd64,linux/arm64', '-t', tag, '--push', '--output', 'type=oci,dest=multi.tar', 'ctx']);
    expect(r).toMatchObject({ code: 0 });
    const creds = ['--tls-verify=false', '--creds', `${user.name}:${user.password}`];
    const rawText = skopeo('inspect', '--raw', ...creds, `docker://${tag}`);
    // the export form of the stored index: new child manifests with gzip layers, the same configs
    expect(sha256(rawText)).not.toBe(await storeDigest(tag));
    expect(r.err).toContain(`pushed ${tag} ${sha256(rawText)}`);
    const raw = JSON.parse(rawText) as { mediaType: string; manifests: { platform: { architecture: string } }[] };
    expect(raw.mediaType).toBe(MediaType.ociIndex);
    expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const arm = JSON.parse(skopeo('--override-arch', 'arm64', 'inspect', ...creds, `docker://${tag}`)) as { Architecture: string };
    expect(arm.Architecture).toBe('arm64');
    // the OCI archive of the same build holds the same export form of the index
    expect(sha256(skopeo('inspect', '--raw', `oci-archive:${join(dir, 'multi.tar')}:1`))).toBe(sha256(rawText));
  });

  it('refuses outputs it cannot write before building anything', async () => {
    const noTag = await strata(['build', '--push', 'ctx']);
    expect(noTag.code).toBe(1);
    expect(noTag.err).toContain('BUILD_OUTPUT_INVALID');
    expect(noTag.err).toContain('-t REGISTRY/NAME:TAG');

    const zstdDocker = await strata(['build', '-o', 'type=docker,dest=x.tar,compression=zstd', 'ctx']);
    expect(zstdDocker.code).toBe(2);
    expect(zstdDocker.err).toContain('a docker-archive holds gzip layers');

    const unknown = await strata(['build', '-o', 'type=local,dest=out', 'ctx']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown type 'local'");

    const noFolder = await strata(['build', '-o', 'type=oci,dest=missing/dir/app.tar', 'ctx']);
    expect(noFolder.code).toBe(1);
    expect(noFolder.err).toContain(`the folder ${join(dir, 'missing', 'dir')} does not exist`);

    const multiDocker = await strata(['build', '--platform', 'linux/amd64,linux/arm64', '-o', 'type=docker,dest=multi-docker.tar', 'ctx']);
    expect(multiDocker.code).toBe(1);
    expect(multiDocker.err).toContain('use type=oci for a multi-platform build');
    expect(multiDocker.err).not.toContain('#1 ');
    expect(existsSync(join(dir, 'multi-docker.tar'))).toBe(false);
  });
});
