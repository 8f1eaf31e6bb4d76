import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, lstatSync, readlinkSync, writeFileSync, utimesSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// Real builds: runc over overlayfs, layers into a store on tmpfs, read back with skopeo and umoci.
describe('strata build (busybox, linux/amd64)', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:latest';

  const dockerfile = `
FROM ${base}
ARG GREETING=hello
ENV APP_HOME=/srv/app PATH=/usr/local/bin:/usr/bin:/bin
LABEL org.example.name="demo app" version=1.0
WORKDIR $APP_HOME
COPY --chown=user:user app/ ./
COPY --chmod=0755 tool.sh /usr/local/bin/tool
RUN echo "$GREETING from $(uname -m)" > /greeting && rm -f /etc/group- && mkdir -p /data && ln -s /greeting /data/link
RUN ["/bin/sh", "-c", "echo exec form > /exec.txt"]
USER user
EXPOSE 8080/tcp 9000-9001/udp
VOLUME /data
ENTRYPOINT ["/usr/local/bin/tool"]
CMD ["--serve"]
`;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-basic-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(join(context, 'app', 'lib'), { recursive: true });
    writeFileSync(join(context, 'app', 'main.txt'), 'main\n');
    writeFileSync(join(context, 'app', 'lib', 'util.txt'), 'util\n');
    writeFileSync(join(context, 'app', 'secret.key'), 'do not copy\n');
    writeFileSync(join(context, 'tool.sh'), '#!/bin/sh\necho tool "$@"\n');
    writeFileSync(join(context, '.dockerignore'), '**/*.key\n');
    writeFileSync(join(context, 'Dockerfile'), dockerfile);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function buildOnce(extra: Partial<Parameters<typeof build>[0]> = {}) {
    const events: BuildEvent[] = [];
    const result = await build({ store, context, tags: ['localhost/test/app:1.0'], onEvent: (e) => events.push(e), ...extra });
    return { result, events };
  }

  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  it('builds an image that skopeo reads with the config docker would record', async () => {
    const { result } = await buildOnce();
    expect(result.tags).toEqual(['localhost/test/app:1.0']);
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${store.root}:localhost/test/app:1.0`], { encoding: 'utf8' })) as {
      architecture: string;
      config: Record<string, unknown>;
      rootfs: { diff_ids: string[] };
      history: { created_by: string; empty_layer?: boolean }[];
    };
    expect(`sha256:${execFileSync('sha256sum', { input: execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${store.root}:localhost/test/app:1.0`]) }).toString().split(' ')[0]}`).toBe(result.imageId);
    expect(inspect.architecture).toBe('amd64');
    expect(inspect.config.Env).toEqual(['PATH=/usr/local/bin:/usr/bin:/bin', 'APP_HOME=/srv/app']);
    expect(inspect.config.WorkingDir).toBe('/srv/app');
    expect(inspect.config.User).toBe('user');
    expect(inspect.config.Labels).toEqual({ 'org.example.name': 'demo app', version: '1.0' });
    expect(inspect.config.ExposedPorts).toEqual({ '8080/tcp': {}, '9000/udp': {}, '9001/udp': {} });
    expect(inspect.config.Volumes).toEqual({ '/data': {} });
    expect(inspect.config.Entrypoint).toEqual(['/usr/local/bin/tool']);
    expect(inspect.config.Cmd).toEqual(['--serve']);
    // base layer + WORKDIR + 2 COPY + 2 RUN
    expect(inspect.rootfs.diff_ids).toHaveLength(6);
    const layered = inspect.history.filter((h) => h.empty_layer !== true).map((h) => h.created_by.split(' ')[0]);
    expect(layered.slice(1)).toEqual(['WORKDIR', 'COPY', 'COPY', 'RUN', 'RUN']);
  });

  it('produces the root filesystem docker would', () => {
    const rootfs = unpack('localhost/test/app:1.0');
    expect(readFileSync(join(rootfs, 'greeting'), 'utf8')).toBe('hello from x86_64\n');
    expect(readFileSync(join(rootfs, 'exec.txt'), 'utf8')).toBe('exec form\n');
    expect(readlinkSync(join(rootfs, 'data', 'link'))).toBe('/greeting');
    // COPY of a folder copies its contents; .dockerignore drops *.key; --chown by name
    expect(readFileSync(join(rootfs, 'srv/app/main.txt'), 'utf8')).toBe('main\n');
    expect(readFileSync(join(rootfs, 'srv/app/lib/util.txt'), 'utf8')).toBe('util\n');
    expect(() => statSync(join(rootfs, 'srv/app/secret.key'))).toThrow();
    const st = statSync(join(rootfs, 'srv/app/main.txt'));
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    const tool = statSync(join(rootfs, 'usr/local/bin/tool'));
    expect(tool.mode & 0o7777).toBe(0o755);
    expect([tool.uid, tool.gid]).toEqual([0, 0]);
    // the mount points of the build container left nothing behind
    expect(() => lstatSync(join(rootfs, 'etc/hosts'))).toThrow();
    expect(() => lstatSync(join(rootfs, 'etc/resolv.conf'))).toThrow();
  });

  it('rebuilds from the cache: every step CACHED, the same image ID', async () => {
    const first = await buildOnce();
    const again = await buildOnce();
    expect(again.result.imageId).toBe(first.result.imageId);
    const ran = again.events.filter((e) => e.type === 'step-completed' && e.index > 1 && ['RUN', 'COPY', 'WORKDIR'].some((k) => e.instruction.text.startsWith(k)));
    expect(ran).toEqual([]);
    expect(again.events.filter((e) => e.type === 'step-cached').length).toBe(5);
  });

  it('touching every file changes nothing; changing one file reruns its COPY and what follows', async () => {
    const first = await buildOnce();
    const future = new Date(Date.now() + 60_000);
    for (const f of ['app/main.txt', 'app/lib/util.txt', 'tool.sh']) utimesSync(join(context, f), future, future);
    const touched = await buildOnce();
    expect(touched.result.imageId).toBe(first.result.imageId);
    writeFileSync(join(context, 'tool.sh'), '#!/bin/sh\necho tool v2 "$@"\n');
    chmodSync(join(context, 'tool.sh'), 0o644);
    const changed = await buildOnce();
    expect(changed.result.imageId).not.toBe(first.result.imageId);
    const cached = changed.events.filter((e) => e.type === 'step-cached').map((e) => (e.type === 'step-cached' ? e.instruction.text.split(' ')[0] : ''));
    expect(cached).toEqual(['WORKDIR', 'COPY']);
  });

  it('fails a RUN with its exit code, location and output', async () => {
    writeFileSync(join(context, 'Dockerfile.fail'), `FROM ${base}\nRUN echo about to fail && exit 7\n`);
    const events: BuildEvent[] = [];
    await expect(build({ store, context, dockerfile: join(context, 'Dockerfile.fail'), onEvent: (e) => events.push(e) })).rejects.toMatchObject({
      code: 'BUILD_STEP_FAILED',
      details: { exitCode: 7, output: ['about to fail'], location: { start: { line: 2 } } },
    });
    expect(events.some((e) => e.type === 'step-failed')).toBe(true);
  });

  it('points any step error at its instruction (an unknown USER fails the RUN after it)', async () => {
    writeFileSync(join(context, 'Dockerfile.user'), `FROM ${base}\nUSER ghost\nRUN id\n`);
    await expect(build({ store, context, dockerfile: join(context, 'Dockerfile.user') })).rejects.toMatchObject({
      code: 'BUILD_USER_UNKNOWN',
      hint: expect.stringContaining('useradd'),
      details: { location: { start: { line: 3, column: 1 } }, instruction: 'RUN id' },
    });
  });

  it('ENTRYPOINT resets an inherited CMD but keeps one set earlier in the stage (docker build)', async () => {
    const dockerfileText = [
      `FROM ${base} AS withcmd`,
      'CMD ["serve"]',
      'ENTRYPOINT ["/bin/tool"]',
      'FROM withcmd',
      'ENTRYPOINT ["/bin/other"]',
      '',
    ].join('\n');
    const config = (ref: string) =>
      (JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${store.root}:${ref}`], { encoding: 'utf8' })) as { config: Record<string, unknown> }).config;
    await build({ store, context, dockerfileText, target: 'withcmd', tags: ['localhost/test/cmd:set'] });
    expect(config('localhost/test/cmd:set')).toMatchObject({ Entrypoint: ['/bin/tool'], Cmd: ['serve'] });
    await build({ store, context, dockerfileText, tags: ['localhost/test/cmd:inherited'] });
    const inherited = config('localhost/test/cmd:inherited');
    expect(inherited.Entrypoint).toEqual(['/bin/other']);
    expect(inherited.Cmd ?? null).toBeNull();
  });
});
