// COPY/ADD against contexts, Dockerfiles and base images that try to reach the
// host: destinations through image symlinks stay inside the image, sources
// through symlinks (in the context or in a source stage) stay inside the
// context or the stage, and nothing an earlier source made is written
// through. A sentinel folder outside everything must never change, and no
// host file may show up in an image.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType, Store } from '@strata/cache';
import { build } from '@strata/builder';
import { evilTar, type EvilEntry } from './support/evil-tar.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(120_000);

const base = 'localhost/test/busybox:latest';
let dir: string;
let sentinel: string;
let store: Store;
let counter = 0;

const SECRET = 'host secret: never in an image\n';

function sentinelState(): string {
  const walk = (d: string): string[] =>
    readdirSync(d).sort().flatMap((name) => {
      const p = join(d, name);
      const st = lstatSync(p);
      const line = `${p.slice(sentinel.length)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs}`;
      return st.isDirectory() ? [line, ...walk(p)] : [line];
    });
  return [`/ ${statSync(sentinel).mtimeMs}`, ...walk(sentinel)].join('\n');
}
let sentinelBefore: string;

/** An image of one layer made of these entries, tagged `ref`. */
async function layerImage(entries: EvilEntry[], ref: string): Promise<void> {
  const tar = evilTar(entries);
  const put = await store.putBlob(gzipSync(tar));
  const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const config = await store.putJson({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } }, MediaType.ociConfig);
  const manifest = await store.putJson(
    { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [{ mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size }] },
    MediaType.ociManifest,
  );
  await store.tag(ref, manifest);
}

function newContext(files: Record<string, string>, links: Record<string, string> = {}): string {
  const context = mkdtempSync(join(dir, 'ctx-'));
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(join(context, name, '..'), { recursive: true });
    writeFileSync(join(context, name), body);
  }
  for (const [name, target] of Object.entries(links)) {
    mkdirSync(join(context, name, '..'), { recursive: true });
    symlinkSync(target, join(context, name));
  }
  return context;
}

async function buildText(context: string, text: string): Promise<string> {
  const tag = `localhost/sec/copy:${(counter += 1)}`;
  await build({ store, context, dockerfileText: text, tags: [tag] });
  return tag;
}

