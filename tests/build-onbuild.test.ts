import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, Store, type ImageConfig, type Manifest } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { RegistryClient } from '@strata/registry';
import { startRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';

// ONBUILD: triggers stored by a base image run in the child right after FROM, as BuildKit runs them.
describe('strata build: ONBUILD triggers (busybox, linux/amd64)', () => {
  let dir: string;
  let store: Store;
  let baseContext: string;
  let childContext: string;
  const busybox = 'localhost/test/busybox:latest';
  const baseRef = 'localhost/test/onbuild-base:1';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-onbuild-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), busybox);
    baseContext = join(dir, 'base-ctx');
    childContext = join(dir, 'child-ctx');
    mkdirSync(baseContext, { recursive: true });
    mkdirSync(childContext, { recursive: true });
    // the same name in both contexts: a trigger's COPY must read the child's
    writeFileSync(join(baseContext, 'app.txt'), 'from the base context\n');
    writeFileSync(join(childContext, 'app.txt'), 'from the child context\n');
    writeFileSync(
      join(baseContext, 'Dockerfile'),
      [
        `FROM ${busybox}`,
        'RUN echo base > /base.txt',
        'ONBUILD ENV FROM_TRIGGER=yes',
        'ONBUILD COPY app.txt /app/app.txt',
        'ONBUILD RUN echo "trigger saw $FROM_TRIGGER and $(cat /app/app.txt)" > /trigger.txt',
        '',
      ].join('\n'),
    );
    writeFileSync(join(childContext, 'Dockerfile'), [`FROM ${baseRef}`, 'RUN cat /trigger.txt > /child.txt', 'ONBUILD RUN echo grandchild', ''].join('\n'));
    await build({ store, context: baseContext, tags: [baseRef] });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  function inspectConfig(ref: string): { config: Record<string, unknown>; history: { created_by: string; empty_layer?: boolean }[] } {
    return JSON.parse(execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${store.root}:${ref}`], { encoding: 'utf8' })) as never;
  }

  async function buildChild(extra: Partial<Parameters<typeof build>[0]> = {}) {
    const events: BuildEvent[] = [];
    const result = await build({ store, context: childContext, tags: ['localhost/test/onbuild-child:1'], onEvent: (e) => events.push(e), ...extra });
    return { result, events };
  }

  it('records the ONBUILD lines in the base image and does not run them there', () => {
    const config = inspectConfig(baseRef).config;
    expect(config.OnBuild).toEqual(['ENV FROM_TRIGGER=yes', 'COPY app.txt /app/app.txt', 'RUN echo "trigger saw $FROM_TRIGGER and $(cat /app/app.txt)" > /trigger.txt']);
    const rootfs = unpack(baseRef);
    expect(readFileSync(join(rootfs, 'base.txt'), 'utf8')).toBe('base\n');
    expect(existsSync(join(rootfs, 'trigger.txt'))).toBe(false);
    expect(existsSync(join(rootfs, 'app'))).toBe(false);
  });

  it('runs the triggers right after FROM in the child: ENV, COPY from the child context, RUN', async () => {
    const { events } = await buildChild();
    const rootfs = unpack('localhost/test/onbuild-child:1');
    expect(readFileSync(join(rootfs, 'app/app.txt'), 'utf8')).toBe('from the child context\n');
    expect(readFileSync(join(rootfs, 'trigger.txt'), 'utf8')).toBe('trigger saw yes and from the child context\n');
    // the child's own RUN comes after the triggers and sees their work
    expect(readFileSync(join(rootfs, 'child.txt'), 'utf8')).toBe('trigger saw yes and from the child context\n');

    const { config, history } = inspectConfig('localhost/test/onbuild-child:1');
    expect(config.Env).toEqual(expect.arrayContaining(['FROM_TRIGGER=yes']));
    // triggers are not inherited; the child's own ONBUILD starts a fresh list
    expect(config.OnBuild).toEqual(['RUN echo grandchild']);
    const ownHistory = history.slice(-5).map((h) => h.created_by.split(' ')[0]);
    expect(ownHistory).toEqual(['ENV', 'COPY', 'RUN', 'RUN', 'ONBUILD']);

    // progress: FROM, the three triggers (flagged, numbered 2-4, located at the FROM), then the stage's own steps
    const started = events.filter((e): e is Extract<BuildEvent, { type: 'step-started' }> => e.type === 'step-started');
    expect(started.map((e) => [e.index, e.instruction.text, e.instruction.onbuild === true])).toEqual([
      [1, `FROM ${baseRef}`, false],
      [2, 'ENV FROM_TRIGGER=yes', true],
      [3, 'COPY app.txt /app/app.txt', true],
      [4, 'RUN echo "trigger saw $FROM_TRIGGER and $(cat /app/app.txt)" > /trigger.txt', true],
      [5, 'RUN cat /trigger.txt > /child.txt', false],
      [6, 'ONBUILD RUN echo grandchild', false],
    ]);
    expect(started.every((e) => e.total === 6)).toBe(true);
    expect(started[1]?.instruction.location.start.line).toBe(1);
  });

  it('rebuilds from the cache (triggers CACHED, same image); a changed file the trigger copies reruns it', async () => {
    const first = await buildChild();
    const again = await buildChild();
    expect(again.result.imageId).toBe(first.result.imageId);
    const cached = again.events.filter((e) => e.type === 'step-cached').map((e) => e.instruction.text);
    expect(cached).toEqual(['COPY app.txt /app/app.txt', 'RUN echo "trigger saw $FROM_TRIGGER and $(cat /app/app.txt)" > /trigger.txt', 'RUN cat /trigger.txt > /child.txt']);

    writeFileSync(join(childContext, 'app.txt'), 'changed in the child context\n');
    try {
      const changed = await buildChild();
      expect(changed.result.imageId).not.toBe(first.result.imageId);
      expect(changed.events.filter((e) => e.type === 'step-cached')).toEqual([]);
      const rootfs = unpack('localhost/test/onbuild-child:1');
      expect(readFileSync(join(rootfs, 'child.txt'), 'utf8')).toBe('trigger saw yes and changed in the child context\n');
    } finally {
      writeFileSync(join(childContext, 'app.txt'), 'from the child context\n');
    }
  });

  it('runs the triggers of an earlier stage used as a base (FROM <stage>), heredocs included, and only there', async () => {
    const dockerfileText = [
      `FROM ${busybox} AS base`,
      'ONBUILD RUN echo staged > /staged.txt',
      'ONBUILD RUN <<EOF',
      '#!/bin/sh',
      'echo "heredoc trigger" > /heredoc.txt',
      'EOF',
      'FROM base AS child',
      'RUN cat /staged.txt > /seen.txt',
      'FROM child',
      'RUN test ! -e /again.txt && echo once > /again.txt',
      '',
    ].join('\n');
    await build({ store, context: childContext, dockerfileText, tags: ['localhost/test/onbuild-stage:1'] });
    const rootfs = unpack('localhost/test/onbuild-stage:1');
    expect(readFileSync(join(rootfs, 'seen.txt'), 'utf8')).toBe('staged\n');
    expect(readFileSync(join(rootfs, 'again.txt'), 'utf8')).toBe('once\n');
    // a trigger keeps its heredoc (here a #! script)
    expect(readFileSync(join(rootfs, 'heredoc.txt'), 'utf8')).toBe('heredoc trigger\n');
    expect(inspectConfig('localhost/test/onbuild-stage:1').config.OnBuild ?? null).toBeNull();
  });

  it('a trigger COPY --from=<stage> builds that stage first', async () => {
    const dockerfileText = [
      `FROM ${busybox} AS base`,
      'ONBUILD COPY --from=assets /asset.txt /asset.txt',
      `FROM ${busybox} AS assets`,
      'RUN echo asset > /asset.txt',
      'FROM base',
      '',
    ].join('\n');
    await build({ store, context: childContext, dockerfileText, tags: ['localhost/test/onbuild-from:1'] });
    expect(readFileSync(join(unpack('localhost/test/onbuild-from:1'), 'asset.txt'), 'utf8')).toBe('asset\n');
  });

  it('runs the triggers of a base pulled from a registry (and pulls an image named by RUN --mount from=)', async () => {
    const registry = await startRegistry({ auth: 'none' });
    try {
      const remote = `${registry.host}/onbuild/base:1`;
      const tools = `${registry.host}/onbuild/tools:1`;
      execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${store.root}:${baseRef}`, `docker://${remote}`], { stdio: 'pipe' });
      execFileSync('skopeo', ['copy', '--dest-tls-verify=false', `oci:${testImage('busybox', 'amd64').layout}:latest`, `docker://${tools}`], { stdio: 'pipe' });
      const fresh = await Store.open(join(dir, 'fresh-store'));
      const dockerfileText = `FROM ${remote}\nRUN --mount=type=bind,from=${tools},source=/etc/passwd,target=/m.txt head -n1 /m.txt | cut -d: -f1 | cat - /trigger.txt > /seen.txt\n`;
      await build({ store: fresh, context: childContext, dockerfileText, registry: new RegistryClient({}), tags: ['localhost/test/onbuild-pulled:1'] });
      const out = join(dir, 'unpacked-pulled');
      execFileSync('umoci', ['raw', 'unpack', '--image', `${fresh.root}:localhost/test/onbuild-pulled:1`, out], { stdio: 'pipe' });
      expect(readFileSync(join(out, 'seen.txt'), 'utf8')).toBe('root\ntrigger saw yes and from the child context\n');
      expect(await fresh.resolve(tools)).toMatchObject({ digest: expect.stringMatching(/^sha256:/) });
    } finally {
      await registry.stop();
    }
  });

  /** Tags a copy of the base image whose config carries the given triggers (as an image made by another tool could). */
  async function imageWithTriggers(ref: string, triggers: string[]): Promise<void> {
    const top = await store.resolve(baseRef);
    const manifest = await store.readManifest(top.digest);
    const config: ImageConfig = await store.readConfig(manifest.config.digest);
    const configDesc = await store.putJson({ ...config, config: { ...config.config, OnBuild: triggers } }, MediaType.ociConfig);
    const patched: Manifest = { ...manifest, config: configDesc };
    await store.tag(ref, await store.putJson(patched, top.mediaType));
  }

  it.each([
    ['ONBUILD RUN echo nested', /ONBUILD ONBUILD/],
    ['FROM busybox', /FROM isn't allowed/],
    ['MAINTAINER someone', /MAINTAINER isn't allowed/],
    ['FROBNICATE now', /unknown instruction/i],
  ])('refuses the invalid trigger %j with a clear error at the FROM line', async (trigger, message) => {
    const ref = `localhost/test/onbuild-bad:${trigger.split(' ')[0]?.toLowerCase()}`;
    await imageWithTriggers(ref, ['RUN true', trigger]);
    const events: BuildEvent[] = [];
    const failure = build({ store, context: childContext, dockerfileText: `FROM ${ref}\nRUN echo never\n`, onEvent: (e) => events.push(e) });
    await expect(failure).rejects.toMatchObject({ code: 'BUILD_ONBUILD_TRIGGER', message: expect.stringMatching(message) });
    await expect(failure).rejects.toMatchObject({ message: expect.stringContaining(ref), details: { location: { start: { line: 1 } } } });
    const failed = events.find((e) => e.type === 'step-failed');
    expect(failed).toMatchObject({ index: 1, code: 'BUILD_ONBUILD_TRIGGER' });
    expect(events.some((e) => e.type === 'step-started' && e.instruction.text === 'RUN true')).toBe(false);
  });
});
