// The local image verbs as a docker user runs them (in-process, STRATA_ROOT on
// /dev/shm), with skopeo as the oracle for what strata reads and writes:
// load, images, inspect, tag, rmi, save (docker and OCI), import.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store, verifyStore } from '@strata/cache';
import { main } from '@strata/cli';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { testImage } from './support/test-images.js';

jest.setTimeout(120_000);

function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo ${args.join(' ')} failed (${String(r.status)}): ${r.stderr}`);
  return r.stdout;
}

interface SkopeoInspect {
  Digest: string;
  Architecture: string;
  Os: string;
  Layers: string[];
}

describe('strata images, inspect, tag, rmi, save, load, import', () => {
  const busybox = testImage('busybox', 'amd64');
  let work: string;
  let env: NodeJS.ProcessEnv;

  async function strata(args: string[], root?: string): Promise<{ code: number; out: string; err: string }> {
    const io = memoryIo({ env: root === undefined ? env : { STRATA_ROOT: root }, cwd: work });
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  }

  beforeEach(() => {
    work = mkdtempSync('/dev/shm/strata-verbs-');
    env = { STRATA_ROOT: join(work, 'store') };
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('loads the busybox OCI archive; images and inspect agree with skopeo', async () => {
    const loaded = await strata(['load', '-i', busybox.archive, '--name', 'busybox']);
    expect(loaded).toMatchObject({ code: 0, out: 'Loaded image: busybox:latest\n' });

    const images = await strata(['images']);
    expect(images.code).toBe(0);
    const lines = images.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s{3,}TAG\s{3,}IMAGE ID\s{3,}CREATED\s{3,}SIZE$/);
    expect(lines[1]).toMatch(new RegExp(`^busybox\\s+latest\\s+${busybox.configDigest.slice(7, 19)}\\s+\\d+ (years|months) ago\\s+1\\.1MB$`));

    const json = await strata(['images', '--format', 'json']);
    expect(JSON.parse(json.out)).toMatchObject({ Repository: 'busybox', Tag: 'latest', ID: busybox.configDigest.slice(7, 19), Digest: busybox.manifestDigest });
    expect((await strata(['images', '-q'])).out).toBe(`${busybox.configDigest.slice(7, 19)}\n`);
    expect((await strata(['images', '--digests'])).out).toContain(busybox.manifestDigest);

    const oracle = JSON.parse(skopeo(['inspect', `oci-archive:${busybox.archive}`])) as SkopeoInspect;
    const oracleConfig = JSON.parse(skopeo(['inspect', '--config', `oci-archive:${busybox.archive}`])) as { rootfs: { diff_ids: string[] } };
    const inspect = await strata(['inspect', 'busybox']);
    expect(inspect.code).toBe(0);
    const [info] = JSON.parse(inspect.out) as Record<string, unknown>[];
    expect(info).toMatchObject({
      Id: busybox.configDigest,
      RepoTags: ['busybox:latest'],
      RepoDigests: [],
      Parent: '',
      Architecture: oracle.Architecture,
      Os: oracle.Os,
      RootFS: { Type: 'layers', Layers: oracleConfig.rootfs.diff_ids },
      Descriptor: { digest: oracle.Digest },
      Config: { Env: expect.any(Array) as unknown },
    });
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `oci-archive:${busybox.archive}`])) as { layers: { digest: string; size: number }[] };
    expect(manifest.layers.map((l) => l.digest)).toEqual(oracle.Layers);
    expect(info?.Size).toBe(manifest.layers.reduce((n, l) => n + l.size, 0));

    expect((await strata(['inspect', '--format', '{{.Architecture}}/{{.Os}} {{json .RootFS.Layers}}', 'busybox'])).out)
      .toBe(`amd64/linux ${JSON.stringify(oracleConfig.rootfs.diff_ids)}\n`);
    // by image ID, and through `strata image inspect`
    const byId = await strata(['image', 'inspect', '-f', '{{.Id}}', busybox.configDigest.slice(7, 19)]);
    expect(byId).toMatchObject({ code: 0, out: `${busybox.configDigest}\n` });
    const missing = await strata(['inspect', 'nothing:here']);
    expect(missing).toMatchObject({ code: 1, out: '[]\n', err: 'Error: No such image: nothing:here\n' });
  });

  it('tags and untags like docker', async () => {
    await strata(['load', '-i', busybox.layout, '--name', 'busybox:1.35']);
    expect(await strata(['tag', 'busybox:1.35', 'registry.example:5000/tools/bb:v1'])).toMatchObject({ code: 0, out: '' });
    const list = (await strata(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).out.trimEnd().split('\n').sort();
    const id = busybox.configDigest.slice(7, 19);
    expect(list).toEqual([`busybox:1.35 ${id}`, `registry.example:5000/tools/bb:v1 ${id}`]);

    const inspect = JSON.parse((await strata(['inspect', 'registry.example:5000/tools/bb:v1'])).out) as { RepoTags: string[] }[];
    expect(inspect[0]?.RepoTags.sort()).toEqual(['busybox:1.35', 'registry.example:5000/tools/bb:v1']);

    // an ID with two names needs --force
    const conflict = await strata(['rmi', id]);
    expect(conflict.code).toBe(1);
    expect(conflict.err).toContain('must be forced');
    expect(await strata(['rmi', 'registry.example:5000/tools/bb:v1'])).toMatchObject({ code: 0, out: 'Untagged: registry.example:5000/tools/bb:v1\n' });
    expect(await strata(['rmi', 'nothing'])).toMatchObject({ code: 1, err: 'Error: No such image: nothing\n' });
    expect(await strata(['rmi', '-f', id])).toMatchObject({ code: 0, out: 'Untagged: busybox:1.35\n' });
    expect((await strata(['images', '-q'])).out).toBe('');
    expect(await strata(['tag', 'busybox:1.35', 'x'])).toMatchObject({ code: 1 });
    const store = await Store.open(join(work, 'store'));
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('saves a docker-archive that skopeo reads and that loads back with the same image ID', async () => {
    await strata(['load', '-i', busybox.archive, '--name', 'busybox']);
    const file = join(work, 'busybox-docker.tar');
    expect(await strata(['save', '-o', file, 'busybox'])).toMatchObject({ code: 0, out: '' });
    const oracle = JSON.parse(skopeo(['inspect', `docker-archive:${file}`])) as SkopeoInspect & { RepoTags: string[] };
    const config = JSON.parse(skopeo(['inspect', '--config', `docker-archive:${file}`])) as { rootfs: { diff_ids: string[] }; architecture: string };
    expect(oracle.Architecture).toBe('amd64');
    expect(config.rootfs.diff_ids).toEqual([(busybox as unknown as { diffId: string }).diffId]);
    // a docker-archive's layers are the uncompressed tars: their digests are the diff IDs
    expect(oracle.Layers).toEqual(config.rootfs.diff_ids);
    const configBytes = skopeo(['inspect', '--config', '--raw', `docker-archive:${file}`]);
    expect(`sha256:${createHash('sha256').update(configBytes).digest('hex')}`).toBe(busybox.configDigest);

    const fresh = join(work, 'fresh');
    expect(await strata(['load', '-i', file], fresh)).toMatchObject({ code: 0, out: 'Loaded image: busybox:latest\n' });
    expect((await strata(['images', '-q', '--no-trunc'], fresh)).out).toBe(`${busybox.configDigest}\n`);
    expect((await verifyStore(await Store.open(fresh))).ok).toBe(true);
  });

  it('saves an OCI archive that skopeo reads with the same manifest digest', async () => {
    await strata(['load', '-i', busybox.archive, '--name', 'busybox']);
    const file = join(work, 'busybox-oci.tar');
    expect(await strata(['save', '--format', 'oci', '-o', file, 'busybox'])).toMatchObject({ code: 0 });
    const oracle = JSON.parse(skopeo(['inspect', `oci-archive:${file}`])) as SkopeoInspect;
    expect(oracle.Digest).toBe(busybox.manifestDigest);
    expect(oracle.Architecture).toBe('amd64');
    expect(readdirSync(work).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(await strata(['save', '--format', 'tar', '-o', file, 'busybox'])).toMatchObject({ code: 2 });
    expect(await strata(['save', '-o', file, 'nothing'])).toMatchObject({ code: 1 });
  });

  it('loads a docker-archive that skopeo wrote', async () => {
    const file = join(work, 'from-skopeo.tar');
    skopeo(['copy', `oci:${busybox.layout}:latest`, `docker-archive:${file}:example.com/tools/busybox:skopeo`]);
    expect(await strata(['load', '-i', file])).toMatchObject({ code: 0, out: 'Loaded image: example.com/tools/busybox:skopeo\n' });
    const [info] = JSON.parse((await strata(['inspect', 'example.com/tools/busybox:skopeo'])).out) as { Id: string; RootFS: { Layers: string[] } }[];
    expect(info?.Id).toBe(busybox.configDigest);
    expect(info?.RootFS.Layers).toEqual([(busybox as unknown as { diffId: string }).diffId]);
  });

  it('round-trips a bigger image (layers streamed, not held in memory) through a docker-archive', async () => {
    const debian = testImage('debian', 'arm64');
    expect(await strata(['load', '-i', debian.layout, '--name', 'debian:bookworm'])).toMatchObject({ code: 0 });
    const file = join(work, 'debian.tar');
    expect(await strata(['save', '-o', file, 'debian:bookworm'])).toMatchObject({ code: 0 });
    const oracle = JSON.parse(skopeo(['inspect', `docker-archive:${file}`])) as SkopeoInspect;
    const config = JSON.parse(skopeo(['inspect', '--config', `oci:${debian.layout}:latest`])) as { rootfs: { diff_ids: string[] } };
    expect(oracle.Architecture).toBe('arm64');
    expect(oracle.Layers).toEqual(config.rootfs.diff_ids);
    const fresh = join(work, 'fresh');
    expect(await strata(['load', '-i', file], fresh)).toMatchObject({ code: 0, out: 'Loaded image: debian:bookworm\n' });
    expect((await strata(['inspect', '-f', '{{.Id}} {{json .RootFS.Layers}}', 'debian:bookworm'], fresh)).out)
      .toBe(`${debian.configDigest} ${JSON.stringify(config.rootfs.diff_ids)}\n`);
    expect((await verifyStore(await Store.open(fresh))).ok).toBe(true);
  });

  it('imports a rootfs tar as a one-layer image for the given platform', async () => {
    const rootfs = readFileSync(busybox.rootfs);
    const imported = await strata(['import', '--platform', 'linux/arm64', '-c', 'CMD ["sh"]', '-c', 'ENV PATH=/bin', busybox.rootfs, 'mini:1']);
    expect(imported.code).toBe(0);
    expect(imported.out).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const [info] = JSON.parse((await strata(['inspect', 'mini:1'])).out) as Record<string, unknown>[];
    expect(info).toMatchObject({
      Id: imported.out.trim(),
      Architecture: 'arm64',
      Os: 'linux',
      Comment: 'Imported from -',
      Config: { Cmd: ['sh'], Env: ['PATH=/bin'] },
      RootFS: { Type: 'layers', Layers: [`sha256:${createHash('sha256').update(rootfs).digest('hex')}`] },
    });
    expect(await strata(['import', '-c', 'RUN true', busybox.rootfs])).toMatchObject({ code: 2 });
    expect(await strata(['import', join(work, 'absent.tar'), '-t', 'x'])).toMatchObject({ code: 1 });
  });
});
