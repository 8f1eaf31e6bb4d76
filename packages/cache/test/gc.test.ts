import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chainIdsOf, digestHex, makeCacheKey, MediaType, parseDiffId, digestOf, Store, tempName, diskUsage, pruneStore, verifyStore } from '../src/index.js';
import { tempStoreEach } from './helpers.js';
import { writeTestImage } from './image-fixtures.js';

describe('du, prune and verify', () => {
  const temp = tempStoreEach();

  /** Ages every file in a folder tree's top level, so the grace period does not protect it. */
  function age(folder: string, ms: number): void {
    const t = new Date(Date.now() - ms);
    for (const name of readdirSync(folder)) utimesSync(join(folder, name), t, t);
  }

  async function cacheLayer(seed: string): Promise<{ key: ReturnType<typeof makeCacheKey>; digest: ReturnType<typeof digestOf> }> {
    const put = await temp.store.putBlob(`layer ${seed}`);
    const key = makeCacheKey(seed);
    await temp.store.putCacheRecord(key, {
      layer: { mediaType: MediaType.ociLayerGzip, digest: put.digest, size: put.size, diffId: parseDiffId(digestOf(`tar ${seed}`)) },
    });
    return { key, digest: put.digest };
  }

  it('reports usage by kind', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'aaaa' }]], 'app:1');
    await cacheLayer('step');
    await temp.store.putBlob('stray');
    const du = await diskUsage(temp.store);
    expect(du.images.count).toBe(1);
    expect(du.images.size).toBe(image.manifest.size + image.config.size + image.layers[0]!.size);
    expect(du.cache.count).toBe(1);
    expect(du.unreferenced).toEqual({ count: 1, size: 'stray'.length });
    expect(du.blobs.count).toBe(5);
    expect(du.total).toBeGreaterThanOrEqual(du.blobs.size);
  });

  it('removes unreferenced blobs but keeps images, cache and recent blobs', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    const cached = await cacheLayer('step');
    const old = await temp.store.putBlob('old stray');
    age(join(temp.dir, 'blobs', 'sha256'), 3_600_000);
    const recent = await temp.store.putBlob('recent stray');
    const result = await pruneStore(temp.store);
    expect(result.removed).toMatchObject({ blobs: 1, records: 0 });
    expect(result.keptRecent).toBe(1);
    expect(await temp.store.hasBlob(old.digest)).toBe(false);
    expect(await temp.store.hasBlob(recent.digest)).toBe(true);
    expect(await temp.store.hasBlob(cached.digest)).toBe(true);
    expect(await temp.store.hasBlob(image.layers[0]!.digest)).toBe(true);
    expect((await verifyStore(temp.store)).ok).toBe(true);
  });

  it('--all drops the cache; an untagged image goes too', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    const kept = await writeTestImage(temp.store, [[{ name: 'b', body: 'b' }]], 'app:2');
    const cached = await cacheLayer('step');
    await temp.store.untag('app:1');
    const result = await pruneStore(temp.store, { all: true, gracePeriodMs: 0 });
    expect(result.removed.records).toBe(1);
    expect(result.removed.blobs).toBe(4);
    expect(await temp.store.hasBlob(cached.digest)).toBe(false);
    expect(await temp.store.hasBlob(image.manifest.digest)).toBe(false);
    expect(await temp.store.hasBlob(kept.layers[0]!.digest)).toBe(true);
    expect(await temp.store.getCacheRecord(cached.key)).toBeUndefined();
    await expect(temp.store.resolve('app:2')).resolves.toMatchObject({ digest: kept.manifest.digest });
  });

  it('--keep-storage drops least recently used records first', async () => {
    const a = await cacheLayer('a');
    const b = await cacheLayer('b');
    const c = await cacheLayer('c');
    const { records } = await temp.store.records.list();
    const when = new Map([[a.key, 3], [b.key, 1], [c.key, 2]]);
    for (const r of records) {
      const t = new Date(Date.now() - (when.get(r.record.key) ?? 0) * 3_600_000);
      utimesSync(r.path, t, t);
    }
    const perRecord = records[0]!.size + 'layer a'.length;
    const result = await pruneStore(temp.store, { keepStorage: perRecord * 2 + 1, gracePeriodMs: 0 });
    expect(result.removed.records).toBe(1);
    expect(await temp.store.getCacheRecord(a.key)).toBeUndefined();
    expect(await temp.store.getCacheRecord(b.key)).toBeDefined();
    expect(await temp.store.getCacheRecord(c.key)).toBeDefined();
    expect(await temp.store.hasBlob(a.digest)).toBe(false);
  });

  it('until removes records unused for longer than the duration', async () => {
    const a = await cacheLayer('a');
    const b = await cacheLayer('b');
    const path = (await temp.store.records.list()).records.find((r) => r.record.key === a.key)!.path;
    const t = new Date(Date.now() - 48 * 3_600_000);
    utimesSync(path, t, t);
    const result = await pruneStore(temp.store, { until: 24 * 3_600_000 });
    expect(result.removed.records).toBe(1);
    expect(await temp.store.getCacheRecord(a.key)).toBeUndefined();
    expect(await temp.store.getCacheRecord(b.key)).toBeDefined();
  });

  it('keeps held and image snapshots, removes the rest', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }], [{ name: 'b', body: 'b' }]], 'app:1');
    const chains = chainIdsOf(image.diffIds);
    const lower = await temp.store.snapshots.unpack({ layer: image.layers[0]!, diffId: image.diffIds[0]! });
    await temp.store.snapshots.unpack({ layer: image.layers[1]!, diffId: image.diffIds[1]!, parent: lower.chainId });
    const other = await writeTestImage(temp.store, [[{ name: 'c', body: 'c' }]]);
    const loose = await temp.store.snapshots.unpack({ layer: other.layers[0]! });
    const held = await writeTestImage(temp.store, [[{ name: 'd', body: 'd' }]]);
    const mine = await temp.store.snapshots.unpack({ layer: held.layers[0]! });
    await temp.store.snapshots.acquire(mine.chainId, 'build 7');
    const result = await pruneStore(temp.store, { gracePeriodMs: 0 });
    expect(result.removed.snapshots).toBe(1);
    expect(await temp.store.snapshots.get(loose.chainId)).toBeUndefined();
    expect(await temp.store.snapshots.get(mine.chainId)).toBeDefined();
    expect(await temp.store.snapshots.get(chains[1]!)).toBeDefined();
    expect(await temp.store.snapshots.get(chains[0]!)).toBeDefined();
    const du = await diskUsage(temp.store);
    expect(du.snapshots.count).toBe(3);
  });

  it('drops the holds of builds whose process is gone (a SIGKILLed build), keeps live and container holds', async () => {
    const snapshot = async (body: string) => {
      const image = await writeTestImage(temp.store, [[{ name: body, body }]]);
      return (await temp.store.snapshots.unpack({ layer: image.layers[0]! })).chainId;
    };
    const dead = await snapshot('dead');
    const live = await snapshot('live');
    const container = await snapshot('container');
    // a pid with a start time that cannot match: the owner of this hold is gone
    await temp.store.snapshots.acquire(dead, 'build-999999.1-0123456789ab');
    const mine = tempName('build');
    await temp.store.snapshots.acquire(live, mine);
    await temp.store.snapshots.acquire(container, 'container:0123abcd');
    const result = await pruneStore(temp.store, { gracePeriodMs: 0 });
    expect(result.removed.snapshots).toBe(1);
    expect(await temp.store.snapshots.get(dead)).toBeUndefined();
    expect(await temp.store.snapshots.holders(dead)).toEqual([]);
    expect(await temp.store.snapshots.holders(live)).toEqual([mine]);
    expect(await temp.store.snapshots.holders(container)).toEqual(['container:0123abcd']);
  });

  it('drops COPY source listings, remembered COPY --from digests and last-run step keys that no kept record needs', async () => {
    const inputs = (sources: string) => ({ parent: '', instruction: 'i', env: {}, sources });
    const [aaa, bbb, ccc] = ['aaa', 'bbb', 'ccc'].map((s) => digestOf(s));
    const kept = makeCacheKey('kept step');
    const dropped = makeCacheKey('dropped step');
    await temp.store.records.put(kept, { inputs: inputs(aaa!) });
    await temp.store.records.put(dropped, { inputs: inputs(bbb!) });
    await temp.store.records.putSources(aaa!, { 'src/a': 'x' });
    await temp.store.records.putSources(bbb!, { 'src/b': 'y' });
    await temp.store.records.putSources(ccc!, { 'src/c': 'z' });
    await temp.store.records.putFromSources('selection a', aaa!);
    await temp.store.records.putFromSources('selection b', bbb!);
    await temp.store.records.putFromSources('selection c', ccc!);
    await temp.store.records.setLastKey('stage 0 step 1', kept);
    await temp.store.records.setLastKey('stage 0 step 2', dropped);
    await temp.store.records.delete(dropped);
    await pruneStore(temp.store, { gracePeriodMs: 0 });
    expect(await temp.store.records.getSources(aaa!)).toEqual({ 'src/a': 'x' });
    expect(await temp.store.records.getSources(bbb!)).toBeUndefined();
    expect(await temp.store.records.getSources(ccc!)).toBeUndefined();
    expect(await temp.store.records.fromSources('selection a')).toBe(aaa);
    expect(await temp.store.records.fromSources('selection b')).toBeUndefined();
    expect(await temp.store.records.fromSources('selection c')).toBeUndefined();
    expect(await temp.store.records.lastKey('stage 0 step 1')).toBe(kept);
    expect(await temp.store.records.lastKey('stage 0 step 2')).toBeUndefined();
    // --all drops every record, and with them every side file
    await pruneStore(temp.store, { gracePeriodMs: 0, all: true });
    expect(await temp.store.records.getSources(aaa!)).toBeUndefined();
    expect(await temp.store.records.fromSources('selection a')).toBeUndefined();
    expect(await temp.store.records.lastKey('stage 0 step 1')).toBeUndefined();
  });

  it('keeps a snapshot unpacked or reused within the grace period', async () => {
    const other = await writeTestImage(temp.store, [[{ name: 'c', body: 'c' }]]);
    const snap = await temp.store.snapshots.unpack({ layer: other.layers[0]! });
    const meta = join(temp.dir, 'snapshots-v1', 'layers', digestHex(snap.chainId), 'meta.json');
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(meta, old, old);
    // Reuse marks it as used now.
    const again = await temp.store.snapshots.unpack({ layer: other.layers[0]!, diffId: other.diffIds[0]! });
    expect(again.lastUsedMs).toBeGreaterThan(old.getTime() + 1000);
    expect((await pruneStore(temp.store)).removed.snapshots).toBe(0);
    utimesSync(meta, old, old);
    expect((await pruneStore(temp.store)).removed.snapshots).toBe(1);
  });

  it('keeps an unreferenced blob that a writer just found present', async () => {
    const put = await temp.store.putBlob('already here');
    age(join(temp.dir, 'blobs', 'sha256'), 3_600_000);
    expect(await temp.store.hasBlob(put.digest)).toBe(true);
    expect((await pruneStore(temp.store)).removed.blobs).toBe(0);
    age(join(temp.dir, 'blobs', 'sha256'), 3_600_000);
    expect((await pruneStore(temp.store)).removed.blobs).toBe(1);
  });

  it('dry run removes nothing', async () => {
    await temp.store.putBlob('stray');
    const result = await pruneStore(temp.store, { all: true, gracePeriodMs: 0, dryRun: true });
    expect(result.removed.blobs).toBe(1);
    expect((await diskUsage(temp.store)).blobs.count).toBe(1);
  });

  it('drops the memo tables of deleted contexts (and foreign files), keeps those whose folder exists', async () => {
    /** A context with one old file, hashed and remembered as a whole selection: both of its tables written. */
    const context = async (name: string) => {
      const root = join(temp.dir, 'contexts', name);
      mkdirSync(root, { recursive: true });
      const file = join(root, 'main.py');
      writeFileSync(file, `print("${name}")`);
      const t = new Date(Date.now() - 3_600_000);
      utimesSync(file, t, t);
      await temp.store.memo.hashFile(file, { root });
      await temp.store.memo.recordSelection(root, 'f'.repeat(64), `sha256:${'e'.repeat(64)}`);
      return root;
    };
    const kept = await context('kept');
    await temp.store.memo.flush();
    const keptNames = readdirSync(join(temp.store.paths.memo, 'roots'));
    expect(keptNames).toHaveLength(2);
    const deleted = await context('deleted');
    const turnedFile = await context('turned-into-a-file');
    await temp.store.memo.flush();
    const roots = join(temp.store.paths.memo, 'roots');
    const all = () => readdirSync(roots).sort();
    expect(all()).toHaveLength(6);
    writeFileSync(join(roots, `${'0'.repeat(64)}.json`), 'torn{');
    writeFileSync(join(roots, `${'1'.repeat(64)}.selections.json`), JSON.stringify({ format: 'strata.memo-selections.v9', root: kept, entries: [] }));
    // a well-formed table of an existing root filed under another name is never read either
    const keptTable = keptNames.find((n) => !n.endsWith('.selections.json')) as string;
    writeFileSync(join(roots, `${'2'.repeat(64)}.json`), readFileSync(join(roots, keptTable)));
    rmSync(deleted, { recursive: true });
    rmSync(turnedFile, { recursive: true });
    writeFileSync(turnedFile, 'now a file');
    const before = all();
    const doomed = before.filter((n) => !keptNames.includes(n));
    expect(doomed).toHaveLength(7);
    const bytes = doomed.reduce((n, name) => n + statSync(join(roots, name)).size, 0);

    // dry run: counted with their bytes (the store holds nothing else), nothing removed
    const dry = await pruneStore(temp.store, { dryRun: true });
    expect(dry.removed.memoTables).toBe(7);
    expect(dry.reclaimed).toBe(bytes);
    expect(all()).toEqual(before);
    const result = await pruneStore(temp.store);
    expect(result.removed.memoTables).toBe(7);
    expect(result.reclaimed).toBe(bytes);
    expect(all()).toEqual(keptNames.sort());
    // the kept context's tables still answer: its file is not hashed again
    const reopened = await Store.open(temp.dir);
    await expect(reopened.memo.hashFile(join(kept, 'main.py'), { root: kept })).resolves.toMatchObject({ memoized: true });
    await expect(reopened.memo.lookupSelection(kept, 'f'.repeat(64))).resolves.toBe(`sha256:${'e'.repeat(64)}`);
    // nothing more to do the second time
    expect((await pruneStore(temp.store)).removed.memoTables).toBe(0);
  });

  it('--all reports the whole memo it removes (tables counted, every byte reclaimed); dry run keeps it', async () => {
    const root = join(temp.dir, 'ctx');
    mkdirSync(root);
    const file = join(root, 'a.txt');
    writeFileSync(file, 'context bytes');
    const outside = join(temp.dir, 'outside.txt');
    writeFileSync(outside, 'not in a context');
    const t = new Date(Date.now() - 3_600_000);
    utimesSync(file, t, t);
    utimesSync(outside, t, t);
    await temp.store.memo.hashFile(file, { root });
    await temp.store.memo.recordSelection(root, 'f'.repeat(64), `sha256:${'e'.repeat(64)}`);
    await temp.store.memo.flush();
    await temp.store.memo.hashFile(outside);
    const memoBytes = (dir: string): number =>
      readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? memoBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
    const bytes = memoBytes(temp.store.paths.memo);
    const dry = await pruneStore(temp.store, { all: true, dryRun: true });
    expect(dry.removed.memoTables).toBe(2);
    expect(dry.reclaimed).toBe(bytes);
    expect(memoBytes(temp.store.paths.memo)).toBe(bytes);
    const result = await pruneStore(temp.store, { all: true });
    expect(result.removed.memoTables).toBe(2);
    expect(result.reclaimed).toBe(bytes);
    expect(statSync(temp.store.paths.memo, { throwIfNoEntry: false })).toBeUndefined();
  });

  it('counts the bytes of the memo tables it removes', async () => {
    const roots = join(temp.store.paths.memo, 'roots');
    mkdirSync(roots, { recursive: true });
    writeFileSync(join(roots, 'stray.json'), 'x'.repeat(1000));
    const result = await pruneStore(temp.store);
    expect(result.removed.memoTables).toBe(1);
    expect(result.reclaimed).toBe(1000);
    expect(readdirSync(roots)).toEqual([]);
  });

  it('verify finds and repairs damage', async () => {
    const image = await writeTestImage(temp.store, [[{ name: 'a', body: 'a' }]], 'app:1');
    const broken = await writeTestImage(temp.store, [[{ name: 'b', body: 'b' }]], 'app:2');
    const cached = await cacheLayer('step');
    writeFileSync(join(temp.dir, 'blobs', 'sha256', digestHex(image.layers[0]!.digest)), 'rot');
    writeFileSync(join(temp.dir, 'blobs', 'sha256', digestHex(broken.manifest.digest)), 'rot');
    writeFileSync(join(temp.dir, 'blobs', 'sha256', digestHex(cached.digest)), 'rot');
    writeFileSync(join(temp.dir, 'blobs', 'sha256', 'junk'), 'x');
    const report = await verifyStore(temp.store);
    expect(report.ok).toBe(false);
    // Reading a damaged manifest quarantines it at once (a bad blob is never served), so its tag already dangles.
    expect(report.problems.map((p) => p.kind).sort()).toEqual(
      ['corrupt-blob', 'corrupt-blob', 'corrupt-blob', 'dangling-tag', 'missing-blob', 'record-missing-layer', 'stray-file'],
    );
    expect(report.problems.every((p) => !p.repaired)).toBe(true);
    // The manifest went to quarantine during the first run; the rest is repaired now.
    const repaired = await verifyStore(temp.store, { repair: true });
    expect(repaired.problems.map((p) => `${p.kind} ${p.subject}`).sort()).toEqual(
      [
        `corrupt-blob ${image.layers[0]!.digest}`,
        `corrupt-blob ${cached.digest}`,
        `stray-file ${join(temp.dir, 'blobs', 'sha256', 'junk')}`,
        `dangling-tag docker.io/library/app:2`,
        `missing-blob docker.io/library/app:1`,
        `record-missing-layer ${cached.key}`,
      ].sort(),
    );
    await expect(temp.store.resolve('app:2')).rejects.toMatchObject({ code: 'CACHE_REF_NOT_FOUND' });
    const again = await verifyStore(temp.store);
    // The image with a lost layer stays tagged (a pull can restore the layer) and is still reported.
    expect(again.problems.map((p) => p.kind)).toEqual(['missing-blob']);
  });

  it('verify repairs a damaged index.json', async () => {
    writeFileSync(join(temp.dir, 'index.json'), 'garbage');
    expect((await verifyStore(temp.store)).problems.map((p) => p.kind)).toEqual(['corrupt-index']);
    await verifyStore(temp.store, { repair: true });
    expect((await verifyStore(temp.store)).ok).toBe(true);
    expect(readdirSync(join(temp.dir, 'quarantine-v1')).some((n) => n.startsWith('index.json.'))).toBe(true);
  });
});
