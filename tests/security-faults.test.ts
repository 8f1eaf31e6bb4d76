// Faults a build or pull meets: the disk filling up while a step's layer is
// written (a small tmpfs as STRATA_ROOT), and a registry that drops
// connections, answers 500 and serves a corrupted blob during `strata pull`.
// Each ends in success after retries or in a clear error, with a store that
// verifies clean and still serves the images it had. (Persistent corruption
// and a full disk during a pull are in registry-errors.test.ts; the client's
// retries one by one in packages/registry/test/integration/faults.test.ts.)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { main } from '@strata/cli';
import { parseReference, RegistryClient } from '@strata/registry';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { makeImage, pushTestImage } from '../packages/registry/test/support/images.js';
import { startFaultProxy, type FaultProxy } from './support/fault-proxy.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(180_000);

const base = 'localhost/test/busybox:latest';
let work: string;

async function strata(args: string[], root: string, cwd = work): Promise<{ code: number; out: string; err: string }> {
  const io = memoryIo({ env: { PATH: process.env.PATH ?? '', STRATA_ROOT: root, HOME: work, DOCKER_CONFIG: join(work, 'docker') }, cwd });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

beforeAll(() => {
  work = mkdtempSync('/dev/shm/strata-sec-faults-');
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a full disk while a layer is written', () => {
  const mount = () => join(work, 'small');

  beforeAll(() => {
    mkdirSync(mount());
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', mount()]);
  });
  afterAll(() => {
    execFileSync('umount', ['-l', mount()]);
  });

  it('fails the build with a clear error; the store verifies clean and its images still load', async () => {
    const root = join(mount(), 'store');
    await loadTestImage(await Store.open(root), testImage('busybox', 'amd64'), base);
    const ctx = join(work, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nRUN echo good > /good\n`);
    expect(await strata(['build', '-q', '-t', 'localhost/faults/good:1', ctx], root)).toMatchObject({ code: 0 });
    // the step's files fit in the upper folder; its layer (as many incompressible bytes again) does not
    writeFileSync(join(ctx, 'Dockerfile.big'), `FROM localhost/faults/good:1\nRUN head -c 9000000 /dev/urandom > /big\n`);
    const r = await strata(['build', '--progress=plain', '-f', join(ctx, 'Dockerfile.big'), '-t', 'localhost/faults/big:1', ctx], root);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/CACHE_DISK_FULL: no space left on the device that holds /);
    expect(r.err).toContain('strata prune');
    // nothing half-written: no temp file, the store verifies, the earlier image is whole
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    expect(await strata(['verify'], root)).toMatchObject({ code: 0 });
    const store = await Store.open(root);
    expect((await store.images()).map((i) => i.ref).sort()).toEqual(['localhost/faults/good:1', 'localhost/test/busybox:latest']);
    const rootfs = join(work, 'good-rootfs');
    execFileSync('umoci', ['raw', 'unpack', '--image', `${root}:localhost/faults/good:1`, rootfs], { stdio: 'pipe' });
    expect(readFileSync(join(rootfs, 'good'), 'utf8')).toBe('good\n');
    // the failed build left no temp files behind, so the store goes on working: another build succeeds
    expect(await strata(['build', '-q', '-t', 'localhost/faults/good:2', ctx], root)).toMatchObject({ code: 0 });
  });
});

describe('a registry that drops connections, answers 500 and corrupts a blob during a pull', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  const image = makeImage({ layerSizes: [600_000, 400_000, 300_000] });

  beforeAll(async () => {
    registry = await startRegistry();
    proxy = await startFaultProxy({ target: registry.url });
    await pushTestImage(new RegistryClient({ credentials: async () => undefined }), parseReference(`${registry.host}/lib/faulty:1`), image);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('retries each fault, stores only bytes that match their digests, and tags the image', async () => {
    const [l0, l1, l2] = image.layers.map((l) => l.descriptor.digest);
    proxy.addFault({ fault: 'reset', method: 'GET', path: new RegExp(`/blobs/${l0}`), times: 1 });
    proxy.addFault({ fault: 'reset-body', method: 'GET', path: new RegExp(`/blobs/${l1}`), times: 1 });
    proxy.addFault({ fault: 'corrupt', method: 'GET', path: new RegExp(`/blobs/${l2}`), times: 1 });
    proxy.addFault({ fault: 'status-500', method: 'GET', path: /\/manifests\//, times: 1 });
    const root = join(work, 'pull-store');
    const r = await strata(['pull', `${proxy.host}/lib/faulty:1`], root);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    // every fault was met, and retried
    for (const fault of ['reset', 'reset-body', 'corrupt', 'status-500']) expect(proxy.requests.some((q) => q.fault === fault)).toBe(true);
    expect(await strata(['verify'], root)).toMatchObject({ code: 0 });
    const store = await Store.open(root);
    for (const layer of image.layers) {
      const bytes = await store.readBlob(layer.descriptor.digest as never);
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(layer.descriptor.digest);
    }
    expect(readdirSync(join(root, 'quarantine-v1'))).toEqual([]);
  });
});
