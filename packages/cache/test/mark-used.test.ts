import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { markUsed, USE_MARK_LAG_MS } from '../src/fs-util.js';
import { tempRoot } from './helpers.js';

// A record's or blob's mtime is its "last used" mark: a use renews it only
// when it is over USE_MARK_LAG_MS old, so a no-op rebuild writes nothing.
describe('markUsed', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = tempRoot()));
  afterEach(() => cleanup());

  it('leaves a recent mark as it is', () => {
    const file = join(dir, 'recent');
    writeFileSync(file, 'x');
    const recent = new Date(Date.now() - USE_MARK_LAG_MS / 2);
    utimesSync(file, recent, recent);
    markUsed(file);
    // still the mark it had (to the precision of the file system's timestamps), not now
    expect(Math.abs(statSync(file).mtimeMs - recent.getTime())).toBeLessThan(1);
  });

  it('renews a mark older than the lag', () => {
    const file = join(dir, 'old');
    writeFileSync(file, 'x');
    const old = new Date(Date.now() - 10 * USE_MARK_LAG_MS);
    utimesSync(file, old, old);
    const before = Date.now();
    markUsed(file);
    expect(statSync(file).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
  });

  it('is no error for a file that is gone', () => {
    expect(() => markUsed(join(dir, 'gone'))).not.toThrow();
  });
});
