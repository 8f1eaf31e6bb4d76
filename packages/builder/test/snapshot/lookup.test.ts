/**
 * lookupInLayers against overlayfs itself: layers are stacked under a real
 * overlay mount, changed through the merged view (whiteouts, a folder
 * replaced by `rm -rf d && mkdir d`, a folder replaced by a file), and every
 * path must be found by the lookup exactly when the merged view shows it.
 * A store snapshot that records its whiteouts and opaque folders only in
 * meta.json (not yet overlay-ready) must hide the same paths.
 */
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lookupInLayers } from '../../src/snapshot/snapshotter.js';

let work: string;
let base: string;
let middle: string;
let upper: string;
let merged: string;

function tree(root: string, files: Record<string, string>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    if (path.endsWith('/')) mkdirSync(join(root, path), { recursive: true });
    else writeFileSync(join(root, path), content);
  }
}

function inMerged(path: string): boolean {
  try {
    lstatSync(join(merged, path));
    return true;
  } catch {
    return false;
  }
}

const PROBES = [
  'etc/passwd',
  'd',
  'd/sub',
  'd/sub/file',
  'd/old',
  'd/new',
  'gone',
  'gone/inner',
  'gone/inner/x',
  'filed',
  'filed/child',
  'keep/a',
  'keep/b',
  'keep/deep/c',
  'link/a',
  'link/b',
  'never',
];

beforeAll(() => {
  work = mkdtempSync('/dev/shm/strata-lookup-');
  base = join(work, 'base');
  middle = join(work, 'middle');
  upper = join(work, 'upper');
  merged = join(work, 'merged');
  for (const d of [base, middle, upper, merged, join(work, 'work')]) mkdirSync(d);
  tree(base, {
    'etc/passwd': 'root:x:0:0::/root:/bin/sh\n',
    'd/sub/file': 'base\n',
    'd/old': 'old\n',
    'gone/inner/x': 'x\n',
    'filed/child': 'child\n',
    'keep/a': 'a\n',
  });
  tree(middle, { 'd/sub/more': 'middle\n', 'keep/b': 'b\n', 'keep/deep/c': 'c\n' });
  symlinkSync('keep', join(middle, 'link'));
  symlinkSync('/keep', join(middle, 'abs'));
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${middle}:${base},upperdir=${upper},workdir=${join(work, 'work')},redirect_dir=off,metacopy=off`, merged]);
  // what a RUN would do
  rmSync(join(merged, 'd'), { recursive: true });
  mkdirSync(join(merged, 'd'));
  writeFileSync(join(merged, 'd/new'), 'new\n');
  rmSync(join(merged, 'gone'), { recursive: true });
  rmSync(join(merged, 'filed'), { recursive: true });
  writeFileSync(join(merged, 'filed'), 'now a file\n');
});

afterAll(() => {
  try {
    execFileSync('umount', [merged], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
  rmSync(work, { recursive: true, force: true });
});

describe('lookupInLayers', () => {
  test('finds a path exactly when the overlay merged view has it', async () => {
    const layers = [upper, middle, base];
    const found: Record<string, boolean> = {};
    const expected: Record<string, boolean> = {};
    for (const probe of PROBES) {
      found[probe] = (await lookupInLayers(layers, `/${probe}`)) !== undefined;
      expected[probe] = inMerged(probe);
    }
    expect(found).toEqual(expected);
    // the cases that matter, spelled out: the replaced folder hides the lower ones
    expect(expected).toMatchObject({ 'd/sub': false, 'd/old': false, 'd/new': true, 'gone/inner/x': false, 'filed/child': false, 'keep/deep/c': true });
  });

  // (an absolute symlink is left out of the comparison: the host would follow it out of the mount)
  test('returns the topmost copy, and follows a symlink on the way inside the image', async () => {
    const layers = [upper, middle, base];
    expect(await lookupInLayers(layers, '/d/new')).toBe(join(upper, 'd/new'));
    expect(await lookupInLayers(layers, '/filed')).toBe(join(upper, 'filed'));
    expect(await lookupInLayers(layers, 'link/a')).toBe(join(base, 'keep/a'));
    expect(await lookupInLayers(layers, '/abs/deep/c')).toBe(join(middle, 'keep/deep/c'));
    expect(await lookupInLayers(layers, '/link')).toBe(join(middle, 'link'));
  });

  test('a store snapshot hides what its meta.json records, before it is made overlay-ready', async () => {
    const snap = join(work, 'snapshot');
    // as the store unpacks it: recorded paths keep real parent folders, whiteouts are not on disk
    tree(join(snap, 'fs'), { 'd/': '', 'd/fresh': 'fresh\n', 'keep/': '' });
    writeFileSync(join(snap, 'meta.json'), JSON.stringify({ whiteouts: ['gone', 'keep/a'], opaqueDirs: ['d'], specials: [] }));
    const layers = [join(snap, 'fs'), middle, base];
    expect(await lookupInLayers(layers, '/d/fresh')).toBe(join(snap, 'fs/d/fresh'));
    expect(await lookupInLayers(layers, '/d/sub')).toBeUndefined();
    expect(await lookupInLayers(layers, '/d/old')).toBeUndefined();
    expect(await lookupInLayers(layers, '/gone/inner/x')).toBeUndefined();
    expect(await lookupInLayers(layers, '/keep/a')).toBeUndefined();
    expect(await lookupInLayers(layers, '/keep/b')).toBe(join(middle, 'keep/b'));
    expect(await lookupInLayers(layers, '/etc/passwd')).toBe(join(base, 'etc/passwd'));
  });
});
