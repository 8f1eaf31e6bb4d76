// Crash safety of the store: writer processes are SIGKILLed at random points
// during blob writes, tagging, cache-record writes and snapshot unpacking.
// After each kill the store must open, verify clean, still hold every image
// tagged before the kill, and let the next writer take the index lock.
// Needs the built package (`pnpm run build`); bench/cache-crash.mjs runs more trials.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, parseCacheKey, Store, verifyStore, type Digest } from '@strata/cache';
import { CACHE_DIST, checkImage, reported, startWorker, tempStoreRoot, writeTarLayers } from './support/cache-harness.js';

const TRIALS_PER_MODE = Number(process.env.STRATA_CRASH_TRIALS ?? 6);
const MODES = ['blob', 'tag', 'record', 'snapshot', 'mixed'] as const;

jest.setTimeout(240_000);

describe('store crash safety (SIGKILL during writes)', () => {
  let root: string;
  let cleanup: () => void;
  let layers: Digest[];
  const tagged = new Map<string, Digest>();
  const records = new Map<string, Digest>();
  const blobs = new Map<Digest, number>();
  /** Trials whose kill left temp files behind: proof that kills landed in the middle of writes. */
  let midWrite = 0;

  beforeAll(async () => {
    expect(existsSync(CACHE_DIST)).toBe(true);
    ({ root, cleanup } = tempStoreRoot('strata-crash-'));
    const store = await Store.open(root);
    layers = await writeTarLayers(store, join(root, 'tmp'), 3, 120);
  });
  afterAll(() => cleanup());

  let seed = 0x5eed;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };

  for (const mode of MODES) {
    it(`${mode}: ${TRIALS_PER_MODE} kills leave a clean store`, async () => {
      for (let trial = 0; trial < TRIALS_PER_MODE; trial++) {
        const worker = startWorker(root, mode, `${mode}${trial}`, { env: { STRATA_TEST_LAYERS: layers.join(',') } });
        await worker.ready;
        await new Promise((r) => setTimeout(r, 5 + random() * 150));
        worker.child.kill('SIGKILL');
        const exit = await worker.exited;
        expect({ trial, signal: exit.signal, stderr: exit.stderr }).toEqual({ trial, signal: 'SIGKILL', stderr: '' });
        const done = reported(worker.lines);
        for (const [ref, digest] of done.tags) tagged.set(ref, digest);
        for (const [key, digest] of done.records) records.set(key, digest);
        for (const [digest, size] of done.blobs) blobs.set(digest, size);

        let swept = 0;
        const store = await Store.open(root, { lockTimeoutMs: 10_000, onEvent: (e) => (swept += e.type === 'tmp-swept' ? e.count : 0) });
        if (swept > 0) midWrite += 1;
        const report = await verifyStore(store);
        expect({ trial, problems: report.problems }).toEqual({ trial, problems: [] });
        // Every image tagged before the kill, in this trial or an earlier one, is intact.
        for (const [ref, digest] of tagged) expect(await checkImage(store, ref, digest)).toEqual([]);
        for (const [key, digest] of records) expect((await store.getCacheRecord(parseCacheKey(key)))?.layer?.digest).toBe(digest);
        for (const [digest, size] of blobs) expect((await store.readBlob(digest)).length).toBe(size);
        // A lock the dead writer held is taken over.
        const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, probe: `${mode}${trial}` }, MediaType.ociConfig);
        const probe = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
        await store.tag(`probe/${mode}:${trial}`, probe);
        tagged.set(`docker.io/probe/${mode}:${trial}`, probe.digest);
        // Dead writers' temp files are gone.
        expect(readdirSync(join(root, 'tmp')).filter((n) => !n.startsWith('layer'))).toEqual([]);
      }
      if (mode === 'snapshot' || mode === 'mixed') {
        // Snapshots that survived are whole: unpacking again agrees with them.
        const store = await Store.open(root);
        const { snapshots, damaged } = await store.snapshots.list();
        expect(damaged).toEqual([]);
        for (const s of snapshots) {
          expect(readFileSync(join(s.path, 'etc', 'deep', 'er', 'f0'), 'utf8')).toMatch(/^layer \d file 0\n$/);
          expect(s.entries).toBeGreaterThan(120);
        }
      }
    });
  }

  it('covered every kind of write', () => {
    expect(tagged.size).toBeGreaterThan(MODES.length * TRIALS_PER_MODE);
    expect(records.size).toBeGreaterThan(0);
    expect(blobs.size).toBeGreaterThan(0);
    expect(midWrite).toBeGreaterThan(0);
  });
});
