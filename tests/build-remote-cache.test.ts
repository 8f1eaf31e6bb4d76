// --cache-to / --cache-from: the build cache leaves one store for a registry
// (the reference registry on 127.0.0.1) or an OCI layout folder, and a second
// store that has only the base image builds the same image from it without
// running a step. Through this worktree's bin/strata; skopeo reads what was exported.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '@strata/cache';
import { CACHE_ARTIFACT_TYPE } from '@strata/builder';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';
import { STRATA, strataBuildJson, type JsonEvent } from './support/cli-json.js';

const execFileAsync = promisify(execFile);
jest.setTimeout(240_000);

const base = 'localhost/test/busybox:latest';

const dockerfile = `
FROM ${base} AS deps
RUN echo "deps built: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')" > /deps.txt
FROM ${base}
WORKDIR /app
COPY src/ ./
RUN echo "app built: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n')" > /app/stamp && cat main.txt >> /app/stamp
COPY --from=deps /deps.txt /deps.txt
CMD ["cat", "/app/stamp"]
`;

describe('remote build cache', () => {
  let dir: string;
  let context: string;
  let registry: TestRegistry;
  let stores = 0;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-remote-cache-');
    registry = await startRegistry();
    context = join(dir, 'ctx');
    mkdirSync(join(context, 'src'), { recursive: true });
    writeFileSync(join(context, 'src', 'main.txt'), 'main\n');
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
  });
  afterAll(async () => {
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh store with only the base image. */
  async function freshStore(): Promise<string> {
    stores += 1;
    const root = join(dir, `store-${stores}`);
    const store = await Store.open(root);
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    return root;
  }

  async function strataBuild(root: string, ...extra: string[]): Promise<JsonEvent[]> {
    const env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
    return strataBuildJson(['-t', 'localhost/test/remote:1', ...extra, context], env);
  }

  const imageId = (events: JsonEvent[]) => events.find((e) => e.type === 'build-completed')?.imageId;
  const ran = (events: JsonEvent[]) =>
    events.filter((e) => e.type === 'step-completed' && (e.index ?? 0) > 1 && /^(RUN|COPY|WORKDIR)/.test(e.instruction?.text ?? '')).map((e) => `${e.stage} ${e.instruction?.text.split(' ')[0]}`);
  const cached = (events: JsonEvent[]) => events.filter((e) => e.type === 'step-cached');
  const exported = (events: JsonEvent[]) => events.find((e) => e.type === 'cache-exported');

  describe('type=registry', () => {
    let ref: string;
    let firstId: string | undefined;
    let exporter: string;

    it('exports the cache as an OCI artifact: records in its config, layers as its layers', async () => {
      ref = `${registry.host}/cache/app:buildcache`;
      exporter = await freshStore();
      const events = await strataBuild(exporter, '--cache-to', `type=registry,ref=${ref},mode=max`);
      firstId = imageId(events);
      expect(firstId).toMatch(/^sha256:/);
      expect(ran(events)).toEqual(['deps RUN', '1 WORKDIR', '1 COPY', '1 RUN', '1 COPY']);
      const done = exported(events);
      expect(done).toMatchObject({ records: 5, listings: 2, present: 0 });
      const { stdout } = await execFileAsync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
      const manifest = JSON.parse(stdout) as { artifactType?: string; layers: { mediaType: string }[]; config: { mediaType: string } };
      expect(manifest.artifactType).toBe(CACHE_ARTIFACT_TYPE);
      expect(manifest.config.mediaType).toBe('application/vnd.strata.cache.config.v1+json');
      // WORKDIR, COPY, RUN and the deps RUN each made a layer; COPY --from /deps.txt made the deps RUN's layer again (same bytes, one blob);
      // the last layer holds the two COPYs' source listings
      expect(manifest.layers).toHaveLength(5);
      expect(done?.uploaded).toBe(6);
      // the build stored its layers uncompressed; the artifact carries them gzip (the records it holds say so too)
      expect(manifest.layers.slice(0, 4).map((l) => l.mediaType)).toEqual(Array(4).fill('application/vnd.oci.image.layer.v1.tar+gzip'));
      const local = await Store.open(exporter);
      const built = await local.readManifest((await local.resolve('localhost/test/remote:1')).digest);
      expect(built.layers.slice(1).every((l) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
    });

    it('an empty store builds the same image from it: every step CACHED, no RUN runs', async () => {
      const importer = await freshStore();
      const events = await strataBuild(importer, '--cache-from', `type=registry,ref=${ref}`);
      expect(ran(events)).toEqual([]);
      // the layers came with the hits: skopeo copies the whole image out of the second store
      await execFileAsync('skopeo', ['copy', `oci:${importer}:localhost/test/remote:1`, `dir:${join(dir, 'copied')}`]);
      expect(cached(events)).toHaveLength(5);
      expect(new Set(cached(events).map((e) => e.reason))).toEqual(new Set([`imported from ${ref}`]));
      expect(imageId(events)).toBe(firstId);
    });

    it('exporting again uploads no blob and compresses nothing (no blob added to the store)', async () => {
      const blobs = readdirSync(join(exporter, 'blobs', 'sha256')).length;
      const events = await strataBuild(exporter, '--cache-to', `type=registry,ref=${ref},mode=max`);
      expect(ran(events)).toEqual([]);
      expect(exported(events)).toMatchObject({ uploaded: 0, present: 6, records: 5 });
      expect(readdirSync(join(exporter, 'blobs', 'sha256')).length).toBe(blobs);
    });

    it('mode=min exports the final image steps only: the deps stage runs again, the final stage hits', async () => {
      const minRef = `${registry.host}/cache/app:min`;
      await strataBuild(exporter, '--cache-to', `type=registry,ref=${minRef}`);
      const events = await strataBuild(await freshStore(), '--cache-from', `type=registry,ref=${minRef}`);
      // the deps stage ran anew (new random bytes in /deps.txt; busybox's date has no %N, and two runs in one second wrote the same), so COPY --from misses; the steps before it hit
      expect(ran(events)).toEqual(['deps RUN', '1 COPY']);
      expect(cached(events).map((e) => e.instruction?.text.split(' ')[0])).toEqual(['WORKDIR', 'COPY', 'RUN']);
    });

    it('a reference with no cache yet is a warning, not a failure', async () => {
      const events = await strataBuild(exporter, '--cache-from', `type=registry,ref=${registry.host}/cache/none:x`);
      expect(events.find((e) => e.type === 'warning')).toMatchObject({ code: 'CacheSourceEmpty' });
      expect(imageId(events)).toBe(firstId);
    });
  });

  describe('type=local', () => {
    it('exports to an OCI layout folder and imports from it', async () => {
      const layout = join(dir, 'layout-cache');
      const exporter = await freshStore();
      const first = await strataBuild(exporter, '--cache-to', `type=local,dest=${layout},mode=max`);
      expect(exported(first)).toMatchObject({ records: 5, uploaded: 6, present: 0 });
      const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests: { artifactType?: string }[] };
      expect(index.manifests).toHaveLength(1);
      const { stdout } = await execFileAsync('skopeo', ['inspect', '--raw', `oci:${layout}:latest`]);
      expect((JSON.parse(stdout) as { layers: unknown[] }).layers).toHaveLength(5);
      const again = await strataBuild(exporter, '--cache-to', `type=local,dest=${layout},mode=max`);
      expect(exported(again)).toMatchObject({ uploaded: 0, present: 6 });
      const imported = await strataBuild(await freshStore(), '--cache-from', `type=local,src=${layout}`);
      expect(ran(imported)).toEqual([]);
      expect(imageId(imported)).toBe(imageId(first));
    });

    it('refuses a malformed --cache-to with a usage error', async () => {
      const env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: join(dir, 'unused') };
      await expect(execFileAsync(STRATA, ['build', '--cache-to', 'type=local', context], { env })).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringContaining('type=local needs dest=DIR') as string,
      });
    });
  });
});
