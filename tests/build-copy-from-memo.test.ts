import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// COPY --from=<stage>: the sources digest of a selection is remembered by the
// source's layers (chain ID) and what the step selects (cache-v1/from-sources),
// so a rebuild whose stage is unchanged neither mounts nor hashes it. The
// digest must be the one a cold computation gives (the same keys, the same
// image ID as a fresh store), and a stage whose files changed must never be
// given the digest of its old files, even under the same stage key.
describe('strata build: remembered COPY --from sources digests', () => {
  const base = 'localhost/test/busybox:latest';
  const epoch = 1_700_000_000;
  const old = new Date('2001-02-03T04:05:06Z');
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync('/dev/shm/strata-copy-from-memo-');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function freshStore(name: string): Promise<Store> {
    const store = await Store.open(join(dir, name));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    return store;
  }

  /** The steps of the final stage that copy from a stage, by what happened to them. */
  function fromSteps(events: readonly BuildEvent[]): string[] {
    return events.flatMap((e) => ((e.type === 'step-cached' || e.type === 'step-completed') && e.instruction.text.startsWith('COPY --from') ? [e.type] : []));
  }

  /** The remembered digests of a store, as written: { selection, digest }. */
  function remembered(store: Store): { selection: string; digest: string; path: string }[] {
    const top = join(store.root, 'cache-v1', 'from-sources');
    let shards: string[];
    try {
      shards = readdirSync(top);
    } catch {
      return [];
    }
    return shards.flatMap((shard) =>
      readdirSync(join(top, shard)).map((name) => {
        const path = join(top, shard, name);
        return { ...(JSON.parse(readFileSync(path, 'utf8')) as { selection: string; digest: string }), path };
      }),
    );
  }

  const mountsUnder = (path: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(path));

  describe('a stage built from the context', () => {
    const dockerfile = [
      `FROM ${base} AS build`,
      'WORKDIR /work',
      'COPY src/ ./src/',
      'RUN mkdir dist && cat src/*.txt > dist/all && ls -ln src > dist/listing',
      `FROM ${base}`,
      'COPY --from=build /work/src ./src/',
      'COPY --from=build /work/dist/all /all',
      '',
    ].join('\n');

    function makeContext(root: string): void {
      mkdirSync(join(root, 'src', 'sub'), { recursive: true });
      for (let i = 0; i < 30; i += 1) writeFileSync(join(root, 'src', `f${i}.txt`), `file ${i}\n`);
      writeFileSync(join(root, 'src', 'sub', 'deep'), 'deep\n');
      for (const p of ['src', 'src/sub', 'src/sub/deep', ...Array.from({ length: 30 }, (_, i) => `src/f${i}.txt`)]) utimesSync(join(root, p), old, old);
    }

    async function buildIn(store: Store, context: string, events: BuildEvent[] = [], options: { noCache?: boolean } = {}): Promise<string> {
      const result = await build({ store, context, dockerfileText: dockerfile, sourceDateEpoch: epoch, tags: ['localhost/test/from-memo:1'], onEvent: (e) => events.push(e), ...options });
      return result.imageId;
    }

    it('a no-op rebuild takes the remembered digest: the same keys and image ID, nothing mounted', async () => {
      const context = join(dir, 'noop', 'ctx');
      makeContext(context);
      const store = await freshStore('noop/store');
      const first = await buildIn(store, context);
      // one per COPY --from selection, named by the stage's chain ID
      expect(remembered(store)).toHaveLength(2);
      const again: BuildEvent[] = [];
      expect(await buildIn(store, context, again)).toBe(first);
      expect(fromSteps(again)).toEqual(['step-cached', 'step-cached']);
      expect(mountsUnder(store.root)).toEqual([]);
      // a fresh store computes every digest cold: the same image
      expect(await buildIn(await freshStore('noop/cold'), context)).toBe(first);
    });

    it('the remembered digest stands in for hashing the stage (a forged one changes the key), and --no-cache computes it again', async () => {
      const context = join(dir, 'forged', 'ctx');
      makeContext(context);
      const store = await freshStore('forged/store');
      const first = await buildIn(store, context);
      const [entry] = remembered(store).sort((a, b) => a.selection.length - b.selection.length);
      if (entry === undefined) throw new Error('nothing remembered');
      writeFileSync(entry.path, JSON.stringify({ selection: entry.selection, digest: `sha256:${'0'.repeat(64)}` }));
      // the stage is not hashed: the forged digest makes a new key, so the step runs
      const forged: BuildEvent[] = [];
      await buildIn(store, context, forged);
      expect(fromSteps(forged)).toContain('step-completed');
      // --no-cache reads no remembered digest and writes the true one back
      expect(await buildIn(store, context, [], { noCache: true })).toBe(first);
      expect(remembered(store).find((r) => r.path === entry.path)?.digest).toBe(entry.digest);
      const healed: BuildEvent[] = [];
      expect(await buildIn(store, context, healed)).toBe(first);
      expect(fromSteps(healed)).toEqual(['step-cached', 'step-cached']);
    });

    it('a changed stage is not given its old digest: the rebuild equals a cold build, and going back hits the first build', async () => {
      const context = join(dir, 'changed', 'ctx');
      makeContext(context);
      const store = await freshStore('changed/store');
      const first = await buildIn(store, context);
      writeFileSync(join(context, 'src', 'f7.txt'), 'changed\n');
      utimesSync(join(context, 'src', 'f7.txt'), old, old);
      const events: BuildEvent[] = [];
      const changed = await buildIn(store, context, events);
      expect(changed).not.toBe(first);
      expect(fromSteps(events)).toEqual(['step-completed', 'step-completed']);
      expect(await buildIn(await freshStore('changed/cold'), context)).toBe(changed);
      expect(remembered(store)).toHaveLength(4);
      // the first content again: its stage layers, its remembered digests, its records
      writeFileSync(join(context, 'src', 'f7.txt'), 'file 7\n');
      utimesSync(join(context, 'src', 'f7.txt'), old, old);
      const back: BuildEvent[] = [];
      expect(await buildIn(store, context, back)).toBe(first);
      expect(fromSteps(back)).toEqual(['step-cached', 'step-cached']);
    });
  });

  it('a stage whose key stayed but whose files changed (rebuilt with --no-cache-filter) is hashed again', async () => {
    // the stage's RUN makes new bytes each time it runs: a record rewritten under the same key
    const dockerfile = [
      `FROM ${base} AS gen`,
      'RUN mkdir /gen && head -c 16 /dev/urandom | od -An -tx1 > /gen/rand',
      `FROM ${base} AS final`,
      'COPY --from=gen /gen /out',
      '',
    ].join('\n');
    const context = join(dir, 'rekeyed', 'ctx');
    mkdirSync(context, { recursive: true });
    const store = await freshStore('rekeyed/store');
    const run = async (options: { target?: string; noCacheFilter?: string[] } = {}) => {
      const events: BuildEvent[] = [];
      const tag = `localhost/test/from-memo-${options.target ?? 'final'}:1`;
      const result = await build({ store, context, dockerfileText: dockerfile, tags: [tag], onEvent: (e) => events.push(e), ...options });
      return { events, imageId: result.imageId, tag };
    };
    const read = (ref: string, path: string): string => {
      const out = join(dir, 'rekeyed', `unpacked-${readdirSync(join(dir, 'rekeyed')).length}`);
      execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
      return readFileSync(join(out, path), 'utf8');
    };
    const gen = async () => {
      const built = await run({ target: 'gen' });
      return read(built.tag, 'gen/rand');
    };

    const first = await run();
    const firstRand = read(first.tag, 'out/rand');
    expect(await gen()).toBe(firstRand);
    const key = (events: readonly BuildEvent[]) => events.find((e) => e.type === 'step-completed' && e.stage === 'gen' && e.index === 2);
    const rebuilt = await run({ noCacheFilter: ['gen'] });
    // the same step key for the stage, new files in it
    expect(key(rebuilt.events)).toMatchObject({ cacheKey: (key(first.events) as { cacheKey: string }).cacheKey });
    const newRand = await gen();
    expect(newRand).not.toBe(firstRand);
    expect(fromSteps(rebuilt.events)).toEqual(['step-completed']);
    expect(read(rebuilt.tag, 'out/rand')).toBe(newRand);
    // and the next plain build: the stage all hits, the copy from its new files remembered and hit
    const next = await run();
    expect(fromSteps(next.events)).toEqual(['step-cached']);
    expect(next.imageId).toBe(rebuilt.imageId);
    expect(read(next.tag, 'out/rand')).toBe(newRand);
  });
});
