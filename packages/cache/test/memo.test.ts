import { statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, factsOf, Store } from '../src/index.js';
import { tempRoot } from './helpers.js';

describe('context content-hash memo', () => {
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  beforeEach(async () => {
    ({ dir, cleanup } = tempRoot());
    store = await Store.open(join(dir, 'store'));
  });
  afterEach(() => cleanup());

  /** A file whose mtime is an hour old, so that it is not "racy". */
  function oldFile(name: string, content: string): string {
    const path = join(dir, name);
    writeFileSync(path, content);
    const t = new Date(Date.now() - 3_600_000);
    utimesSync(path, t, t);
    return path;
  }

  it('hashes a file once and then answers from the memo', async () => {
    const path = oldFile('a.txt', 'context bytes');
    await expect(store.memo.hashFile(path)).resolves.toEqual({ digest: digestOf('context bytes'), size: 13, memoized: false });
    await expect(store.memo.hashFile(path)).resolves.toEqual({ digest: digestOf('context bytes'), size: 13, memoized: true });
  });

  it('reads the file again when size, mtime, ctime or inode change', async () => {
    const path = oldFile('b.txt', 'one');
    await store.memo.hashFile(path);
    writeFileSync(path, 'two');
    const t = new Date(Date.now() - 3_000_000);
    utimesSync(path, t, t);
    await expect(store.memo.hashFile(path)).resolves.toMatchObject({ digest: digestOf('two'), memoized: false });
    const facts = factsOf(statSync(path, { bigint: true }));
    expect(await store.memo.lookup(path, { ...facts, ino: facts.ino + 1n })).toBeUndefined();
    expect(await store.memo.lookup(path, { ...facts, ctimeNs: facts.ctimeNs + 1n })).toBeUndefined();
  });

  it('does not memoize a file changed in the last two seconds', async () => {
    const path = join(dir, 'fresh.txt');
    writeFileSync(path, 'fresh');
    await expect(store.memo.hashFile(path)).resolves.toMatchObject({ memoized: false });
    await expect(store.memo.hashFile(path)).resolves.toMatchObject({ memoized: false });
  });
});
