import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Store } from '@strata/cache';
import { build } from '@strata/builder';

// The selection memo (a COPY selection's stat fingerprint -> its sources
// digest) stands in for reading every file of the selection, so it may only
// remember a selection whose stat facts cannot hide a later change: every
// file's last change (mtime, and ctime, which a backdated mtime leaves fresh)
// at least two seconds (RACY_NS, the content memo's racy rule) before the step
// read any of it. A change in the same clock tick keeps every stat fact.
describe('strata build: the COPY selection memo and the racy window', () => {
  let dir: string;
  let store: Store;
  let context: string;

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-selection-memo-');
    store = await Store.open(join(dir, 'store'));
    context = join(dir, 'ctx');
    mkdirSync(context);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** How many selections the store remembers for the context (its selection table, as flushed at the end of a build). */
  function remembered(): number {
    const roots = join(store.paths.memo, 'roots');
    if (!existsSync(roots)) return 0;
    return readdirSync(roots)
      .filter((n) => n.endsWith('.selections.json'))
      .reduce((n, f) => n + (JSON.parse(readFileSync(join(roots, f), 'utf8')) as { entries: unknown[] }).entries.length, 0);
  }

  async function copy(file: string): Promise<void> {
    await build({ store, context, dockerfileText: `FROM scratch\nCOPY ${file} /\n`, tags: [`localhost/test/selection-memo:${file}`] });
  }

  it('does not remember a selection read within two seconds of a change, however long the step took after the read', async () => {
    writeFileSync(join(context, 'fresh.txt'), 'written just now\n');
    // the file is read at once; the rest of the selection (a large one) takes longer than the racy window
    const hashFile = store.memo.hashFile.bind(store.memo);
    store.memo.hashFile = async (...args) => {
      const result = await hashFile(...args);
      await sleep(2_200);
      return result;
    };
    try {
      await copy('fresh.txt');
    } finally {
      store.memo.hashFile = hashFile;
    }
    expect(remembered()).toBe(0);
  });

  it('does not remember a selection with a file whose mtime was set back just now (its ctime is fresh)', async () => {
    writeFileSync(join(context, 'backdated.txt'), 'extracted with an old mtime\n');
    const old = new Date('2001-02-03T04:05:06Z');
    utimesSync(join(context, 'backdated.txt'), old, old);
    await copy('backdated.txt');
    expect(remembered()).toBe(0);
  });

  it('remembers it once the last change is older than the window', async () => {
    writeFileSync(join(context, 'settled.txt'), 'written a while ago\n');
    await sleep(2_200);
    const before = remembered();
    await copy('settled.txt');
    expect(remembered()).toBe(before + 1);
  });
});