function unpack(tag: string): string {
  const out = join(dir, `rootfs-${(counter += 1)}`);
  execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${tag}`, out], { stdio: 'pipe' });
  return out;
}

/** Every regular file of a tree whose content is the host secret. */
function leaks(root: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size === SECRET.length && readFileSync(p, 'utf8') === SECRET) found.push(p.slice(root.length));
    }
  };
  walk(root);
  return found;
}

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-sec-copy-');
  sentinel = join(dir, 'host-dir');
  mkdirSync(join(sentinel, 'sub'), { recursive: true });
  writeFileSync(join(sentinel, 'secret'), SECRET);
  writeFileSync(join(sentinel, 'sub', 'secret'), SECRET);
  sentinelBefore = sentinelState();
  store = await Store.open(join(dir, 'store'));
  await loadTestImage(store, testImage('busybox', 'amd64'), base);
  await layerImage(
    [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/evil', type: 'symlink', linkname: sentinel },
      { name: 'etc/up', type: 'symlink', linkname: '../../../../../../../../..' },
      { name: 'data', type: 'symlink', linkname: sentinel },
      { name: 'rel', type: 'symlink', linkname: `../../../../../../../..${sentinel}` },
      { name: 'loop', type: 'symlink', linkname: 'loop' },
    ],
    'localhost/sec/links:1',
  );
});

afterEach(() => {
  expect(sentinelState()).toBe(sentinelBefore);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('COPY/ADD destinations', () => {
  it('a destination through an image symlink to a host path lands inside the image, at that path', async () => {
    const context = newContext({ x: 'x\n' });
    const tag = await buildText(context, 'FROM localhost/sec/links:1\nCOPY x /etc/evil/x\nCOPY x /etc/up/escaped\nCOPY x /rel/sub/y\n');
    const rootfs = unpack(tag);
    // the image's own /etc/evil is still the symlink; the file is in the image under the link's target
    expect(lstatSync(join(rootfs, 'etc', 'evil')).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(rootfs, sentinel, 'x'), 'utf8')).toBe('x\n');
    expect(readFileSync(join(rootfs, 'escaped'), 'utf8')).toBe('x\n');
    expect(readFileSync(join(rootfs, sentinel, 'sub', 'y'), 'utf8')).toBe('x\n');
    expect(existsSync(join(sentinel, 'x'))).toBe(false);
    expect(existsSync('/escaped')).toBe(false);
  });

  it('a symlink loop in the destination is an error, not a hang', async () => {
    const context = newContext({ x: 'x\n' });
    await expect(buildText(context, 'FROM localhost/sec/links:1\nCOPY x /loop/x\n')).rejects.toMatchObject({ code: expect.stringMatching(/^BUILD_/) });
  });

  it('an earlier source that makes a symlink out is replaced, never written through, by a later one', async () => {
    // a/sub -> the host folder; b/sub/secret would be written through it
    const context = newContext({ 'b/sub/secret': 'overwritten\n', 'c/secret': 'overwritten\n', 'heredoc-target': 'x' }, { 'a/sub': sentinel, 'a2/secret': join(sentinel, 'secret') });
    const tag = await buildText(context, 'FROM scratch\nCOPY a/ b/ /dest/\nCOPY a2/ c/ /dest2/\n');
    const rootfs = unpack(tag);
    expect(lstatSync(join(rootfs, 'dest', 'sub')).isDirectory()).toBe(true);
    expect(readFileSync(join(rootfs, 'dest', 'sub', 'secret'), 'utf8')).toBe('overwritten\n');
    expect(readFileSync(join(rootfs, 'dest2', 'secret'), 'utf8')).toBe('overwritten\n');
  });

  it('a heredoc named like a symlink source replaces the link instead of writing through it', async () => {
    // the folder source copies its symlink as a symlink; the heredoc of the same name comes after it
    const context = newContext({}, { 'dir/evil': join(sentinel, 'secret') });
    const tag = await buildText(context, 'FROM scratch\nCOPY dir/ <<evil /d/\nmine\nevil\n');
    const rootfs = unpack(tag);
    expect(readFileSync(join(rootfs, 'd', 'evil'), 'utf8')).toBe('mine\n');
  });
});

describe('COPY/ADD sources', () => {
  it.each([
    ['a source that climbs out', {}, 'COPY ../../.. /x'],
    ['a source symlink to a host folder', { link: '' }, 'COPY link /x'],
    ['a file through a context symlink to a host folder', { link: '' }, 'COPY link/secret /x'],
    ['a pattern through a context symlink to a host folder', { link: '' }, 'COPY link/* /x/'],
    ['a nested file through a context symlink', { link: '' }, 'COPY link/sub/secret /x'],
    ['ADD of a file through a context symlink', { link: '' }, 'ADD link/secret /x'],
  ])('refuses %s, or copies nothing from the host', async (_name, links, line) => {
    const context = newContext({ ok: 'ok\n' }, Object.fromEntries(Object.keys(links).map((k) => [k, sentinel])));
    const outcome = await buildText(context, `FROM scratch\n${line}\n`).then(
      (tag) => ({ tag }),
      (error: unknown) => ({ error }),
    );
    if ('error' in outcome) expect(outcome.error).toMatchObject({ code: 'BUILD_CONTEXT_PATH' });
    else expect(leaks(unpack(outcome.tag))).toEqual([]);
  });

  it('a relative context symlink that stays inside is followed', async () => {
    const context = newContext({ 'real/file': 'inside\n' }, { inside: 'real' });
    const tag = await buildText(context, 'FROM scratch\nCOPY inside/file /f\n');
    expect(readFileSync(join(unpack(tag), 'f'), 'utf8')).toBe('inside\n');
  });

  it('COPY --from a stage follows its symlinks inside the stage root, never to the host', async () => {
    const context = newContext({ x: 'x\n' });
    const outcomes = [];
    for (const line of ['COPY --from=src /data/secret /got', 'COPY --from=src /rel/sub/secret /got', 'COPY --from=src /etc/up/../../../../etc/evil/secret /got', 'COPY --from=src /data/ /got/']) {
      outcomes.push(
        await buildText(context, `FROM localhost/sec/links:1 AS src\nFROM scratch\n${line}\n`).then(
          (tag) => ({ line, leaks: leaks(unpack(tag)) }),
          (error: unknown) => ({ line, code: (error as { code?: string }).code }),
        ),
      );
    }
    // the stage has no such files: each is not found, or copies nothing of the host's
    for (const o of outcomes) {
      if ('leaks' in o) expect(o).toEqual({ line: o.line, leaks: [] });
      else expect(o).toEqual({ line: o.line, code: 'BUILD_CONTEXT_PATH' });
    }
  });

  it('RUN --mount=type=bind through a context symlink out does not expose the host folder', async () => {
    const context = newContext({ ok: 'ok\n' }, { link: sentinel });
    const outcome = await buildText(context, `FROM ${base}\nRUN --mount=type=bind,source=link/sub,target=/m cat /m/secret > /seen || true\n`).then(
      (tag) => ({ tag }),
      (error: unknown) => ({ error }),
    );
    if ('error' in outcome) expect(outcome.error).toMatchObject({ code: 'BUILD_CONTEXT_PATH' });
    else expect(leaks(unpack(outcome.tag))).toEqual([]);
  });
});
