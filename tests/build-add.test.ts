import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';
import { tarBytes } from './support/tar-bytes.js';

// ADD with BuildKit's semantics, on real builds over busybox: local tar
// archives (any compression, told by content) are extracted safely into the
// destination; http(s) URLs are downloaded (with --checksum verified and used
// as the cache key), never extracted.
describe('strata build: ADD', () => {
  let dir: string;
  let store: Store;
  let context: string;
  /** A folder on the host that unsafe archives aim at; must stay empty. */
  let hostTarget: string;
  let server: Server;
  let baseUrl: string;
  const requests: string[] = [];
  const files = new Map<string, { body: Buffer; lastModified?: string }>();
  const base = 'localhost/test/busybox:latest';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-add-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    hostTarget = join(dir, 'host-target');
    mkdirSync(hostTarget);
    // a payload tree, archived with GNU tar and compressed four ways; names say nothing of the format
    const payload = join(dir, 'payload');
    mkdirSync(join(payload, 'app', 'lib'), { recursive: true });
    writeFileSync(join(payload, 'app', 'main.txt'), 'main\n');
    writeFileSync(join(payload, 'app', 'lib', 'util.txt'), 'util\n');
    execFileSync('chmod', ['0750', join(payload, 'app', 'lib')]);
    mkdirSync(context);
    const plain = join(context, 'plain');
    execFileSync('tar', ['-cf', plain, '--owner=1234', '--group=2345', '--numeric-owner', '-C', payload, 'app']);
    const tarBody = readFileSync(plain);
    writeFileSync(join(context, 'gz'), execFileSync('gzip', ['-c'], { input: tarBody }));
    writeFileSync(join(context, 'bz'), execFileSync('bzip2', ['-c'], { input: tarBody }));
    writeFileSync(join(context, 'x'), execFileSync('xz', ['-c'], { input: tarBody }));
    writeFileSync(join(context, 'zs'), execFileSync('zstd', ['-q', '-c'], { input: tarBody }));
    // compressed, but not a tar: copied as a file despite its name
    writeFileSync(join(context, 'notes.tar.gz'), execFileSync('gzip', ['-c'], { input: 'just text\n' }));
    // implied parents (no folder entries): the image's /tmp and /home/user keep their mode and owner
    writeFileSync(
      join(context, 'implied'),
      tarBytes([
        { name: 'tmp/drop.txt', data: 'dropped\n' },
        { name: 'home/user/notes.txt', data: 'notes\n', uid: 1000, gid: 1000 },
      ]),
    );
    // replaces what the destination has: a file over a file, a folder over a file
    writeFileSync(join(context, 'old.txt'), 'old\n');
    writeFileSync(
      join(context, 'replace'),
      tarBytes([
        { name: 'config.txt', data: 'new\n' },
        { name: 'thing', type: 'directory', mode: 0o700 },
        { name: 'thing/inside.txt', data: 'inside\n' },
        { name: 'pipe', type: 'fifo', mode: 0o640 },
        { name: 'hard.txt', type: 'link', linkname: 'config.txt' },
      ]),
    );
    // over image symlinks: an implied folder is written through (docker's untar), one with its own entry replaces it
    writeFileSync(
      join(context, 'over-links'),
      tarBytes([
        { name: 'lnk/implied.txt', data: 'through\n' },
        { name: 'lnk2', type: 'directory', mode: 0o755 },
        { name: 'lnk2/own.txt', data: 'own\n' },
      ]),
    );
    // unsafe archives
    writeFileSync(join(context, 'dotdot'), tarBytes([{ name: 'ok.txt', data: 'ok\n' }, { name: '../../../../escape.txt', data: 'escaped\n' }]));
    writeFileSync(join(context, 'absolute'), tarBytes([{ name: `${hostTarget}/abs.txt`, data: 'escaped\n' }]));
    writeFileSync(
      join(context, 'through-link'),
      tarBytes([
        { name: 'out', type: 'symlink', linkname: hostTarget },
        { name: 'out/pwned.txt', data: 'escaped\n' },
      ]),
    );
    writeFileSync(
      join(context, 'hardlink-out'),
      tarBytes([{ name: 'passwd-link', type: 'link', linkname: '../../../../etc/passwd' }]),
    );
    // a symlink that points out but is never written through is just a symlink in the image
    writeFileSync(join(context, 'dangling'), tarBytes([{ name: 'up', type: 'symlink', linkname: '../../../../etc' }]));

    files.set('/files/tool.txt', { body: Buffer.from('downloaded tool\n'), lastModified: 'Wed, 01 Mar 2023 10:00:00 GMT' });
    files.set('/files/app.tar', { body: tarBody });
    files.set('/files/moving.txt', { body: Buffer.from('version 1\n') });
    server = createServer((req, res) => {
      requests.push(req.url ?? '');
      const file = files.get(req.url ?? '');
      if (file === undefined) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-length': file.body.length, ...(file.lastModified === undefined ? {} : { 'last-modified': file.lastModified }) });
      res.end(file.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  let counter = 0;
  async function buildText(text: string) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/add:${(counter += 1)}`;
    await build({ store, context, dockerfileText: text, tags: [tag], onEvent: (e) => events.push(e) });
    return { tag, events };
  }
  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${(counter += 1)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }
  const sha256 = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

  it('extracts local tar archives, uncompressed, gzip, bzip2, xz and zstd, told by content', async () => {
    const { tag } = await buildText(
      `FROM ${base}\nADD plain /t/plain\nADD gz /t/gz/\nADD bz /t/bz\nADD x /t/x\nADD zs /t/zs\nADD notes.tar.gz /t/\n`,
    );
    const rootfs = unpack(tag);
    for (const kind of ['plain', 'gz', 'bz', 'x', 'zs']) {
      expect(readFileSync(join(rootfs, 't', kind, 'app/main.txt'), 'utf8')).toBe('main\n');
      expect(readFileSync(join(rootfs, 't', kind, 'app/lib/util.txt'), 'utf8')).toBe('util\n');
      // the archive's modes and owners are kept (no --chown)
      const lib = statSync(join(rootfs, 't', kind, 'app/lib'));
      expect(lib.mode & 0o7777).toBe(0o750);
      expect([lib.uid, lib.gid]).toEqual([1234, 2345]);
    }
    // a gzip file that is not a tar is copied as it is
    expect(execFileSync('gzip', ['-dc', join(rootfs, 't/notes.tar.gz')], { encoding: 'utf8' })).toBe('just text\n');
  });

  it('ADD --chown owns every extracted entry (BuildKit ≥ 0.23); COPY never extracts; --unpack=false copies', async () => {
    const { tag } = await buildText(`FROM ${base}\nADD --chown=user:user gz /owned/\nCOPY gz /copied/gz\nADD --unpack=false gz /kept/gz\n`);
    const rootfs = unpack(tag);
    for (const p of ['owned/app', 'owned/app/lib', 'owned/app/main.txt', 'owned/app/lib/util.txt']) {
      const st = lstatSync(join(rootfs, p));
      expect([p, st.uid, st.gid]).toEqual([p, 1000, 1000]);
    }
    expect(readFileSync(join(rootfs, 'copied/gz'))).toEqual(readFileSync(join(context, 'gz')));
    expect(readFileSync(join(rootfs, 'kept/gz'))).toEqual(readFileSync(join(context, 'gz')));
  });

  it('implied parent folders keep the image’s mode and owner; entries replace what the destination has', async () => {
    const { tag } = await buildText(
      `FROM ${base}\nCOPY old.txt /opt/app/config.txt\nCOPY old.txt /opt/app/thing\nADD implied /\nADD replace /opt/app\n`,
    );
    const rootfs = unpack(tag);
    expect(readFileSync(join(rootfs, 'tmp/drop.txt'), 'utf8')).toBe('dropped\n');
    expect(statSync(join(rootfs, 'tmp')).mode & 0o7777).toBe(0o1777);
    const home = statSync(join(rootfs, 'home/user'));
    expect([home.uid, home.gid, home.mode & 0o7777]).toEqual([1000, 1000, 0o755]);
    expect(readFileSync(join(rootfs, 'opt/app/config.txt'), 'utf8')).toBe('new\n');
    expect(statSync(join(rootfs, 'opt/app/thing')).isDirectory()).toBe(true);
    expect(statSync(join(rootfs, 'opt/app/thing')).mode & 0o7777).toBe(0o700);
    expect(readFileSync(join(rootfs, 'opt/app/thing/inside.txt'), 'utf8')).toBe('inside\n');
    // fifos and hard links inside the archive come through
    const pipe = lstatSync(join(rootfs, 'opt/app/pipe'));
    expect([pipe.isFIFO(), pipe.mode & 0o7777]).toEqual([true, 0o640]);
    expect(statSync(join(rootfs, 'opt/app/hard.txt')).ino).toBe(statSync(join(rootfs, 'opt/app/config.txt')).ino);
  });

  it('writes an implied folder through an image symlink (inside the image); a folder entry replaces the symlink', async () => {
    const { tag } = await buildText(`FROM ${base}\nRUN mkdir -p /real /real2 && ln -s /real /lnk && ln -s real2 /lnk2\nADD over-links /\n`);
    const rootfs = unpack(tag);
    expect(readlinkSync(join(rootfs, 'lnk'))).toBe('/real');
    expect(readFileSync(join(rootfs, 'real/implied.txt'), 'utf8')).toBe('through\n');
    expect(lstatSync(join(rootfs, 'lnk2')).isDirectory()).toBe(true);
    expect(readFileSync(join(rootfs, 'lnk2/own.txt'), 'utf8')).toBe('own\n');
    expect(readdirSync(join(rootfs, 'real2'))).toEqual([]);
  });

  it.each([
    ['dotdot', /climbs out/],
    ['absolute', /absolute/],
    ['through-link', /symlink/],
    ['hardlink-out', /climbs out/],
  ])('refuses an unsafe archive (%s) and leaves the host untouched', async (name, detail) => {
    await expect(buildText(`FROM ${base}\nADD ${name} /x/\n`)).rejects.toMatchObject({
      code: 'BUILD_ARCHIVE_UNSAFE',
      message: expect.stringMatching(detail),
    });
    expect(readdirSync(hostTarget)).toEqual([]);
    expect(existsSync(join(dir, 'escape.txt'))).toBe(false);
    expect(existsSync('/escape.txt')).toBe(false);
  });

  it.each(['gz', 'x'])('fails a damaged archive (%s, cut short) with BUILD_ARCHIVE_INVALID', async (name) => {
    const whole = readFileSync(join(context, name));
    writeFileSync(join(context, `${name}-cut`), whole.subarray(0, Math.floor(whole.length * 0.6)));
    await expect(buildText(`FROM ${base}\nADD ${name}-cut /cut/\n`)).rejects.toMatchObject({ code: 'BUILD_ARCHIVE_INVALID' });
  });

  it('keeps a symlink that points out when nothing is written through it', async () => {
    const { tag } = await buildText(`FROM ${base}\nADD dangling /d/\n`);
    expect(readlinkSync(join(unpack(tag), 'd/up'))).toBe('../../../../etc');
  });

  it('downloads a URL with --checksum: name from the URL, mode 0600, mtime from Last-Modified; a rebuild is CACHED without a download', async () => {
    const url = `${baseUrl}/files/tool.txt`;
    const digest = sha256('downloaded tool\n');
    const text = `FROM ${base}\nADD --checksum=${digest} ${url} /dl/\n`;
    const before = requests.length;
    const first = await buildText(text);
    expect(requests.length - before).toBe(1);
    const rootfs = unpack(first.tag);
    expect(readFileSync(join(rootfs, 'dl/tool.txt'), 'utf8')).toBe('downloaded tool\n');
    const st = statSync(join(rootfs, 'dl/tool.txt'));
    expect(st.mode & 0o7777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([0, 0]);
    expect(st.mtime.toISOString()).toBe('2023-03-01T10:00:00.000Z');
    const again = await buildText(text);
    expect(requests.length - before).toBe(1);
    expect(again.events.filter((e) => e.type === 'step-cached').map((e) => (e.type === 'step-cached' ? e.instruction.text : ''))).toEqual([
      `ADD --checksum=${digest} ${url} /dl/`,
    ]);
  });

  it('fails a wrong --checksum naming the expected and the actual digest', async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    await expect(buildText(`FROM ${base}\nADD --checksum=${wrong} ${baseUrl}/files/tool.txt /dl/\n`)).rejects.toMatchObject({
      code: 'BUILD_CHECKSUM_MISMATCH',
      message: expect.stringContaining(`expected ${wrong}, got ${sha256('downloaded tool\n')}`),
    });
  });

  it('a URL is never extracted; without --checksum the key is the downloaded content', async () => {
    const first = await buildText(`FROM ${base}\nADD ${baseUrl}/files/app.tar /dl/app.tar\nADD --chmod=0644 ${baseUrl}/files/moving.txt /dl/moving\n`);
    const rootfs = unpack(first.tag);
    expect(readFileSync(join(rootfs, 'dl/app.tar'))).toEqual(readFileSync(join(context, 'plain')));
    expect(statSync(join(rootfs, 'dl/moving')).mode & 0o7777).toBe(0o644);
    const text = `FROM ${base}\nADD ${baseUrl}/files/moving.txt /dl/moving\n`;
    await buildText(text);
    const same = await buildText(text);
    expect(same.events.some((e) => e.type === 'step-cached')).toBe(true);
    files.set('/files/moving.txt', { body: Buffer.from('version 2\n') });
    const changed = await buildText(text);
    expect(changed.events.some((e) => e.type === 'step-cached')).toBe(false);
    expect(readFileSync(join(unpack(changed.tag), 'dl/moving'), 'utf8')).toBe('version 2\n');
  });

  it('reports a failed download; git sources need ADD, and an ssh one the SSH agent (tests/build-add-git.test.ts has the rest)', async () => {
    await expect(buildText(`FROM ${base}\nADD ${baseUrl}/files/missing.txt /dl/\n`)).rejects.toMatchObject({
      code: 'BUILD_DOWNLOAD_FAILED',
      message: expect.stringContaining('404'),
    });
    await expect(buildText(`FROM ${base}\nCOPY https://github.com/moby/buildkit.git /src\n`)).rejects.toMatchObject({ code: 'BUILD_INVALID_INSTRUCTION' });
    await expect(buildText(`FROM ${base}\nADD git@github.com:moby/buildkit.git /src\n`)).rejects.toMatchObject({
      code: 'BUILD_SSH_MISSING',
      hint: expect.stringContaining('--ssh default'),
    });
  });

  it('ADD --exclude leaves out matching files', async () => {
    mkdirSync(join(context, 'tree', 'sub'), { recursive: true });
    writeFileSync(join(context, 'tree', 'keep.txt'), 'keep\n');
    writeFileSync(join(context, 'tree', 'drop.log'), 'drop\n');
    writeFileSync(join(context, 'tree', 'sub', 'deep.log'), 'drop\n');
    const { tag } = await buildText(`FROM ${base}\nADD --exclude=*.log --exclude=**/*.log tree /tree/\n`);
    const rootfs = unpack(tag);
    expect(readdirSync(join(rootfs, 'tree')).sort()).toEqual(['keep.txt', 'sub']);
    expect(readdirSync(join(rootfs, 'tree', 'sub'))).toEqual([]);
  });
});
