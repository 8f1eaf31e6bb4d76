import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cacheMountDir, holdCacheMount, Store, type CacheMountSharing } from '../src/index.js';
import { tempRoot } from './helpers.js';

describe('holdCacheMount (BuildKit sharing modes across users of a store)', () => {
  let dir: string;
  let cleanup: () => void;
  let store: Store;
  beforeEach(async () => {
    ({ dir, cleanup } = tempRoot('strata-cache-holds-'));
    store = await Store.open(join(dir, 'store'));
  });
  afterEach(() => cleanup());

  const created: string[] = [];
  const hold = (sharing: CacheMountSharing, extra: { signal?: AbortSignal; onWait?: () => void } = {}) =>
    holdCacheMount(store, 'name', {
      sharing,
      create: async (d) => {
        created.push(d);
        await mkdir(d);
      },
      pollMs: 5,
      ...extra,
    });

  it('shared: every user holds the same instance', async () => {
    const [a, b] = await Promise.all([hold('shared'), hold('shared')]);
    expect(a.dir).toBe(cacheMountDir(store, 'name'));
    expect(b.dir).toBe(a.dir);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    await a.release();
    await b.release();
  });

  it('private: a user finding every instance held gets a new one; a free one is reused', async () => {
    const a = await hold('private');
    const b = await hold('private');
    expect([a.instance, b.instance]).toEqual([0, 1]);
    expect(b.dir).toBe(`${a.dir}.1`);
    await a.release();
    const c = await hold('private');
    expect([c.instance, c.created]).toEqual([0, false]);
    // a shared user does not join an instance a private user holds: both are held, so a third
    const d = await hold('shared');
    expect([d.instance, d.created]).toEqual([2, true]);
    await Promise.all([b.release(), c.release(), d.release()]);
  });

  it('locked: waits for the holder to release, then takes its instance', async () => {
    const a = await hold('locked');
    let waited = false;
    let got = false;
    const next = hold('locked', { onWait: () => (waited = true) }).then((h) => ((got = true), h));
    await new Promise((r) => setTimeout(r, 60));
    expect([waited, got]).toEqual([true, false]);
    await a.release();
    const b = await next;
    expect([b.instance, b.created]).toEqual([0, false]);
    await b.release();
  });

  it('locked: stops waiting when the signal aborts', async () => {
    const a = await hold('locked');
    const controller = new AbortController();
    const waiting = hold('locked', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('interrupted')), 30);
    await expect(waiting).rejects.toThrow('interrupted');
    await a.release();
  });

  it('drops the holds of a process that died', async () => {
    mkdirSync(cacheMountDir(store, 'name'), { recursive: true });
    const holds = join(store.paths.locks, 'cache-mounts', 'name');
    mkdirSync(holds, { recursive: true });
    // pid 2^22-1 is above the pids in use; its start time cannot match
    writeFileSync(join(holds, 'hold.0.exclusive.4194303.12345-abc'), '');
    const a = await hold('locked');
    expect([a.instance, a.created]).toEqual([0, false]);
    expect(readdirSync(holds).some((n) => n.includes('4194303'))).toBe(false);
    await a.release();
    expect(readdirSync(holds).filter((n) => n.startsWith('hold.'))).toEqual([]);
    expect(existsSync(a.dir)).toBe(true);
  });
});
