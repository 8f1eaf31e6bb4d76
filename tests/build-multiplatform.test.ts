import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, Store } from '@strata/cache';
import { build } from '@strata/builder';
import { main } from '@strata/cli';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadMultiArchBusybox } from './support/test-images.js';

// --platform linux/amd64,linux/arm64: one image per platform, tagged as an OCI index, pushed as one.
describe('multi-platform build', () => {
  let dir: string;
  let store: Store;
  let registry: TestRegistry;
  let context: string;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-multi-');
    store = await Store.open(join(dir, 'store'));
    registry = await startRegistry({ auth: 'none' });
    await loadMultiArchBusybox(store);
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), 'FROM localhost/test/busybox:multi\nARG TARGETARCH\nRUN echo "$TARGETARCH $(uname -m)" > /built-for\n');
  });
  afterAll(async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('tags an index with both platforms, and push sends the index and its images', async () => {
    const result = await build({ store, context, platform: 'linux/amd64,linux/arm64', tags: [`${registry.host}/multi/app:1`] });
    const index = await store.readImageIndex((await store.resolve(`${registry.host}/multi/app:1`)).digest);
    expect(result.imageId).toBe(result.manifestDigest);
    expect(index.manifests.map((m) => `${m.platform?.architecture}/${m.platform?.variant ?? ''}`)).toEqual(['amd64/', 'arm64/v8']);

    const io = memoryIo({ env: { STRATA_ROOT: store.root, HOME: dir } });
    await expect(main(['push', `${registry.host}/multi/app:1`], io)).resolves.toBe(0);
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multi/app:1`], { encoding: 'utf8' })) as {
      mediaType: string;
      manifests: { platform: { architecture: string } }[];
    };
    expect(raw.mediaType).toBe(MediaType.ociIndex);
    expect(raw.manifests.map((m) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    const arm = JSON.parse(
      execFileSync('skopeo', ['--override-arch', 'arm64', 'inspect', '--tls-verify=false', `docker://${registry.host}/multi/app:1`], { encoding: 'utf8' }),
    ) as { Architecture: string; Layers: string[] };
    expect(arm.Architecture).toBe('arm64');
    expect(arm.Layers).toHaveLength(2);

    // each platform's RUN ran on its own architecture
    for (const [arch, machine] of [['amd64', 'x86_64'], ['arm64', 'aarch64']] as const) {
      const rootfs = join(dir, `rootfs-${arch}`);
      execFileSync('skopeo', ['copy', '--override-arch', arch, '--src-tls-verify=false', `docker://${registry.host}/multi/app:1`, `oci:${join(dir, `oci-${arch}`)}:x`], { stdio: 'pipe' });
      execFileSync('umoci', ['raw', 'unpack', '--image', `${join(dir, `oci-${arch}`)}:x`, rootfs], { stdio: 'pipe' });
      expect(execFileSync('cat', [join(rootfs, 'built-for')], { encoding: 'utf8' })).toBe(`${arch} ${machine}\n`);
    }
  });
});
