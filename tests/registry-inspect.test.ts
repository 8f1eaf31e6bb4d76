// What `strata inspect` says of images pulled from and pushed to the real
// reference registry, with skopeo as the oracle: manifest digest, diff IDs,
// architecture, variant and os agree with what skopeo reads from the
// registry, and RepoDigests name every repository the image came from or
// went to (kept in the store, dropped by prune once the image is gone).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Store, pruneStore, verifyStore } from '@strata/cache';
import { main } from '@strata/cli';
import { parseReference, RegistryClient } from '@strata/registry';
import { memoryIo } from '../packages/cli/test/memory-io.js';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { testImage, type TestImage } from './support/test-images.js';

jest.setTimeout(120_000);

function skopeo(args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8' });
}

interface SkopeoInspect {
  Digest: string;
  Architecture: string;
  Os: string;
  Variant?: string;
}

interface Inspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Variant?: string;
  Os: string;
  RootFS: { Type: string; Layers: string[] };
  Descriptor: { digest: string };
}

/** The manifest descriptor of a test image's OCI layout (what skopeo copies byte for byte). */
function layoutManifest(image: TestImage): { mediaType: string; digest: string; size: number } {
  const index = JSON.parse(readFileSync(join(image.layout, 'index.json'), 'utf8')) as { manifests: { mediaType: string; digest: string; size: number }[] };
  const [top] = index.manifests;
  if (top === undefined) throw new Error(`${image.layout} has no manifest`);
  return top;
}

