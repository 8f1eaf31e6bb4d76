// The errors a user meets on `strata pull`, run as a user runs it: each names
// the cause and the fix, exits 1, and leaves nothing half-written or tagged
// in the store. (401 with the login command and "no image for the platform"
// with the index's platforms are in registry-cli.test.ts; an unresolvable
// host, which needs DNS, in packages/registry/test/transport.test.ts.)
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store, verifyStore } from '@strata/cache';
import { main } from '@strata/cli';
import { parseReference, RegistryClient } from '@strata/registry';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { makeImage, pushTestImage } from '../packages/registry/test/support/images.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startRegistry, type TestRegistry } from './support/registry.js';

jest.setTimeout(120_000);

describe('strata pull errors', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let work: string;
  // about 2.5 MB of incompressible layers
  const image = makeImage({ layerSizes: [1_500_000, 1_000_000] });

  async function strata(args: string[], root: string): Promise<{ code: number; out: string; err: string }> {
    const io = memoryIo({ env: { STRATA_ROOT: root, HOME: work, DOCKER_CONFIG: join(work, 'docker') }, cwd: work });
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  }

  /** Nothing tagged, no temp file left, and every stored blob whole. */
  async function expectUntouched(root: string): Promise<void> {
    const store = await Store.open(root);
    expect(await store.images()).toEqual([]);
    expect(readdirSync(store.paths.tmp)).toEqual([]);
    expect((await verifyStore(store)).ok).toBe(true);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ target: registry.url });
    work = mkdtempSync('/dev/shm/strata-registry-errors-');
    await pushTestImage(new RegistryClient({ credentials: async () => undefined }), parseReference(`${registry.host}/lib/img:1`), image);
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a tag the registry does not have: REGISTRY_MANIFEST_UNKNOWN naming the reference', async () => {
    const root = join(work, 'unknown');
    const r = await strata(['pull', `${registry.host}/lib/img:nope`], root);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`REGISTRY_MANIFEST_UNKNOWN: manifest for ${registry.host}/lib/img:nope not found`);
    expect(r.err).toContain('hint: Check the name and tag');
    await expectUntouched(root);
  });

  it('content that never matches its digest: REGISTRY_DIGEST_MISMATCH after retries, nothing stored', async () => {
    const root = join(work, 'corrupt');
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: /\/blobs\/sha256:/ });
    try {
      const r = await strata(['pull', `${proxy.host}/lib/img:1`], root);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/REGISTRY_DIGEST_MISMATCH: blob sha256:[0-9a-f]{64} from .* does not match its digest/);
      expect(r.err).toContain('hint: The registry or something between it and strata altered the content; nothing was stored.');
    } finally {
      proxy.clearFaults();
    }
    const store = await Store.open(root);
    for (const layer of image.layers) expect(await store.statBlob(layer.descriptor.digest as never)).toBeUndefined();
    await expectUntouched(root);
    // the same pull without the fault works
    expect((await strata(['pull', `${proxy.host}/lib/img:1`], root)).code).toBe(0);
  });

  it('a full disk: CACHE_DISK_FULL naming the store and strata prune, nothing half-written', async () => {
    const mount = join(work, 'small');
    mkdirSync(mount);
    // a 1 MiB filesystem: the store opens, the first big layer does not fit
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mount]);
    try {
      const root = join(mount, 'store');
      const r = await strata(['pull', `${registry.host}/lib/img:1`], root);
      expect(r.code).toBe(1);
      expect(r.err).toContain(`CACHE_DISK_FULL: no space left on the device that holds ${join(root, 'blobs', 'sha256')}`);
      expect(r.err).toContain('strata prune');
      await expectUntouched(root);
    } finally {
      execFileSync('umount', [mount]);
    }
  });
});
