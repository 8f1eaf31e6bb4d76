import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { RegistryClient } from '@strata/registry';
import { startRegistry, type TestRegistry } from '../support/registry.js';
import { testImage } from '../support/test-images.js';
import { Buildah, layoutConfig, loadCases, prepareContext, unpack } from './harness.js';
import { comparableConfig, dropKnownPaths } from './known-differences.js';
import { compareManifests, readManifest } from './manifest.js';

// Differential test: every case under cases/ is built by strata and by
// `buildah bud --layers --isolation chroot` from the same busybox base in a
// local registry; the unpacked root filesystems and the config fields must be
// equal, up to the differences listed (with reasons) in known-differences.ts.
describe('strata and Buildah build the same images', () => {
  let dir: string;
  let registry: TestRegistry;
  let store: Store;
  let buildah: Buildah;
  let base: string;
  const client = new RegistryClient({});

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-differential-');
    registry = await startRegistry({ auth: 'none' });
    base = `${registry.host}/differential/busybox:latest`;
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${testImage('busybox', 'amd64').layout}:latest`, `docker://${base}`], { stdio: 'pipe' });
    store = await Store.open(join(dir, 'store'));
    buildah = new Buildah(join(dir, 'buildah'));
  });
  afterAll(async () => {
    await registry?.stop();
    await buildah?.cleanup();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it.each(loadCases().map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const context = prepareContext(c, join(dir, 'contexts', name));
    const buildArgs = { BASE: base, ...c.buildArgs };
    const tag = `localhost/differential/${name}:latest`;
    const target = c.target !== undefined ? { target: c.target } : {};
    await Promise.all([
      build({ store, context, registry: client, tags: [tag], buildArgs, ...target }),
      buildah.bud({ context, tag, buildArgs, ...target }),
    ]);
    const peerLayout = join(dir, 'buildah-oci', name);
    await buildah.pushOci(tag, peerLayout);
    const [ours, theirs] = await Promise.all([unpack(store.root, tag, join(dir, 'rootfs', `${name}-strata`)), unpack(peerLayout, 'latest', join(dir, 'rootfs', `${name}-buildah`))]);
    const ourConfig = await layoutConfig(store.root, tag);
    const [ourTree, theirTree] = dropKnownPaths(name, readManifest(ours), readManifest(theirs), ourConfig.WorkingDir as string | undefined);
    expect(compareManifests(ourTree, theirTree, ['strata', 'buildah'])).toEqual([]);
    expect(comparableConfig(ourConfig, 'strata')).toEqual(comparableConfig(await buildah.config(tag), 'buildah'));
    rmSync(ours, { recursive: true, force: true });
    rmSync(theirs, { recursive: true, force: true });
  }, 300_000); // a case is up to ~30 steps built twice; slow when the machine is shared
});
