// Several processes on one store at once: 8 writers put overlapping and
// distinct blobs and tags; at the end the index is consistent and holds all
// of their tags. Needs the built package (`pnpm run build`).
import { readFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { Store, pruneStore, verifyStore, type Digest } from '@strata/cache';
import { checkImage, reported, startWorker, tempStoreRoot } from './support/cache-harness.js';

jest.setTimeout(180_000);

describe('8 processes writing one store', () => {
  it('keep every tag and a consistent index', async () => {
    const { root, cleanup } = tempStoreRoot('strata-conc-');
    try {
      await Store.open(root);
      const perWorker = 12;
      const workers = Array.from({ length: 8 }, (_, i) => startWorker(root, 'concurrent', String(i), { count: perWorker }));
      const exits = await Promise.all(workers.map((w) => w.exited));
      expect(exits.map((e) => ({ code: e.code, stderr: e.stderr }))).toEqual(exits.map(() => ({ code: 0, stderr: '' })));
      const expected = new Map<string, Digest>();
      for (const w of workers) {
        expect(w.lines[w.lines.length - 1]).toBe('DONE');
        for (const [ref, digest] of reported(w.lines).tags) {
          // Shared tags are written by everyone with the same content.
          if (expected.has(ref)) expect(expected.get(ref)).toBe(digest);
          expected.set(ref, digest);
        }
      }
      expect(expected.size).toBe(8 * perWorker + 10);
      const store = await Store.open(root);
      const images = await store.images();
      expect(images.map((i) => i.ref).sort()).toEqual([...expected.keys()].sort());
      // One index entry per name: no duplicates from racing updates.
      const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { manifests: unknown[] };
      expect(index.manifests).toHaveLength(expected.size);
      for (const [ref, digest] of expected) expect(await checkImage(store, ref, digest)).toEqual([]);
      expect((await verifyStore(store)).problems).toEqual([]);
    } finally {
      cleanup();
    }
  });

  it('prune running alongside writers removes nothing they tag', async () => {
    const { root, cleanup } = tempStoreRoot('strata-conc-gc-');
    try {
      const store = await Store.open(root);
      // Old garbage that prune should remove meanwhile.
      const garbage = await Promise.all(Array.from({ length: 50 }, (_, i) => store.putBlob(`garbage ${i}`)));
      const old = new Date(Date.now() - 3_600_000);
      for (const g of garbage) utimesSync(join(root, 'blobs', 'sha256', g.digest.slice(7)), old, old);
      const workers = Array.from({ length: 4 }, (_, i) => startWorker(root, 'concurrent', `gc${i}`, { count: 8 }));
      let running = true;
      let prunes = 0;
      let removed = 0;
      const exits = Promise.all(workers.map((w) => w.exited)).finally(() => (running = false));
      while (running) {
        removed += (await pruneStore(store)).removed.blobs;
        prunes += 1;
      }
      expect((await exits).map((e) => e.code)).toEqual([0, 0, 0, 0]);
      expect(prunes).toBeGreaterThan(1);
      expect(removed).toBe(50);
      for (const w of workers) for (const [ref, digest] of reported(w.lines).tags) expect(await checkImage(store, ref, digest)).toEqual([]);
      expect((await verifyStore(store)).problems).toEqual([]);
    } finally {
      cleanup();
    }
  });
});
