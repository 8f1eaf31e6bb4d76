import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadMultiArchBusybox } from './support/test-images.js';

// The cross-compile pattern with --platform linux/amd64,linux/arm64: a stage
// FROM --platform=$BUILDPLATFORM (and a stage built on it) runs once, on the
// build machine, and every target image copies its result; a build-platform
// stage that reads TARGETARCH still runs once per target, with that target's value.
describe('multi-platform build: work that does not depend on the target runs once', () => {
  let dir: string;
  let store: Store;
  let context: string;

  const dockerfile = `
FROM --platform=$BUILDPLATFORM localhost/test/busybox:multi AS compile
RUN echo "compiled on $(uname -m)" > /artifact && echo compile-ran
FROM compile AS package
RUN cp /artifact /packaged
FROM --platform=$BUILDPLATFORM localhost/test/busybox:multi AS per-target
ARG TARGETARCH
RUN echo "generated for $TARGETARCH on $(uname -m)" > /generated
FROM localhost/test/busybox:multi
COPY --from=package /packaged /packaged
COPY --from=per-target /generated /generated
RUN uname -m > /runs-on
`;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-platform-shared-');
    store = await Store.open(join(dir, 'store'));
    await loadMultiArchBusybox(store);
    context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function rootfsOf(ref: string, arch: string): string {
    const layout = join(dir, `layout-${arch}-${Math.random().toString(36).slice(2)}`);
    const rootfs = `${layout}-rootfs`;
    execFileSync('skopeo', ['copy', '--override-arch', arch, `oci:${store.root}:${ref}`, `oci:${layout}:x`], { stdio: 'pipe' });
    execFileSync('umoci', ['raw', 'unpack', '--image', `${layout}:x`, rootfs], { stdio: 'pipe' });
    return rootfs;
  }

  /** RUN steps that ran (not cached), by stage label ("linux/arm64 compile") and instruction. */
  function ranRuns(events: BuildEvent[]): string[] {
    return events
      .filter((e): e is Extract<BuildEvent, { type: 'step-completed' }> => e.type === 'step-completed' && e.instruction.text.startsWith('RUN'))
      .map((e) => `${e.stage}: ${e.instruction.text.split(' ').slice(0, 3).join(' ')}`);
  }

  async function buildBoth(extra: { noCache?: boolean } = {}): Promise<BuildEvent[]> {
    const events: BuildEvent[] = [];
    await build({ store, context, platform: 'linux/amd64,linux/arm64', tags: ['localhost/test/cross:1'], onEvent: (e) => events.push(e), ...extra });
    return events;
  }

  it('runs the build-platform stages once, per-target stages once per target, target RUNs on each architecture', async () => {
    const events = await buildBoth();
    expect(ranRuns(events).sort()).toEqual(
      [
        'linux/amd64 compile: RUN echo "compiled',
        'linux/amd64 package: RUN cp /artifact',
        'linux/amd64 per-target: RUN echo "generated',
        'linux/arm64 per-target: RUN echo "generated',
        'linux/amd64 3: RUN uname -m',
        'linux/arm64 3: RUN uname -m',
      ].sort(),
    );
    // the arm64 target found the shared stages' steps in the cache
    const cached = events.filter((e) => e.type === 'step-cached').map((e) => (e as { stage: string }).stage);
    expect(cached).toEqual(expect.arrayContaining(['linux/arm64 compile', 'linux/arm64 package']));

    for (const [arch, machine] of [['amd64', 'x86_64'], ['arm64', 'aarch64']] as const) {
      const rootfs = rootfsOf('localhost/test/cross:1', arch);
      expect(readFileSync(join(rootfs, 'packaged'), 'utf8')).toBe('compiled on x86_64\n');
      expect(readFileSync(join(rootfs, 'generated'), 'utf8')).toBe(`generated for ${arch} on x86_64\n`);
      expect(readFileSync(join(rootfs, 'runs-on'), 'utf8')).toBe(`${machine}\n`);
    }
  });

  it('FROM --platform=linux/arm64 runs that stage on arm64 in a build for the host', async () => {
    const dockerfileText = [
      'FROM --platform=linux/arm64 localhost/test/busybox:multi AS arm',
      'ARG TARGETARCH',
      'RUN echo "$(uname -m) for $TARGETARCH" > /machine',
      'FROM localhost/test/busybox:multi',
      'COPY --from=arm /machine /machine',
    ].join('\n');
    await build({ store, context, dockerfileText, tags: ['localhost/test/from-platform:1'] });
    const config = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${store.root}:localhost/test/from-platform:1`], { encoding: 'utf8' })) as { architecture: string };
    expect(config.architecture).toBe('amd64');
    // the stage ran emulated on arm64; TARGETARCH is still the build's target
    expect(readFileSync(join(rootfsOf('localhost/test/from-platform:1', 'amd64'), 'machine'), 'utf8')).toBe('aarch64 for amd64\n');
  });

  it('refuses a FROM --platform that is not a platform, naming what it expanded to', async () => {
    const dockerfileText = 'ARG WHERE=nowhere/at/all/really\nFROM --platform=$WHERE localhost/test/busybox:multi\n';
    await expect(build({ store, context, dockerfileText })).rejects.toMatchObject({
      code: 'BUILD_INVALID_INSTRUCTION',
      message: expect.stringContaining("FROM --platform=$WHERE: 'nowhere/at/all/really' is not a platform"),
      details: { location: { start: { line: 2, column: 1 } } },
    });
  });

  it('shares the build-platform stages across targets with --no-cache too', async () => {
    const events = await buildBoth({ noCache: true });
    const ran = ranRuns(events);
    expect(ran.filter((r) => r.includes('compile:'))).toEqual(['linux/amd64 compile: RUN echo "compiled']);
    expect(ran.filter((r) => r.includes('per-target:'))).toHaveLength(2);
    expect(ran.filter((r) => r.includes(' 3: '))).toHaveLength(2);
  });
});
