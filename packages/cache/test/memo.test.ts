import { lstatSync, mkdirSync, readdirSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf, factsOf, hashFileContent, Store } from '../src/index.js';
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

  it('a small file swapped for a symlink since the walk is hashed the general way (what the link names), and not remembered', async () => {
    const path = oldFile('swapped.txt', 'walked');
    const facts = factsOf(lstatSync(path, { bigint: true }));
    oldFile('target.txt', 'named by the link');
    renameSync(path, join(dir, 'walked.txt'));
    symlinkSync('target.txt', path);
    // the blocking path opens without following links and refuses what is not a regular file
    await expect(store.memo.hashFile(path, { facts })).resolves.toMatchObject({ digest: digestOf('named by the link'), memoized: false });
    await expect(hashFileContent(path, 17n)).resolves.toBe(digestOf('named by the link'));
    expect(await store.memo.lookup(path, facts)).toBeUndefined();
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

  it('keeps a build context in one table: one file after flush, read back by a new process, not rewritten when unchanged', async () => {
    const root = join(dir, 'ctx');
    mkdirSync(root);
    const files = ['a', 'b', 'c'].map((n) => oldFile(join('ctx', `${n}.txt`), `bytes ${n}`));
    for (const f of files) await expect(store.memo.hashFile(f, { root })).resolves.toMatchObject({ memoized: false });
    await store.memo.flush();
    const tables = readdirSync(join(store.paths.memo, 'roots'));
    expect(tables).toHaveLength(1);
    // no per-path entries were written for the context's files
    expect(readdirSync(store.paths.memo)).toEqual(['roots']);
    const table = join(store.paths.memo, 'roots', tables[0] as string);
    const written = statSync(table).mtimeMs;
    const again = await Store.open(store.root);
    for (const f of files) await expect(again.memo.hashFile(f, { root })).resolves.toMatchObject({ memoized: true });
    await again.memo.flush();
    expect(statSync(table).mtimeMs).toBe(written);
    // a changed file is hashed again and the table rewritten
    writeFileSync(files[0] as string, 'new bytes');
    utimesSync(files[0] as string, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    await expect(again.memo.hashFile(files[0] as string, { root })).resolves.toEqual({ digest: digestOf('new bytes'), size: 9, memoized: false });
    await again.memo.flush();
    const third = await Store.open(store.root);
    await expect(third.memo.hashFile(files[0] as string, { root })).resolves.toMatchObject({ digest: digestOf('new bytes'), memoized: true });
  });

  it('remembers whole selections per context: read back after flush, newest 256 kept, a foreign file ignored', async () => {
    const root = join(dir, 'ctx');
    mkdirSync(root);
    const print = (n: number) => n.toString(16).padStart(64, '0');
    expect(await store.memo.lookupSelection(root, print(1))).toBeUndefined();
    for (let n = 0; n < 300; n += 1) await store.memo.recordSelection(root, print(n), `sha256:${print(n + 1000)}`);
    // recording an old one again makes it the newest
    await store.memo.recordSelection(root, print(10), `sha256:${print(10_000)}`);
    await store.memo.flush();
    const again = await Store.open(store.root);
    expect(await again.memo.lookupSelection(root, print(299))).toBe(`sha256:${print(1299)}`);
    expect(await again.memo.lookupSelection(root, print(10))).toBe(`sha256:${print(10_000)}`);
    // 300 + 1 records, 256 kept: the oldest ones went
    expect(await again.memo.lookupSelection(root, print(0))).toBeUndefined();
    expect(await again.memo.lookupSelection(root, print(44))).toBeUndefined();
    expect(await again.memo.lookupSelection(root, print(45))).toBe(`sha256:${print(1045)}`);
    // another root has its own table
    expect(await again.memo.lookupSelection(join(dir, 'other'), print(299))).toBeUndefined();
    // a table that is not one (torn, foreign) reads as empty
    const [table] = readdirSync(join(store.paths.memo, 'roots')).filter((n) => n.endsWith('.selections.json'));
    writeFileSync(join(store.paths.memo, 'roots', table as string), '{"format":"something-else","entries":[["a","b"]]}');
    const third = await Store.open(store.root);
    expect(await third.memo.lookupSelection(root, print(299))).toBeUndefined();
  });
});

