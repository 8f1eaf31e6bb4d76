// The five packages as a user gets them: packed as pnpm packs them (workspace:
// dependencies become ^VERSION), installed from the tarballs into an empty
// folder with npm (third-party dependencies from the npm registry, no
// monorepo above it), and the installed `strata` command run: --version, then
// a real build (FROM an image, COPY, RUN in runc) into a store of its own.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '@strata/cache';
import { loadTestImage, testImage } from './support/test-images.js';

const execFileAsync = promisify(execFile);
// the first run on a machine downloads the third-party dependencies; later ones find them in npm's cache
jest.setTimeout(300_000);

const repo = resolve(__dirname, '..');
const PACKAGES = ['parser', 'cache', 'registry', 'builder', 'cli'];

describe('@strata/cli installed from packed tarballs', () => {
  let dir: string;
  let app: string;
  let strata: string;
  const version = (JSON.parse(readFileSync(join(repo, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string }).version;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-packed-');
    const tarballs = join(dir, 'tarballs');
    mkdirSync(tarballs);
    await Promise.all(PACKAGES.map((p) => execFileAsync('pnpm', ['pack', '--pack-destination', tarballs], { cwd: join(repo, 'packages', p) })));
    app = join(dir, 'app');
    mkdirSync(app);
    const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz')).map((f) => join(tarballs, f));
    await execFileAsync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...files], { cwd: app, maxBuffer: 1 << 24 });
    strata = join(app, 'node_modules', '.bin', 'strata');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs workspace: dependencies as versions and leaves the bundle out', async () => {
    const manifest = (name: string) => JSON.parse(readFileSync(join(app, 'node_modules', '@strata', name, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; bin?: Record<string, string> };
    expect(manifest('builder').dependencies['@strata/cache']).toBe(`^${version}`);
    expect(Object.values(manifest('cli').dependencies).some((v) => v.startsWith('workspace:'))).toBe(false);
    expect(manifest('cli').bin).toEqual({ strata: './bin/strata.js' });
    expect(readdirSync(join(app, 'node_modules', '@strata', 'cli', 'dist'))).not.toContain('bundle');
  });

  it('runs strata --version from the installed packages, not from this checkout', async () => {
    expect(realpathSync(strata)).toBe(join(app, 'node_modules', '@strata', 'cli', 'bin', 'strata.js'));
    const { stdout } = await execFileAsync(strata, ['--version'], { cwd: app, env: { PATH: process.env.PATH } });
    expect(stdout).toBe(`strata version ${version}\n`);
    const { stdout: resolved } = await execFileAsync(process.execPath, ['-p', "require.resolve('@strata/builder')"], { cwd: app });
    expect(resolved.trim()).toBe(join(app, 'node_modules', '@strata', 'builder', 'dist', 'index.js'));
  });

  it('builds an image with the installed CLI', async () => {
    const root = join(dir, 'store');
    await loadTestImage(await Store.open(root), testImage('busybox', 'amd64'), 'localhost/test/busybox:latest');
    const context = join(dir, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'hello.txt'), 'hello from a packed install\n');
    writeFileSync(join(context, 'Dockerfile'), 'FROM localhost/test/busybox:latest\nCOPY hello.txt /\nRUN cat /hello.txt > /copied.txt\n');
    const env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
    const { stdout } = await execFileAsync(strata, ['build', '-q', '-t', 'localhost/packed/app:1', context], { cwd: app, env });
    expect(stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { stdout: listed } = await execFileAsync(strata, ['images', '--format', 'json', 'localhost/packed/app'], { cwd: app, env });
    expect(listed).toContain(stdout.trim().slice('sha256:'.length, 'sha256:'.length + 12));
    // the RUN ran: its layer holds the copy
    const { stdout: files } = await execFileAsync(strata, ['run', '--rm', '--network', 'none', 'localhost/packed/app:1', 'cat', '/copied.txt'], { cwd: app, env });
    expect(files).toBe('hello from a packed install\n');
  });
});
