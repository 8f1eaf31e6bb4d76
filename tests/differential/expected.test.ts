import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';
import { loadTestImage, testImage } from '../support/test-images.js';
import { dir, expectedTree, file, hardlink, symlink } from './expected.js';
import { compareManifests, readManifest, type Manifest } from './manifest.js';

// What Buildah 1.28 cannot build, checked against trees written by hand from
// BuildKit's documented behaviour: strata's image must differ from the base
// image by exactly the entries each case lists.
describe('strata builds the hand-written trees of features Buildah lacks', () => {
  let work: string;
  let store: Store;
  let context: string;
  let base: Manifest;
  let server: Server;
  let serverUrl: string;
  const baseRef = 'localhost/differential/busybox:latest';
  const served = 'downloaded over http\n';

  beforeAll(async () => {
    work = mkdtempSync('/dev/shm/strata-differential-expected-');
    store = await Store.open(join(work, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), baseRef);
    base = unpackManifest(baseRef);
    context = join(work, 'ctx');
    for (const d of ['files/skip', 'a/b', 'a/d', 'x/y', 'conf']) mkdirSync(join(context, d), { recursive: true });
    writeFileSync(join(context, 'files/keep.txt'), 'keep\n');
    writeFileSync(join(context, 'files/drop.log'), 'drop\n');
    writeFileSync(join(context, 'files/skip/inner.txt'), 'inner\n');
    writeFileSync(join(context, 'a/b/c.txt'), 'c\n');
    writeFileSync(join(context, 'a/d/e.txt'), 'e\n');
    writeFileSync(join(context, 'x/y/z.txt'), 'z\n');
    writeFileSync(join(context, 'conf/settings.txt'), 'setting=1\n');
    writeFileSync(join(work, 'secret.txt'), 's3cr3t');
    server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'last-modified': 'Mon, 01 Jan 2024 00:00:00 GMT' });
      res.end(served);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  function unpackManifest(ref: string): Manifest {
    const out = join(work, `rootfs-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    const manifest = readManifest(out);
    rmSync(out, { recursive: true, force: true });
    return manifest;
  }

  async function buildTree(name: string, dockerfile: string, extra: Partial<Parameters<typeof build>[0]> = {}): Promise<Manifest> {
    const tag = `localhost/differential/expected-${name}:latest`;
    await build({ store, context, dockerfileText: dockerfile.startsWith('FROM ') ? dockerfile : `FROM ${baseRef}\n${dockerfile}`, tags: [tag], ...extra });
    return unpackManifest(tag);
  }

  it('heredocs: RUN scripts and stdin, COPY files with and without expansion', async () => {
    const tree = await buildTree(
      'heredoc',
      [
        'ARG WHO=world',
        'RUN <<EOF',
        'mkdir -p /h',
        'echo "hello $WHO" > /h/run-script',
        'EOF',
        'RUN <<EOT cat > /h/run-stdin',
        'two $((1+1))',
        'EOT',
        'COPY <<EOF /h/expanded',
        'greeting for ${WHO}',
        'EOF',
        'COPY <<"EOF" /h/verbatim',
        'kept ${WHO}',
        'EOF',
        'COPY --chmod=0755 <<A <<B /h/multi/',
        'a',
        'A',
        'b',
        'B',
        '',
      ].join('\n'),
    );
    const expected = expectedTree(base, [
      dir('/h'),
      file('/h/run-script', 'hello world\n'),
      file('/h/run-stdin', 'two 2\n'),
      file('/h/expanded', 'greeting for world\n'),
      file('/h/verbatim', 'kept ${WHO}\n'),
      dir('/h/multi'),
      file('/h/multi/A', 'a\n', { mode: '0755' }),
      file('/h/multi/B', 'b\n', { mode: '0755' }),
    ]);
    expect(compareManifests(tree, expected, ['strata', 'expected'])).toEqual([]);
  });

  it('COPY --link, --parents (with a /./ pivot) and --exclude', async () => {
    const tree = await buildTree(
      'copy-flags',
      [
        'COPY --link --chown=7:8 files/keep.txt /linked/',
        'COPY --parents a/b/c.txt a/d/e.txt /parents/',
        'COPY --parents ./x/./y/z.txt /pivot/',
        'COPY --exclude=*.log --exclude=skip files /excluded/',
        '',
      ].join('\n'),
    );
    const expected = expectedTree(base, [
      dir('/linked', { uid: 7, gid: 8 }), // a folder COPY creates takes the --chown owner
      file('/linked/keep.txt', 'keep\n', { uid: 7, gid: 8 }),
      dir('/parents'),
      dir('/parents/a'),
      dir('/parents/a/b'),
      file('/parents/a/b/c.txt', 'c\n'),
      dir('/parents/a/d'),
      file('/parents/a/d/e.txt', 'e\n'),
      dir('/pivot'),
      dir('/pivot/y'),
      file('/pivot/y/z.txt', 'z\n'),
      dir('/excluded'),
      file('/excluded/keep.txt', 'keep\n'),
    ]);
    expect(compareManifests(tree, expected, ['strata', 'expected'])).toEqual([]);
  });

  it('ADD --checksum of an http URL: verified, named from the URL, mode 0600', async () => {
    const digest = `sha256:${createHash('sha256').update(served).digest('hex')}`;
    const tree = await buildTree('checksum', `ADD --checksum=${digest} ${serverUrl}/files/tool.txt /downloads/\nADD ${serverUrl}/other /downloads/renamed\n`);
    const expected = expectedTree(base, [dir('/downloads'), file('/downloads/tool.txt', served, { mode: '0600' }), file('/downloads/renamed', served, { mode: '0600' })]);
    expect(compareManifests(tree, expected, ['strata', 'expected'])).toEqual([]);
  });

  it('RUN --mount: cache, tmpfs, secret, bind from the context and from a stage leave only what the command wrote elsewhere', async () => {
    const tree = await buildTree(
      'run-mounts',
      [
        `FROM ${baseRef} AS src`,
        'RUN echo staged > /staged',
        `FROM ${baseRef}`,
        'RUN mkdir /out',
        'RUN --mount=type=cache,target=/var/tmp echo cached > /var/tmp/c && cp /var/tmp/c /out/from-cache',
        'RUN --mount=type=tmpfs,target=/tmp echo scratch > /tmp/t && cp /tmp/t /out/from-tmpfs',
        'RUN --mount=type=secret,id=token,target=/root/token cat /root/token > /out/secret-length-$(wc -c < /root/token)',
        'RUN --mount=type=bind,source=conf,target=/home cat /home/settings.txt > /out/from-context',
        'RUN --mount=type=bind,from=src,source=/staged,target=/etc/passwd cat /etc/passwd > /out/from-stage',
        '',
      ].join('\n'),
      { secrets: { token: join(work, 'secret.txt') } },
    );
    const expected = expectedTree(base, [
      dir('/out'),
      file('/out/from-cache', 'cached\n'),
      file('/out/from-tmpfs', 'scratch\n'),
      file('/out/secret-length-6', 's3cr3t'),
      file('/out/from-context', 'setting=1\n'),
      file('/out/from-stage', 'staged\n'),
    ]);
    expect(compareManifests(tree, expected, ['strata', 'expected'])).toEqual([]);
  });
});
