// The offline test base images made by scripts/test-images, read back with the
// oracles (skopeo, umoci) and run (chroot, through qemu for arm64).
//
// These tests read the cache the script wrote (STRATA_TEST_IMAGES, default
// /var/cache/strata/test-images); CI runs `scripts/test-images` before jest. The
// script itself is also run here, into a scratch folder on /dev/shm, to check that
// it is reproducible and that a second run is instant. Needs root (chroot) and
// qemu-user-static registered with binfmt_misc (flag F) for the arm64 images.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { cp, lstat, mkdtemp, readFile, readlink, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

const repo = join(__dirname, '..');
const script = join(repo, 'scripts', 'test-images');
const cacheDir = process.env.STRATA_TEST_IMAGES ?? '/var/cache/strata/test-images';
const RUN_HINT = `run scripts/test-images as root first (it writes ${cacheDir}/images.json)`;

interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

interface ImageEntry {
  name: string;
  image: string;
  platform: Platform;
  ref: string;
  layout: string;
  archive: string;
  rootfs: string;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  diffId: string;
  sourceDateEpoch: number;
  key: string;
}

interface ImagesFile {
  version: number;
  dir: string;
  images: ImageEntry[];
}

/** What each required image must be. */
const REQUIRED: { image: string; platform: Platform; cmd: string[]; uname: string }[] = [
  { image: 'busybox-amd64', platform: { os: 'linux', architecture: 'amd64' }, cmd: ['sh'], uname: 'x86_64' },
  { image: 'busybox-arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, cmd: ['sh'], uname: 'aarch64' },
  { image: 'debian-arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, cmd: ['bash'], uname: 'aarch64' },
];

async function run(file: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const { stdout } = await execFileAsync(file, args, { maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env });
  return stdout;
}

async function loadImages(): Promise<ImagesFile> {
  const path = join(cacheDir, 'images.json');
  if (!existsSync(path)) throw new Error(`${path} is missing: ${RUN_HINT}`);
  return JSON.parse(await readFile(path, 'utf8')) as ImagesFile;
}

async function entryFor(image: string): Promise<ImageEntry> {
  const entry = (await loadImages()).images.find((candidate) => candidate.image === image);
  if (!entry) {
    throw new Error(`${image} is not in ${cacheDir}/images.json: ${RUN_HINT} (without --skip-debian / --only)`);
  }
  return entry;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Scratch space for unpacking and chrooting: /dev/shm unless it is mounted noexec
 * or has under 1 GiB free (as in many containers), then the OS temp dir.
 */
async function scratchBase(): Promise<string> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const shm = mounts
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields[1] === '/dev/shm')
    .pop();
  if (shm && !(shm[3] ?? '').split(',').includes('noexec')) {
    const { bavail, bsize } = await statfs('/dev/shm');
    if (bavail * bsize >= 1024 ** 3) return '/dev/shm';
  }
  return tmpdir();
}

async function withScratch<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(await scratchBase(), `strata-${prefix}-`));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('scripts/test-images cache', () => {
  it('has images.json listing every required image', async () => {
    const images = await loadImages();
    expect(images.version).toBeGreaterThanOrEqual(1);
    expect(images.images.map((entry) => entry.image)).toEqual(
      expect.arrayContaining(REQUIRED.map((required) => required.image)),
    );
    for (const entry of images.images) {
      expect(entry.manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(entry.configDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
      for (const path of [entry.layout, entry.archive, entry.rootfs]) expect(existsSync(path)).toBe(true);
    }
  });
});

describe.each(REQUIRED)('test image $image', ({ image, platform, cmd, uname }) => {
  it('is read by skopeo from its OCI layout with the right platform and digests', async () => {
    const entry = await entryFor(image);
    expect(entry.platform).toEqual(platform);

    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci:${entry.layout}:latest`])) as {
      Digest: string;
      Architecture: string;
      Os: string;
      Layers: string[];
    };
    expect(inspect).toMatchObject({ Digest: entry.manifestDigest, Architecture: platform.architecture, Os: 'linux' });
    expect(inspect.Layers).toEqual([entry.layerDigest]);

    const rawConfig = await run('skopeo', ['inspect', '--raw', '--config', `oci:${entry.layout}:latest`]);
    expect(`sha256:${createHash('sha256').update(rawConfig).digest('hex')}`).toBe(entry.configDigest);
    const config = JSON.parse(rawConfig) as {
      architecture: string;
      os: string;
      variant?: string;
      config: { Env: string[]; Cmd: string[] };
      rootfs: { type: string; diff_ids: string[] };
      history: unknown[];
    };
    expect(config.architecture).toBe(platform.architecture);
    expect(config.os).toBe('linux');
    expect(config.variant).toBe(platform.variant);
    expect(config.config.Cmd).toEqual(cmd);
    expect(config.config.Env).toContainEqual(expect.stringMatching(/^PATH=.*(^|:|=)\/bin(:|$)/));
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: [entry.diffId] });
    expect(config.history).toHaveLength(1);

    const index = JSON.parse(await readFile(join(entry.layout, 'index.json'), 'utf8')) as {
      manifests: { digest: string; platform: Platform; annotations: Record<string, string> }[];
    };
    expect(index.manifests).toHaveLength(1);
    expect(index.manifests[0]).toMatchObject({
      digest: entry.manifestDigest,
      platform,
      annotations: { 'org.opencontainers.image.ref.name': 'latest' },
    });
  }, 60_000);

  it('is read by skopeo from its OCI archive', async () => {
    const entry = await entryFor(image);
    const inspect = JSON.parse(await run('skopeo', ['inspect', `oci-archive:${entry.archive}`])) as {
      Digest: string;
      Architecture: string;
    };
    expect(inspect).toMatchObject({ Digest: entry.manifestDigest, Architecture: platform.architecture });
  }, 60_000);

  it('has a rootfs tar that is its layer, uncompressed (diffId)', async () => {
    const entry = await entryFor(image);
    expect(await sha256File(entry.rootfs)).toBe(entry.diffId);
    expect(await sha256File(join(entry.layout, 'blobs', 'sha256', entry.layerDigest.slice('sha256:'.length)))).toBe(
      entry.layerDigest,
    );
  }, 60_000);

  it(`unpacks with umoci and runs its own uname -m (${uname})`, async () => {
    const entry = await entryFor(image);
    await withScratch('umoci', async (dir) => {
      const root = join(dir, 'rootfs');
      await run('umoci', ['raw', 'unpack', '--image', `${entry.layout}:latest`, root]);
      const busybox = image.startsWith('busybox');
      const unameBin = busybox ? '/bin/busybox' : '/usr/bin/uname';
      const unameArgs = busybox ? ['uname', '-m'] : ['-m'];
      expect((await run('chroot', [root, unameBin, ...unameArgs])).trim()).toBe(uname);
      expect((await run('chroot', [root, cmd[0] === 'bash' ? '/bin/bash' : '/bin/sh', '-c', 'echo ok'])).trim()).toBe(
        'ok',
      );
      expect(existsSync(join(root, 'etc', 'hostname'))).toBe(false);
      expect(((await stat(join(root, 'tmp'))).mode & 0o7777).toString(8)).toBe('1777');
    });
  }, 120_000);
});

describe.each(['busybox-amd64', 'busybox-arm64'])('busybox test image %s', (image) => {
  it('has relative applet links, users for --chown by name, and no host paths', async () => {
    const entry = await entryFor(image);
    await withScratch('umoci', async (dir) => {
      const root = join(dir, 'rootfs');
      await run('umoci', ['raw', 'unpack', '--image', `${entry.layout}:latest`, root]);

      expect((await lstat(join(root, 'bin', 'busybox'))).isFile()).toBe(true);
      for (const applet of ['sh', 'ls', 'uname', 'id', 'chown']) {
        expect((await lstat(join(root, 'bin', applet))).isSymbolicLink()).toBe(true);
        expect(await readlink(join(root, 'bin', applet))).toBe('busybox');
      }

      const passwd = await readFile(join(root, 'etc', 'passwd'), 'utf8');
      expect(passwd.split('\n')).toEqual(
        expect.arrayContaining([
          'root:x:0:0:root:/root:/bin/sh',
          expect.stringMatching(/^nobody:x:65534:65534:/),
          'user:x:1000:1000:user:/home/user:/bin/sh',
        ]),
      );
      const group = await readFile(join(root, 'etc', 'group'), 'utf8');
      expect(group.split('\n')).toEqual(expect.arrayContaining(['root:x:0:', 'nobody:x:65534:', 'user:x:1000:']));
      // The image's own tools resolve the names.
      expect((await run('chroot', [root, '/bin/id', '-u', 'user'])).trim()).toBe('1000');
      expect((await run('chroot', [root, '/bin/id', '-gn', 'user'])).trim()).toBe('user');

      const home = await stat(join(root, 'home', 'user'));
      expect([home.uid, home.gid]).toEqual([1000, 1000]);
      expect(((await stat(join(root, 'root'))).mode & 0o777).toString(8)).toBe('700');
    });
  }, 120_000);
});

describe('scripts/test-images', () => {
  const busybox = REQUIRED.find((required) => required.image === 'busybox-amd64')!;

  it('refuses to run when not root', async () => {
    await expect(
      run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', script, '--dir', '/dev/shm/strata-never']),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('run as root') });
    expect(existsSync('/dev/shm/strata-never')).toBe(false);
  });

  it('rejects unknown images and flags', async () => {
    await expect(run(script, ['--only', 'alpine', '--dir', '/dev/shm/strata-never'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining("unknown image 'alpine'"),
    });
    await expect(run(script, ['--frobnicate'])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown argument: --frobnicate'),
    });
  });

  it('rebuilds busybox-amd64 bit for bit in a fresh folder, and a second run is up to date at once', async () => {
    const cached = await entryFor(busybox.image);
    await withScratch('test-images', async (dir) => {
      // Reuse the downloaded .debs so this stays offline.
      await cp(join(cacheDir, 'debs'), join(dir, 'debs'), { recursive: true });
      const env = { ...process.env, SOURCE_DATE_EPOCH: String(cached.sourceDateEpoch) };
      const first = await run(script, ['--only', busybox.image, '--dir', dir], { env });
      expect(first).toContain(`${busybox.image}: wrote ${dir}/${busybox.image}`);
      expect(first).not.toContain('downloading');

      const fresh = JSON.parse(await readFile(join(dir, 'images.json'), 'utf8')) as ImagesFile;
      const rebuilt = fresh.images.find((entry) => entry.image === busybox.image);
      expect(rebuilt?.key).toBe(cached.key);
      expect(rebuilt?.diffId).toBe(cached.diffId);
      expect(rebuilt?.manifestDigest).toBe(cached.manifestDigest);
      // The archive and the rootfs tar are byte for byte the same as well.
      expect(await sha256File(join(dir, `${busybox.image}.oci.tar`))).toBe(await sha256File(cached.archive));
      expect(await sha256File(join(dir, `${busybox.image}.rootfs.tar`))).toBe(await sha256File(cached.rootfs));

      // speed is not asserted here (bench/ measures); an up-to-date run writes nothing
      const second = await run(script, ['--only', busybox.image, '--dir', dir], { env });
      expect(second).toContain(`${busybox.image}: up to date`);
      expect(second).toContain('up to date:');
      expect(second).not.toContain('wrote');
    });
  }, 120_000);
});
