// bin/strata's launcher: it runs the bundle (packages/cli/dist/bundle/strata.cjs)
// with a V8 code cache beside it, and falls back to the packages' own modules
// when a package was compiled after the bundle or STRATA_NO_BUNDLE=1. Tested on
// a copy of the launcher and the bundle laid out as in the repository (without
// packages/cli/dist/index.js, so that choosing the fallback shows as an
// error), so that other tests running bin/strata at the same time do not race
// with the cache file this test deletes and corrupts.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const repo = join(__dirname, '..');
const PACKAGES = ['parser', 'cache', 'registry', 'builder', 'cli'];
const version = (JSON.parse(readFileSync(join(repo, 'packages', 'cli', 'package.json'), 'utf8')) as { version: string }).version;

describe('bin/strata launcher', () => {
  let tree: string;
  let cacheFile: string;
  const run = (env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [join(tree, 'bin', 'strata'), '--version'], { encoding: 'utf8', env: { ...process.env, ...env } });

  beforeEach(() => {
    tree = mkdtempSync('/dev/shm/strata-launcher-');
    mkdirSync(join(tree, 'bin'));
    copyFileSync(join(repo, 'bin', 'strata'), join(tree, 'bin', 'strata'));
    // the root package.json says ES module; bin/package.json makes the launcher CommonJS, as in the repository
    copyFileSync(join(repo, 'package.json'), join(tree, 'package.json'));
    copyFileSync(join(repo, 'bin', 'package.json'), join(tree, 'bin', 'package.json'));
    const bundleDir = join(tree, 'packages', 'cli', 'dist', 'bundle');
    mkdirSync(bundleDir, { recursive: true });
    copyFileSync(join(repo, 'packages', 'cli', 'dist', 'bundle', 'strata.cjs'), join(bundleDir, 'strata.cjs'));
    symlinkSync(join(repo, 'packages', 'cli', 'node_modules'), join(tree, 'packages', 'cli', 'node_modules'));
    const old = new Date(Date.now() - 60_000);
    for (const p of PACKAGES) {
      const info = join(tree, 'packages', p, 'dist', '.tsbuildinfo');
      mkdirSync(join(info, '..'), { recursive: true });
      writeFileSync(info, '{}');
      utimesSync(info, old, old);
    }
    cacheFile = join(bundleDir, 'strata.cjs.cache');
  });
  afterEach(() => rmSync(tree, { recursive: true, force: true }));

  it('runs the bundle and leaves a code cache that the next run uses', () => {
    expect(existsSync(cacheFile)).toBe(false);
    const first = run();
    expect(first.stderr).toBe('');
    expect(first.stdout.trim()).toContain(version);
    expect(existsSync(cacheFile)).toBe(true);
    const written = readFileSync(cacheFile);
    expect(written.length).toBeGreaterThan(10_000);
    const second = run();
    expect(second.stdout).toBe(first.stdout);
    // accepted by V8: not rewritten
    expect(readFileSync(cacheFile).equals(written)).toBe(true);
  });

  it('a build rewrites a cache a lighter command made (what a run compiled is what the cache holds)', () => {
    const madeBy = () => readFileSync(cacheFile, 'latin1').split('\n')[1];
    run();
    expect(madeBy()).toBe('made-by other');
    // a build that fails at once still compiled the build command's code
    const build = spawnSync(process.execPath, [join(tree, 'bin', 'strata'), 'build', join(tree, 'no-such-context')], { encoding: 'utf8', env: { ...process.env, STRATA_ROOT: join(tree, 'store') } });
    expect(build.status).not.toBe(0);
    expect(madeBy()).toBe('made-by build');
    const written = readFileSync(cacheFile);
    run();
    expect(readFileSync(cacheFile).equals(written)).toBe(true);
  });

  it('replaces a corrupt code cache and still runs', () => {
    writeFileSync(cacheFile, 'not a code cache');
    const r = run();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toContain(version);
    expect(readFileSync(cacheFile, 'utf8')).not.toBe('not a code cache');
  });

  it('never runs a code cache made from another bundle, even one of the same length', () => {
    expect(run().stdout.trim()).toContain(version);
    expect(existsSync(cacheFile)).toBe(true);
    // a rebuild that changes one character (V8 checks a cache against the source's length only); the
    // cache stays, as it does when a process started before the rebuild writes its cache at exit
    const bundle = join(tree, 'packages', 'cli', 'dist', 'bundle', 'strata.cjs');
    const source = readFileSync(bundle, 'utf8');
    const other = version.replace(/[0-9]/, (d) => String((Number(d) + 1) % 10));
    const rebuilt = source.replace(`"${version}"`, `"${other}"`);
    expect(rebuilt.length).toBe(source.length);
    expect(rebuilt).not.toBe(source);
    rmSync(bundle);
    writeFileSync(bundle, rebuilt);
    const r = run();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`strata version ${other}`);
    // the cache is now this bundle's: the next run takes it and prints the same
    expect(run().stdout).toBe(r.stdout);
  });

  it('uses the packages when one was compiled after the bundle, or when STRATA_NO_BUNDLE=1', () => {
    // this tree has no packages/cli/dist/index.js: choosing the packages shows as the launcher's load error
    const fallback = run({ STRATA_NO_BUNDLE: '1' });
    expect(fallback.status).toBe(1);
    expect(fallback.stderr).toContain('strata: cannot load the CLI');
    expect(fallback.stderr).toContain('pnpm run build');
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(tree, 'packages', 'builder', 'dist', '.tsbuildinfo'), future, future);
    const stale = run();
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('strata: cannot load the CLI');
    expect(existsSync(cacheFile)).toBe(false);
  });

  it('uses the packages when dependencies were installed after the bundle (the bundle holds their old code)', () => {
    expect(run().status).toBe(0);
    // pnpm rewrites node_modules/.pnpm/lock.yaml when an install changes what is installed
    const lock = join(tree, 'node_modules', '.pnpm', 'lock.yaml');
    mkdirSync(join(lock, '..'), { recursive: true });
    writeFileSync(lock, 'lockfileVersion: 9.0\n');
    const future = new Date(Date.now() + 60_000);
    utimesSync(lock, future, future);
    const installed = run();
    expect(installed.status).toBe(1);
    expect(installed.stderr).toContain('strata: cannot load the CLI');
  });
});
