import { defaultStoreRoot, Store } from '../src/index.js';
import { tempRoot } from './helpers.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

describe('store root', () => {
  it('follows STRATA_ROOT, then root, then XDG_DATA_HOME, then ~/.local/share', () => {
    expect(defaultStoreRoot({ STRATA_ROOT: '/srv/strata', XDG_DATA_HOME: '/x' }, 0)).toBe('/srv/strata');
    expect(defaultStoreRoot({ XDG_DATA_HOME: '/x' }, 0)).toBe('/var/lib/strata');
    expect(defaultStoreRoot({ XDG_DATA_HOME: '/x' }, 1000)).toBe('/x/strata');
    expect(defaultStoreRoot({ HOME: '/home/u' }, 1000)).toBe('/home/u/.local/share/strata');
    expect(defaultStoreRoot({ STRATA_ROOT: '', HOME: '/home/u' }, 1000)).toBe('/home/u/.local/share/strata');
  });

  it('refuses a root that is not a store with CACHE_STORE_ROOT', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      writeFileSync(join(dir, 'file'), 'x');
      await expect(Store.open(join(dir, 'file'))).rejects.toMatchObject({ code: 'CACHE_STORE_ROOT' });
      mkdirSync(join(dir, 'other'));
      writeFileSync(join(dir, 'other', 'oci-layout'), '{"imageLayoutVersion":"9"}');
      await expect(Store.open(join(dir, 'other'))).rejects.toMatchObject({ code: 'CACHE_STORE_ROOT' });
    } finally {
      cleanup();
    }
  });

  it('opens the same root twice and reuses what is there', async () => {
    const { dir, cleanup } = tempRoot();
    try {
      const a = await Store.open(dir);
      const put = await a.putBlob('kept');
      const b = await Store.open(dir);
      expect(await b.hasBlob(put.digest)).toBe(true);
    } finally {
      cleanup();
    }
  });
});
