// The normalizations of known-differences.ts drop only what they say they drop.
import { dropKnownPaths, workdirsOf } from './known-differences.js';
import type { Entry, Manifest } from './manifest.js';

const dir = (uid = 0): Entry => ({ type: 'dir', mode: '0755', uid, gid: uid }) as Entry;

describe('known differences with Buildah', () => {
  it('lists the WORKDIRs a Dockerfile goes through, relative ones resolved', () => {
    expect(workdirsOf('FROM b\nWORKDIR /f/d\nRUN true\nWORKDIR rel\nworkdir /w/\nWORKDIR sub\n')).toEqual(['/f/d', '/f/d/rel', '/w/', '/w/sub']);
    expect(workdirsOf('FROM b\nRUN echo WORKDIR /x\n')).toEqual([]);
  });

  it('drops intermediate WORKDIR folders only where Buildah has nothing', () => {
    const ours: Manifest = new Map([
      ['/f', dir()],
      ['/f/d', dir()],
      ['/g', dir()],
      ['/keep', dir()],
    ]);
    const theirs: Manifest = new Map([['/g', dir(1000)]]);
    const [a, b] = dropKnownPaths('fuzz-1', ours, theirs, workdirsOf('FROM b\nWORKDIR /f/d\nWORKDIR /g\nWORKDIR /w\n'));
    // /f and /f/d came only from the first WORKDIR; /g exists on both sides and stays compared (owners differ)
    expect([...a.keys()].sort()).toEqual(['/g', '/keep']);
    expect(a.get('/g')).toEqual(dir());
    expect(b.get('/g')).toEqual(dir(1000));
    // the image's WorkingDir alone, as the differential test passes it
    const [c] = dropKnownPaths('fuzz-1', ours, new Map(), '/f/d');
    expect([...c.keys()].sort()).toEqual(['/g', '/keep']);
  });
});
