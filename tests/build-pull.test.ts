import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { RegistryClient } from '@strata/registry';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { testImage } from './support/test-images.js';

// FROM an image the store lacks: pulled from the reference registry on 127.0.0.1.
describe('strata build pulls missing base images', () => {
  let dir: string;
  let registry: TestRegistry;
  let context: string;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-pull-');
    registry = await startRegistry({ auth: 'none' });
    const image = testImage('busybox', 'amd64');
    execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${image.layout}:latest`, `docker://${registry.host}/base/busybox:1`], { stdio: 'pipe' });
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${registry.host}/base/busybox:1\nRUN echo pulled > /proof\n`);
  });
  afterAll(async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pulls the base, then builds on it; without a registry client the error names the fix', async () => {
    const store = await Store.open(join(dir, 'store'));
    await expect(build({ store, context })).rejects.toMatchObject({ code: 'BUILD_IMAGE_NOT_FOUND', hint: expect.stringContaining('strata pull') });
    const client = new RegistryClient({});
    const result = await build({ store, context, registry: client, tags: ['localhost/pulled:1'] });
    const base = await store.resolve(`${registry.host}/base/busybox:1`);
    const manifest = await store.readManifest(base.digest);
    const built = await store.readManifest((await store.resolve('localhost/pulled:1')).digest);
    expect(built.layers.slice(0, manifest.layers.length)).toEqual(manifest.layers);
    expect(built.layers).toHaveLength(manifest.layers.length + 1);
    expect(result.tags).toEqual(['localhost/pulled:1']);
  });
});
