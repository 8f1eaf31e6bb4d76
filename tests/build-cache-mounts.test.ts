// Beyond the peers: RUN --mount=type=cache folders travel with --cache-to
// ...,mounts=true (an ephemeral CI runner starts with a warm cache), and
// --normalize-permissions keys and writes COPY sources with docker's
// canonical modes so that different umasks share cache.
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';
import { strataBuildJson } from './support/cli-json.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(240_000);

const base = 'localhost/test/busybox:latest';

let dir: string;
let stores = 0;

beforeAll(() => {
  dir = mkdtempSync('/dev/shm/strata-cache-mounts-');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function freshStore(): Promise<string> {
  stores += 1;
  const root = join(dir, `store-${stores}`);
  const store = await Store.open(root);
  await loadTestImage(store, testImage('busybox', 'amd64'), base);
  return root;
}

/** The host folder of a RUN --mount=type=cache with this id (cache-mounts-v1/<base64url id>). */
const mountDir = (root: string, id: string) => join(root, 'cache-mounts-v1', Buffer.from(id).toString('base64url'));

describe('--cache-to ...,mounts=true', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startRegistry();
  });
  afterAll(async () => registry?.stop());

  it('exports RUN cache mounts and restores them on a machine with an empty store', async () => {
    const context = join(dir, 'mounts-ctx');
    mkdirSync(context, { recursive: true });
    writeFileSync(
      join(context, 'Dockerfile'),
      `FROM ${base}\nARG V=1\nRUN --mount=type=cache,target=/var/cache/demo,id=demo sh -c 'echo "run $V" >> /var/cache/demo/log && cp /var/cache/demo/log /seen'\n`,
    );
    const ref = `${registry.host}/cache/mounts:ci`;
    const strata = (root: string, ...args: string[]) => strataBuildJson([...args, context], { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root });
    const laptop = await freshStore();
    const exported = await strata(laptop, '--cache-to', `type=registry,ref=${ref},mounts=true`);
    // the RUN layer, the mount tar and the config
    expect(exported.find((e) => e.type === 'cache-exported')).toMatchObject({ uploaded: 3 });
    const { stdout } = await execFileAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
    const layers = (JSON.parse(stdout) as { layers: { mediaType: string; annotations?: Record<string, string> }[] }).layers;
    expect(layers.filter((l) => l.mediaType === 'application/vnd.strata.cache.mount.v1.tar+gzip').map((l) => l.annotations?.['dev.strata.cache.mount.id'])).toEqual(['demo']);

    // a CI runner: empty store; a changed build arg makes the RUN run, over the restored cache
    const runner = await freshStore();
    const events = await strata(runner, '--cache-from', `type=registry,ref=${ref}`, '--build-arg', 'V=2');
    expect(events.find((e) => e.type === 'cache-mount-restored')).toMatchObject({ id: 'demo' });
    expect(readFileSync(join(mountDir(runner, 'demo'), 'log'), 'utf8')).toBe('run 1\nrun 2\n');
    // a warm local cache is never overwritten by an import
    await strata(runner, '--cache-from', `type=registry,ref=${ref}`, '--build-arg', 'V=3');
    expect(readFileSync(join(mountDir(runner, 'demo'), 'log'), 'utf8')).toBe('run 1\nrun 2\nrun 3\n');
    // without mounts=true nothing but records and layers is exported
    const plain = await strata(laptop, '--cache-to', `type=registry,ref=${registry.host}/cache/mounts:plain`);
    expect(plain.find((e) => e.type === 'cache-exported')).toMatchObject({ uploaded: 1 });
  });
});

describe('--normalize-permissions', () => {
  function context(name: string, fileMode: number, toolMode: number, dirMode: number): string {
    const ctx = join(dir, name);
    mkdirSync(join(ctx, 'app'), { recursive: true });
    writeFileSync(join(ctx, 'app', 'config.txt'), 'setting=1\n');
    writeFileSync(join(ctx, 'app', 'tool.sh'), '#!/bin/sh\necho hi\n');
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${base}\nCOPY app/ /app/\n`);
    chmodSync(join(ctx, 'app', 'config.txt'), fileMode);
    chmodSync(join(ctx, 'app', 'tool.sh'), toolMode);
    chmodSync(join(ctx, 'app'), dirMode);
    return ctx;
  }

  it('a laptop (umask 002) and CI (umask 022) share the COPY layer; modes in the image are canonical', async () => {
    const store = await Store.open(await freshStore());
    const laptop = context('laptop', 0o664, 0o775, 0o775);
    const ci = context('ci', 0o644, 0o744, 0o755);
    const run = async (ctx: string, normalizePermissions: boolean) => {
      const events: BuildEvent[] = [];
      const tag = normalizePermissions ? 'localhost/test/perm:normalized' : 'localhost/test/perm:strict';
      const result = await build({ store, context: ctx, tags: [tag], normalizePermissions, onEvent: (e) => events.push(e) });
      const copy = events.find((e) => (e.type === 'step-cached' || e.type === 'step-completed') && e.index === 2);
      return { result, copy };
    };
    const first = await run(laptop, true);
    expect(first.copy?.type).toBe('step-completed');
    const shared = await run(ci, true);
    expect(shared.copy).toMatchObject({ type: 'step-cached', reason: 'inputs unchanged' });
    expect(shared.result.imageId).toBe(first.result.imageId);
    // without the flag the modes are part of the key, as docker keys them
    const strict = await run(ci, false);
    expect(strict.copy?.type).toBe('step-completed');
    expect(strict.result.imageId).not.toBe(first.result.imageId);

    const out = join(dir, 'perm-unpacked');
    await execFileAsync('umoci', ['raw', 'unpack', '--image', `${store.root}:localhost/test/perm:normalized`, out]);
    const mode = (p: string) => statSync(join(out, p)).mode & 0o7777;
    expect([mode('app'), mode('app/config.txt'), mode('app/tool.sh')]).toEqual([0o755, 0o644, 0o755]);
  });
});