describe('strata inspect of pulled and pushed images, against skopeo', () => {
  const amd64 = testImage('busybox', 'amd64');
  const arm64 = testImage('busybox', 'arm64');
  let registry: TestRegistry;
  let work: string;
  let root: string;
  let indexDigest: string;

  async function strata(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = memoryIo({ env: { STRATA_ROOT: root, HOME: work, DOCKER_CONFIG: join(work, 'docker') }, cwd: work });
    const code = await main(args, io);
    return { code, out: io.out(), err: io.err() };
  }

  async function inspect(name: string, platform?: string): Promise<Inspect> {
    const r = await strata(['inspect', ...(platform === undefined ? [] : ['--platform', platform]), name]);
    expect(r.err).toBe('');
    const [info] = JSON.parse(r.out) as Inspect[];
    if (info === undefined) throw new Error(`no inspect output for ${name}`);
    return info;
  }

  beforeAll(async () => {
    registry = await startRegistry();
    work = mkdtempSync('/dev/shm/strata-registry-inspect-');
    root = join(work, 'store');
    // the registry's content comes from skopeo, not from strata
    const to = (repo: string) => `docker://${registry.host}/${repo}`;
    skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${amd64.layout}:latest`, to('lib/busybox:1.35')]);
    skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${amd64.layout}:latest`, to('lib/multi:amd64')]);
    skopeo(['copy', '-q', '--dest-tls-verify=false', `oci:${arm64.layout}:latest`, to('lib/multi:arm64')]);
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [layoutManifest(amd64), layoutManifest(arm64)].map((m, i) => ({
        ...m, platform: i === 0 ? { architecture: 'amd64', os: 'linux' } : { architecture: 'arm64', os: 'linux', variant: 'v8' },
      })),
    }));
    const client = new RegistryClient({ credentials: async () => undefined });
    indexDigest = await client.putManifest(parseReference(`${registry.host}/lib/multi:1`), index, 'application/vnd.oci.image.index.v1+json');
  });

  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('a pulled busybox (amd64) shows what skopeo reads from the registry, and its repo digest', async () => {
    const ref = `${registry.host}/lib/busybox:1.35`;
    expect((await strata(['pull', ref])).code).toBe(0);
    const oracle = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${ref}`])) as SkopeoInspect;
    const config = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${ref}`])) as { rootfs: { diff_ids: string[] } };
    const info = await inspect(ref);
    expect(info).toMatchObject({
      Id: amd64.configDigest,
      RepoTags: [ref],
      RepoDigests: [`${registry.host}/lib/busybox@${oracle.Digest}`],
      Architecture: oracle.Architecture,
      Os: oracle.Os,
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Descriptor: { digest: oracle.Digest },
    });
    expect(info.Variant).toBe(oracle.Variant);
    // images --digests shows the registry's digest for the row's repository
    const rows = (await strata(['images', '--digests'])).out;
    expect(rows).toMatch(new RegExp(`${registry.host}/lib/busybox\\s+1\\.35\\s+${oracle.Digest}\\s`));
  });

  it('the arm64 image of a multi-platform index: the platform manifest is what skopeo picks for arm64, RepoDigests name the index', async () => {
    const ref = `${registry.host}/lib/multi:1`;
    expect((await strata(['pull', '--platform', 'linux/arm64', ref])).code).toBe(0);
    const arch = ['--override-os', 'linux', '--override-arch', 'arm64', '--override-variant', 'v8'];
    const oracle = JSON.parse(skopeo([...arch, 'inspect', '--tls-verify=false', `docker://${ref}`])) as SkopeoInspect;
    const config = JSON.parse(skopeo([...arch, 'inspect', '--config', '--tls-verify=false', `docker://${ref}`])) as {
      architecture: string; variant?: string; os: string; rootfs: { diff_ids: string[] };
    };
    const raw = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])) as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    const platformManifest = raw.manifests.find((m) => m.platform.architecture === 'arm64')?.digest;
    expect(platformManifest).toBe(arm64.manifestDigest);
    const info = await inspect(ref);
    expect(info).toMatchObject({
      Id: arm64.configDigest,
      RepoDigests: [`${registry.host}/lib/multi@${indexDigest}`],
      Architecture: config.architecture,
      Variant: config.variant,
      Os: config.os,
      RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
      Descriptor: { digest: platformManifest },
    });
    // skopeo 1.9's inspect prints no Variant: its --config above gives it
    expect([info.Architecture, info.Os, info.Variant]).toEqual([oracle.Architecture, oracle.Os, 'v8']);
    // skopeo's Digest of a multi-platform tag is the index's, as in RepoDigests
    expect(oracle.Digest).toBe(indexDigest);
    // pulled by the index's digest: named by that digest, as docker names it
    expect((await strata(['pull', '--platform', 'linux/arm64', `${registry.host}/lib/multi@${indexDigest}`])).code).toBe(0);
    expect((await inspect(`${registry.host}/lib/multi@${indexDigest}`)).Descriptor.digest).toBe(arm64.manifestDigest);
  });

  it('push records the repo digest of each repository pushed to; prune drops them with the image', async () => {
    const source = `${registry.host}/lib/busybox:1.35`;
    const target = `${registry.host}/apps/tools:2`;
    expect((await strata(['tag', source, target])).code).toBe(0);
    const push = await strata(['push', target]);
    expect(push.err).toBe('');
    const pushed = /digest: (sha256:[0-9a-f]{64})/.exec(push.out)?.[1];
    expect(JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${target}`])).Digest).toBe(pushed);
    const info = await inspect(target);
    expect(info.RepoTags.sort()).toEqual([target, source]);
    expect(info.RepoDigests).toEqual([`${registry.host}/apps/tools@${pushed}`, `${registry.host}/lib/busybox@${pushed}`]);

    // the record survives untagging while the image is stored, and goes with it
    expect((await strata(['rmi', source, target])).code).toBe(0);
    const store = await Store.open(root);
    const file = join(store.paths.repoDigests, `${amd64.manifestDigest.slice(7)}.json`);
    expect(existsSync(file)).toBe(true);
    await pruneStore(store, { gracePeriodMs: 0 });
    expect(existsSync(file)).toBe(false);
    // the multi-platform pull's record is kept: its image is still tagged
    expect(await store.repoDigests(arm64.manifestDigest as never)).toEqual([`${registry.host}/lib/multi@${indexDigest}`]);
    expect((await verifyStore(store)).ok).toBe(true);
  });
});
