import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, parseBuildContextFlag, parseNamedContext, type BuildEvent, type NamedContext } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// --build-context NAME=VALUE with each kind of VALUE (a folder, docker-image://,
// oci-layout://, a tarball URL) through FROM, COPY --from and RUN --mount
// from=, in BuildKit's order: a named context before a stage or an image of
// that name. Keys follow what the context resolved to.
describe('strata build: named build contexts', () => {
  let dir: string;
  let store: Store;
  let context: string;
  let server: Server;
  let tarballUrl: string;
  const base = 'localhost/test/busybox:latest';
  const busybox = testImage('busybox', 'amd64');

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-named-contexts-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, busybox, base);
    context = join(dir, 'ctx');
    mkdirSync(context, { recursive: true });
    // a folder context with its own .dockerignore
    const src = join(dir, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'hello.txt'), 'hello from a folder\n');
    writeFileSync(join(src, 'sub', 'deep.txt'), 'deep\n');
    writeFileSync(join(src, 'secret.key'), 'never\n');
    writeFileSync(join(src, '.dockerignore'), '*.key\n');
    // a tarball served on the loopback (strata downloads on the host)
    const web = join(dir, 'web');
    mkdirSync(web, { recursive: true });
    writeFileSync(join(web, 'page.html'), '<p>from a tarball</p>\n');
    execFileSync('tar', ['-czf', join(dir, 'web.tar.gz'), '-C', web, '.']);
    const tarball = readFileSync(join(dir, 'web.tar.gz'));
    server = createServer((req, res) => {
      if (req.url === '/web.tar.gz') res.writeHead(200, { 'content-type': 'application/gzip' }).end(tarball);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    tarballUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/web.tar.gz`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  let counter = 0;
  async function buildText(text: string, namedContexts: Record<string, NamedContext>) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/named:${(counter += 1)}`;
    const result = await build({ store, context, dockerfileText: text, tags: [tag], namedContexts, onEvent: (e) => events.push(e) });
    return { tag, events, result };
  }
  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${(counter += 1)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }
  const ran = (events: BuildEvent[], stage: string) => events.filter((e) => e.type === 'step-completed' && e.stage === stage && e.index > 1).length;
  const cached = (events: BuildEvent[], stage: string) => events.filter((e) => e.type === 'step-cached' && e.stage === stage).length;

  it('reads VALUE as BuildKit does', () => {
    expect(parseNamedContext('./src', { cwd: '/w' })).toEqual({ type: 'local', path: '/w/src' });
    expect(parseNamedContext('docker-image://alpine:3.19@sha256:' + 'a'.repeat(64))).toEqual({ type: 'image', reference: 'alpine:3.19@sha256:' + 'a'.repeat(64) });
    expect(parseNamedContext('oci-layout:///l/app:v1')).toEqual({ type: 'oci-layout', path: '/l/app', tag: 'v1' });
    expect(parseNamedContext('oci-layout://l@sha256:' + 'b'.repeat(64), { cwd: '/w' })).toEqual({ type: 'oci-layout', path: '/w/l', digest: 'sha256:' + 'b'.repeat(64) });
    expect(parseNamedContext('https://example.com/src.tar.gz')).toEqual({ type: 'url', url: 'https://example.com/src.tar.gz' });
    expect(() => parseNamedContext('target:base')).toThrow(expect.objectContaining({ code: 'BUILD_NAMED_CONTEXT_INVALID' }));
    expect(() => parseBuildContextFlag('=x')).toThrow(expect.objectContaining({ code: 'BUILD_NAMED_CONTEXT_INVALID' }));
    expect(() => parseBuildContextFlag('Bad Name=x')).toThrow(expect.objectContaining({ code: 'BUILD_NAMED_CONTEXT_INVALID' }));
  });

  it('a folder: COPY --from reads it in place (its .dockerignore applies), RUN --mount from= and FROM see it whole', async () => {
    const src: NamedContext = { type: 'local', path: join(dir, 'src') };
    const text = [
      `FROM ${base}`,
      'COPY --from=src /hello.txt /copied.txt',
      'RUN --mount=from=src,target=/m cat /m/sub/deep.txt > /mounted.txt && ls /m > /listing.txt',
      'FROM src AS tree',
      `FROM ${base}`,
      'COPY --from=0 /copied.txt /mounted.txt /',
      'COPY --from=tree / /tree/',
    ].join('\n');
    const first = await buildText(text, { src });
    const root = unpack(first.tag);
    expect(readFileSync(join(root, 'copied.txt'), 'utf8')).toBe('hello from a folder\n');
    expect(readFileSync(join(root, 'mounted.txt'), 'utf8')).toBe('deep\n');
    expect(readFileSync(join(root, 'tree/sub/deep.txt'), 'utf8')).toBe('deep\n');
    expect(() => readFileSync(join(root, 'tree/secret.key'))).toThrow();
    // the same folder: every step a hit
    const again = await buildText(text, { src });
    expect(again.result.imageId).toBe(first.result.imageId);
    expect(ran(again.events, '0') + ran(again.events, '2')).toBe(0);
    // a changed file: the steps that read it run again
    writeFileSync(join(dir, 'src', 'hello.txt'), 'changed\n');
    const changed = await buildText(text, { src });
    expect(changed.result.imageId).not.toBe(first.result.imageId);
    expect(readFileSync(join(unpack(changed.tag), 'copied.txt'), 'utf8')).toBe('changed\n');
  });

  it('a named context with a stage’s name replaces the stage, which is not built', async () => {
    const text = [`FROM ${base} AS base`, 'RUN echo from-the-stage > /who', 'FROM base', 'RUN cat /who 2>/dev/null || echo no-stage > /who'].join('\n');
    const plain = await buildText(text, {});
    expect(readFileSync(join(unpack(plain.tag), 'who'), 'utf8')).toBe('from-the-stage\n');
    const replaced = await buildText(text, { base: { type: 'image', reference: base } });
    expect(replaced.events.some((e) => e.type === 'step-started' && e.stage === 'base')).toBe(false);
    expect(readFileSync(join(unpack(replaced.tag), 'who'), 'utf8')).toBe('no-stage\n');
  });

  it('docker-image:// names an image by reference; the lookup takes the familiar name without :latest', async () => {
    const text = 'FROM docker.io/library/alpine:latest\nCOPY --from=alpine /bin/busybox /copied-busybox\n';
    const { result, events } = await buildText(text, { alpine: { type: 'image', reference: base } });
    const from = events.find((e) => e.type === 'step-completed' && e.index === 1);
    expect(from).toBeDefined();
    const config = await store.readConfig((await store.readManifest(result.manifestDigest as never)).config.digest);
    expect(config.rootfs.diff_ids[0]).toBe((JSON.parse(readFileSync(`${busybox.layout}.json`, "utf8")) as { diffId: string }).diffId);
  });

  it('oci-layout:// takes an image of a layout folder, by tag or digest, into the store untagged', async () => {
    const before = (await store.images()).length;
    const byTag = await buildText('FROM base\nRUN echo layout > /l\n', { base: { type: 'oci-layout', path: busybox.layout, tag: 'latest' } });
    const byDigest = await buildText('FROM base\nRUN echo layout > /l\n', { base: { type: 'oci-layout', path: busybox.layout, digest: busybox.manifestDigest as never } });
    expect(byDigest.result.imageId).toBe(byTag.result.imageId);
    expect(cached(byDigest.events, '0')).toBe(1);
    expect((await store.images()).length).toBe(before + 2);
    await expect(buildText('FROM base\n', { base: { type: 'oci-layout', path: busybox.layout, tag: 'nope' } })).rejects.toMatchObject({ code: 'BUILD_NAMED_CONTEXT_FAILED' });
  });

  it('an http(s) URL of a tarball is downloaded, extracted and read as a folder', async () => {
    const text = `FROM ${base}\nCOPY --from=web /page.html /page.html\n`;
    const { tag } = await buildText(text, { web: { type: 'url', url: tarballUrl } });
    expect(readFileSync(join(unpack(tag), 'page.html'), 'utf8')).toBe('<p>from a tarball</p>\n');
    await expect(buildText(text, { web: { type: 'url', url: tarballUrl.replace('web.tar.gz', 'missing') } })).rejects.toMatchObject({ code: 'BUILD_NAMED_CONTEXT_FAILED' });
  });
});
