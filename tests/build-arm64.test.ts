import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// linux/arm64 builds on this x86-64 machine: RUN goes through qemu-aarch64 (binfmt_misc, F flag).
describe('strata build --platform linux/arm64', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:arm64';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-arm64-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'arm64'), base);
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(
      join(context, 'Dockerfile'),
      [
        `FROM ${base}`,
        'ARG TARGETPLATFORM',
        'ARG TARGETARCH',
        'ARG TARGETVARIANT',
        'ARG BUILDARCH',
        'RUN uname -m > /arch && echo "$TARGETPLATFORM $TARGETARCH $TARGETVARIANT $BUILDARCH" > /target',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs RUN under emulation and records arm64/v8', async () => {
    const result = await build({ store, context, platform: 'linux/arm64', tags: ['localhost/test/arm:1'] });
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${store.root}:localhost/test/arm:1`], { encoding: 'utf8' })) as {
      architecture: string;
      variant?: string;
    };
    expect(config.architecture).toBe('arm64');
    expect(config.variant).toBe('v8');
    const overridden = JSON.parse(
      execFileSync('skopeo', ['--override-arch', 'arm64', 'inspect', `oci:${store.root}:localhost/test/arm:1`], { encoding: 'utf8' }),
    ) as { Architecture: string; Digest: string };
    expect(overridden.Architecture).toBe('arm64');
    expect(overridden.Digest).toBe(result.manifestDigest);
    const rootfs = join(dir, 'rootfs');
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:localhost/test/arm:1`, rootfs], { stdio: 'pipe' });
    expect(readFileSync(join(rootfs, 'arch'), 'utf8')).toBe('aarch64\n');
    // BuildKit's values: arm64/v8 normalizes to arm64 with no variant in the build args
    expect(readFileSync(join(rootfs, 'target'), 'utf8')).toBe('linux/arm64 arm64  amd64\n');
  });

  it('refuses an amd64 base for an arm64 build, naming both platforms', async () => {
    await loadTestImage(store, testImage('busybox', 'amd64'), 'localhost/test/busybox:amd64');
    writeFileSync(join(context, 'Dockerfile.amd64'), 'FROM localhost/test/busybox:amd64\nRUN true\n');
    await expect(build({ store, context, dockerfile: join(context, 'Dockerfile.amd64'), platform: 'linux/arm64' })).rejects.toMatchObject({
      code: 'BUILD_PLATFORM_MISMATCH',
      message: expect.stringContaining('linux/amd64, not linux/arm64'),
    });
  });

  it('without qemu registered, fails with the command that fixes it', async () => {
    const emptyBinfmt = join(dir, 'binfmt');
    mkdirSync(emptyBinfmt);
    writeFileSync(join(context, 'Dockerfile.other'), `FROM ${base}\nRUN echo not cached > /x\n`);
    await expect(
      build({ store, context, dockerfile: join(context, 'Dockerfile.other'), platform: 'linux/arm64', binfmtDir: emptyBinfmt }),
    ).rejects.toMatchObject({
      code: 'BUILD_EMULATION_MISSING',
      message: expect.stringContaining('qemu-aarch64 is not registered'),
      hint: expect.stringContaining('update-binfmts --enable'),
    });
  });
});
