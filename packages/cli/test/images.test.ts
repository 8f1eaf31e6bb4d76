import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, Store, verifyStore, type Descriptor } from '@strata/cache';
import { hostPlatform } from '@strata/registry';
import { main } from '../src/index.js';
import { applyChange } from '../src/commands/import.js';
import { checkTemplate, renderTemplate } from '../src/commands/inspect.js';
import { renderTable } from '../src/render/table.js';
import { timeAgo } from '../src/store.js';
import { loadTestImage, testImage } from '../../../tests/support/test-images.js';
import { memoryIo } from './memory-io.js';

describe('docker-style text', () => {
  const now = new Date('2024-06-01T12:00:00Z');
  it.each([
    [0, 'Less than a second ago'],
    [1, '1 second ago'],
    [59, '59 seconds ago'],
    [61, 'About a minute ago'],
    [45 * 60, '45 minutes ago'],
    [3600, 'About an hour ago'],
    [5 * 3600, '5 hours ago'],
    [3 * 86400, '3 days ago'],
    [20 * 86400, '2 weeks ago'],
    [100 * 86400, '3 months ago'],
    [800 * 86400, '2 years ago'],
  ])('timeAgo(%p s) = %p', (seconds, text) => expect(timeAgo(new Date(now.getTime() - seconds * 1000), now)).toBe(text));

  it('pads columns as docker\'s tabwriter does (min width 10, padding 3)', () => {
    expect(renderTable([['REPOSITORY', 'TAG', 'SIZE'], ['a', 'latest', '1MB']])).toBe('REPOSITORY   TAG       SIZE\na            latest    1MB\n');
  });

  it('renders the template paths docker users type', () => {
    const value = { Id: 'sha256:x', Config: { Cmd: ['sh', '-c'], Labels: null }, RootFS: { Layers: ['a', 'b'] } };
    expect(renderTemplate('{{.Id}} {{.Config.Cmd}} {{json .RootFS.Layers}} {{json .Config.Labels}} {{.Missing}}', value))
      .toBe('sha256:x [sh -c] ["a","b"] null <no value>');
    expect(checkTemplate('{{.A.B}} and {{ json .C }}')).toBeUndefined();
    expect(checkTemplate('{{range .RepoTags}}{{.}}{{end}}')).toMatch(/unsupported template action '\{\{range \.RepoTags\}\}'/);
  });

  it('applies --change instructions as docker import does', () => {
    let config = applyChange({}, 'ENV PATH=/usr/bin:/bin HOME=/root');
    config = applyChange(config, 'ENV GREETING="hello $HOME"');
    config = applyChange(config, 'CMD ["sh"]');
    config = applyChange(config, 'ENTRYPOINT /entry.sh');
    config = applyChange(config, 'EXPOSE 80 53/UDP');
    config = applyChange(config, 'WORKDIR /srv');
    config = applyChange(config, 'LABEL a=b');
    config = applyChange(config, 'USER 1000:1000');
    config = applyChange(config, 'VOLUME /data');
    expect(config).toEqual({
      Env: ['PATH=/usr/bin:/bin', 'HOME=/root', 'GREETING=hello /root'],
      Cmd: ['sh'],
      Entrypoint: ['/bin/sh', '-c', '/entry.sh'],
      ExposedPorts: { '80/tcp': {}, '53/udp': {} },
      WorkingDir: '/srv',
      Labels: { a: 'b' },
      User: '1000:1000',
      Volumes: { '/data': {} },
    });
    expect(() => applyChange({}, 'RUN make')).toThrow(/--change does not accept RUN/);
  });
});

describe('a multi-platform tag', () => {
  let root: string;
  let env: NodeJS.ProcessEnv;
  const amd64 = testImage('busybox', 'amd64');
  const arm64 = testImage('busybox', 'arm64');

  beforeEach(async () => {
    root = mkdtempSync('/dev/shm/strata-cli-images-');
    env = { STRATA_ROOT: root };
    const store = await Store.open(root);
    await loadTestImage(store, amd64, 'tmp-amd64');
    await loadTestImage(store, arm64, 'tmp-arm64');
    const entries: Descriptor[] = [];
    for (const [image, ref] of [[amd64, 'tmp-amd64'], [arm64, 'tmp-arm64']] as const) {
      const d = await store.resolve(ref);
      entries.push({ mediaType: d.mediaType, digest: d.digest, size: d.size, platform: image.platform });
      await store.untag(ref);
    }
    const index = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: entries }, MediaType.ociIndex);
    await store.tag('multi:1', index);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  async function strata(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = memoryIo({ env, cwd: root });
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  }

  it('is listed once, with the host platform\'s image', async () => {
    const rows = (await strata(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).out.trimEnd().split('\n');
    const host = hostPlatform().architecture === 'arm64' ? arm64 : amd64;
    expect(rows).toEqual([`multi:1 ${host.configDigest.slice(7, 19)}`]);
  });

  it('inspects the platform asked for, and names the platforms it has when one is missing', async () => {
    const arm = await strata(['inspect', '--platform', 'linux/arm64', '-f', '{{.Id}} {{.Architecture}} {{.Variant}}', 'multi:1']);
    expect(arm).toMatchObject({ code: 0, out: `${arm64.configDigest} arm64 v8\n` });
    const amd = await strata(['inspect', '--platform', 'linux/amd64', '-f', '{{.Id}}', 'multi:1']);
    expect(amd.out).toBe(`${amd64.configDigest}\n`);
    const none = await strata(['inspect', '--platform', 'linux/riscv64', 'multi:1']);
    expect(none.code).toBe(1);
    expect(none.err).toContain('CACHE_PLATFORM_NOT_FOUND: docker.io/library/multi:1 has no image for linux/riscv64; it holds linux/amd64, linux/arm64/v8');
  });

  it('saves one platform to a docker-archive and the whole index to an OCI archive', async () => {
    const docker = join(root, 'multi-docker.tar');
    expect(await strata(['save', '--platform', 'linux/arm64', '-o', docker, 'multi:1'])).toMatchObject({ code: 0 });
    const oci = join(root, 'multi-oci.tar');
    expect(await strata(['save', '--format', 'oci', '-o', oci, 'multi:1'])).toMatchObject({ code: 0 });
    const other = join(root, 'other');
    const load = async (file: string) => {
      const io = memoryIo({ env: { STRATA_ROOT: other }, cwd: root });
      return { code: await main(['load', '-i', file], io), out: io.out() };
    };
    expect(await load(docker)).toEqual({ code: 0, out: 'Loaded image: multi:1\n' });
    const store = await Store.open(other);
    const single = await store.resolve('multi:1');
    expect(single.mediaType).toBe(MediaType.ociManifest);
    expect((await store.readManifest(single.digest)).config.digest).toBe(arm64.configDigest);
    expect(await load(oci)).toEqual({ code: 0, out: 'Loaded image: multi:1\n' });
    const index = await store.resolve('multi:1');
    expect(index.mediaType).toBe(MediaType.ociIndex);
    expect((await store.readImageIndex(index.digest)).manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);
    expect((await verifyStore(store)).ok).toBe(true);
  });

  it('`strata image` dispatches to the verbs and explains itself', async () => {
    expect((await strata(['image', 'ls', '-q'])).out.trim()).toMatch(/^[0-9a-f]{12}$/);
    expect(await strata(['image', 'frobnicate'])).toMatchObject({ code: 2 });
    expect((await strata(['image', '--help'])).out).toContain('inspect');
  });
});
