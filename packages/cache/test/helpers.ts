import { mkdtempSync, rmSync } from 'node:fs';
import { Store } from '../src/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh temp folder on /dev/shm when there is one (the disk is slow for many small files). */
export function tempRoot(prefix = 'strata-cache-'): { dir: string; cleanup: () => void } {
  const base = process.platform === 'linux' ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A fresh store in a temp folder for every test of the enclosing describe
 * (opened in beforeEach, removed in afterEach). Read `dir` and `store` inside
 * tests and hooks, not at describe time.
 */
export function tempStoreEach(prefix?: string): { readonly dir: string; readonly store: Store } {
  let current: { dir: string; cleanup: () => void; store: Store } | undefined;
  beforeEach(async () => {
    const { dir, cleanup } = tempRoot(prefix);
    current = { dir, cleanup, store: await Store.open(dir) };
  });
  afterEach(() => {
    current?.cleanup();
    current = undefined;
  });
  const get = () => {
    if (current === undefined) throw new Error('tempStoreEach: read dir/store inside a test or hook');
    return current;
  };
  return {
    get dir() { return get().dir; },
    get store() { return get().store; },
  };
}
