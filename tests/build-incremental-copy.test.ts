import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// An incremental COPY (a COPY whose sources changed in a few files since its
// last build starts from its last result) must give the layer a cold build of
// the same inputs gives: same diffIDs, same image ID. Each shape builds v1,
// changes the context, rebuilds in the same store (incremental) and builds the
// changed context in a fresh store (cold), with SOURCE_DATE_EPOCH set so that
// times do not depend on when each build ran.
describe('strata build: incremental COPY gives the cold build layer', () => {
  const base = 'localhost/test/busybox:latest';
  const epoch = 1_700_000_000;
  const old = new Date('2001-02-03T04:05:06Z');
  const older = new Date('1999-09-09T09:09:09Z');
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync('/dev/shm/strata-incremental-copy-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A context with files, an empty folder, a symlink and a hardlink, all with old mtimes (before the epoch). */
  function makeContext(root: string): void {
    const app = join(root, 'app');
    mkdirSync(join(app, 'sub', 'deeper'), { recursive: true });
    mkdirSync(join(app, 'empty'));
    for (let i = 0; i < 40; i += 1) writeFileSync(join(app, `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
    writeFileSync(join(app, 'sub', 'a'), 'a\n');
    writeFileSync(join(app, 'sub', 'deeper', 'b'), 'b\n');
    writeFileSync(join(app, 'tool'), '#!/bin/sh\necho tool\n');
    chmodSync(join(app, 'tool'), 0o755);
    symlinkSync('f1.txt', join(app, 'link'));
    linkSync(join(app, 'sub', 'a'), join(app, 'sub', 'a-again'));
    touchAll(app, old);
  }

  function touchAll(root: string, when: Date): void {
    const paths = ['', 'sub', 'sub/deeper', 'empty', 'sub/a', 'sub/deeper/b', 'tool', ...Array.from({ length: 40 }, (_, i) => `f${i}.txt`)];
    for (const p of paths) {
      try {
        utimesSync(join(root, p), when, when);
      } catch {
        // removed by a shape
      }
    }
  }

  const dockerfile = `FROM ${base}\nCOPY app/ /srv/app/\nRUN ls -lRn /srv/app > /srv/listing && cat /srv/app/f3.txt > /srv/out\n`;

  async function buildIn(store: Store, context: string, events: BuildEvent[] = []): Promise<string> {
    const result = await build({ store, context, dockerfileText: dockerfile, sourceDateEpoch: epoch, tags: ['localhost/test/incremental:1'], onEvent: (e) => events.push(e) });
    return result.imageId;
  }

  function copyStep(events: readonly BuildEvent[]): Extract<BuildEvent, { type: 'step-completed' }> | undefined {
    return events.find((e): e is Extract<BuildEvent, { type: 'step-completed' }> => e.type === 'step-completed' && e.instruction.text.startsWith('COPY'));
  }

  const shapes: [string, (app: string) => void][] = [
    ['a file changed', (app) => writeFileSync(join(app, 'f3.txt'), 'changed\n')],
    ['a file grew, with its old mtime', (app) => {
      writeFileSync(join(app, 'f5.txt'), 'x'.repeat(100_000));
      utimesSync(join(app, 'f5.txt'), old, old);
    }],
    ['a file added', (app) => writeFileSync(join(app, 'sub', 'new'), 'new\n')],
    ['a file deleted', (app) => unlinkSync(join(app, 'f7.txt'))],
    ['a mode changed', (app) => chmodSync(join(app, 'f9.txt'), 0o600)],
    ['a folder renamed', (app) => renameSync(join(app, 'sub'), join(app, 'moved'))],
    ['a symlink retargeted', (app) => {
      unlinkSync(join(app, 'link'));
      symlinkSync('f2.txt', join(app, 'link'));
    }],
    ['a hardlink added and one removed', (app) => {
      unlinkSync(join(app, 'sub', 'a-again'));
      linkSync(join(app, 'f4.txt'), join(app, 'f4-again.txt'));
    }],
    ['a file became a folder and a folder a file', (app) => {
      unlinkSync(join(app, 'f6.txt'));
      mkdirSync(join(app, 'f6.txt'));
      writeFileSync(join(app, 'f6.txt', 'inside'), 'inside\n');
      rmSync(join(app, 'empty'), { recursive: true });
      writeFileSync(join(app, 'empty'), 'not a folder\n');
    }],
    ['an mtime changed with a content change elsewhere', (app) => {
      utimesSync(join(app, 'f8.txt'), older, older);
      writeFileSync(join(app, 'f10.txt'), 'changed\n');
    }],
    ['the empty folder got a file and lost it again in the same build', (app) => {
      writeFileSync(join(app, 'f11.txt'), 'changed\n');
      utimesSync(join(app, 'empty'), older, older);
    }],
  ];

  it.each(shapes)('%s', async (name, change) => {
    const root = join(dir, name.replace(/[^a-z]+/g, '-'));
    const context = join(root, 'ctx');
    makeContext(context);
    const incremental = await Store.open(join(root, 'incremental'));
    await loadTestImage(incremental, testImage('busybox', 'amd64'), base);
    await buildIn(incremental, context);

    change(join(context, 'app'));
    const events: BuildEvent[] = [];
    const rebuilt = await buildIn(incremental, context, events);
    expect(copyStep(events)?.incremental?.changed).toBeGreaterThan(0);

    const cold = await Store.open(join(root, 'cold'));
    await loadTestImage(cold, testImage('busybox', 'amd64'), base);
    const coldEvents: BuildEvent[] = [];
    expect(await buildIn(cold, context, coldEvents)).toBe(rebuilt);
    expect(copyStep(coldEvents)?.incremental).toBeUndefined();
  });

  it('chains: an incremental result is the start of the next one, and a missing snapshot falls back to a cold copy', async () => {
    const root = join(dir, 'chain');
    const context = join(root, 'ctx');
    makeContext(context);
    const store = await Store.open(join(root, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    await buildIn(store, context);
    const ids: string[] = [];
    for (let round = 0; round < 3; round += 1) {
      writeFileSync(join(context, 'app', `f${round}.txt`), `round ${round}\n`);
      const events: BuildEvent[] = [];
      ids.push(await buildIn(store, context, events));
      expect(copyStep(events)?.incremental).toEqual({ changed: 1 });
    }
    // back to round 1's content: a cache hit, the same image
    writeFileSync(join(context, 'app', 'f2.txt'), `file 2\n`.repeat(3));
    utimesSync(join(context, 'app', 'f2.txt'), old, old);
    const again: BuildEvent[] = [];
    expect(await buildIn(store, context, again)).toBe(ids[1]);
    expect(copyStep(again)).toBeUndefined();
    expect(again.filter((e) => e.type === 'step-cached')).toHaveLength(2);

    // no snapshots: the COPY is made cold from the blob-less start, and is the same
    for (const s of (await store.snapshots.list()).snapshots) await store.snapshots.remove(s.chainId);
    writeFileSync(join(context, 'app', 'f30.txt'), 'late\n');
    const events: BuildEvent[] = [];
    const id = await buildIn(store, context, events);
    expect(copyStep(events)?.incremental).toBeUndefined();
    const cold = await Store.open(join(root, 'cold'));
    await loadTestImage(cold, testImage('busybox', 'amd64'), base);
    expect(await buildIn(cold, context)).toBe(id);
  });

  it('COPY --from a stage that changed is incremental too, names the changed file, and gives the cold build layer', async () => {
    const root = join(dir, 'from-stage');
    const context = join(root, 'ctx');
    makeContext(context);
    const twoStages = `FROM ${base} AS build\nCOPY app/ /work/app/\nRUN cat /work/app/f3.txt > /work/out\nFROM ${base}\nCOPY --from=build /work/ /srv/\n`;
    const buildTwo = async (store: Store, events: BuildEvent[] = []): Promise<string> =>
      (await build({ store, context, dockerfileText: twoStages, sourceDateEpoch: epoch, tags: ['localhost/test/incremental:2'], onEvent: (e) => events.push(e) })).imageId;
    const fromStep = (events: readonly BuildEvent[]) =>
      events.find((e): e is Extract<BuildEvent, { type: 'step-completed' }> => e.type === 'step-completed' && e.instruction.text.startsWith('COPY --from'));
    const store = await Store.open(join(root, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    await buildTwo(store);
    writeFileSync(join(context, 'app', 'f3.txt'), 'changed for the stage\n');
    const events: BuildEvent[] = [];
    const rebuilt = await buildTwo(store, events);
    const step = fromStep(events);
    // f3.txt and /work/out changed in the stage
    expect(step?.incremental?.changed).toBe(2);
    expect(step?.reason).toBe('source changed: work/app/f3.txt, work/out');
    const cold = await Store.open(join(root, 'cold'));
    await loadTestImage(cold, testImage('busybox', 'amd64'), base);
    expect(await buildTwo(cold)).toBe(rebuilt);
  });

  it('after a reboot the kept files are checked on disk: a snapshot file a power loss truncated is written again', async () => {
    const root = join(dir, 'reboot');
    const context = join(root, 'ctx');
    makeContext(context);
    const store = await Store.open(join(root, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    await buildIn(store, context);
    const snapshots = (await store.snapshots.list()).snapshots.filter((s) => existsSync(join(s.path, '..', 'layer-index.json')));
    expect(snapshots).toHaveLength(1);
    const snapshot = snapshots[0]!;
    const indexFile = join(snapshot.path, '..', 'layer-index.json');
    // what a power loss can leave: a file the index says has content, empty on disk, and a boot since
    truncateSync(join(snapshot.path, 'srv', 'app', 'f5.txt'), 0);
    const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { boot: string | null };
    expect(typeof index.boot).toBe('string');
    writeFileSync(indexFile, JSON.stringify({ ...index, boot: 'an-earlier-boot' }));

    writeFileSync(join(context, 'app', 'f3.txt'), 'changed\n');
    const events: BuildEvent[] = [];
    const rebuilt = await buildIn(store, context, events);
    expect(copyStep(events)?.incremental).toEqual({ changed: 1 });
    const after = (await store.snapshots.list()).snapshots.find((s) => existsSync(join(s.path, '..', 'layer-index.json')));
    expect(readFileSync(join(after!.path, 'srv', 'app', 'f5.txt'), 'utf8')).toBe('file 5\n'.repeat(6));
    const cold = await Store.open(join(root, 'cold'));
    await loadTestImage(cold, testImage('busybox', 'amd64'), base);
    expect(await buildIn(cold, context)).toBe(rebuilt);
  });
});
