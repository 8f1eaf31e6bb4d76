import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { build, type BuildEvent } from '@strata/builder';
import { loadTestImage, testImage } from './support/test-images.js';

// COPY --from=<stage>: the stage is read through a read-only overlay, its
// files hashed for the key without the context memo (their path is a mount
// made for one step), copied several at a time. Read back with umoci.
describe('strata build: COPY --from a stage', () => {
  let dir: string;
  let store: Store;
  let context: string;
  const base = 'localhost/test/busybox:latest';
  const files = 60;
  const source = [
    `FROM ${base} AS src`,
    `RUN mkdir -p /data/sub && i=0; while [ $i -lt ${files} ]; do echo "file $i" > /data/f$i; i=$((i+1)); done`,
    // one RUN: a later layer's copy-up would break the hardlink; the old mtimes are outside the memo's racy window
    'RUN echo deep > /data/sub/deep && ln /data/f1 /data/sub/hard && ln -s f2 /data/link && chmod 0640 /data/f3 && touch -d "2001-01-01 00:00:00" /data/f* /data/sub/deep',
  ].join('\n');

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-build-copy-from-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    context = join(dir, 'ctx');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'ctx.txt'), 'from the context\n');
    // older than the memo's racy window, so it is memoized
    utimesSync(join(context, 'ctx.txt'), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let counter = 0;
  async function buildText(text: string) {
    const events: BuildEvent[] = [];
    const tag = `localhost/test/copy-from:${(counter += 1)}`;
    await build({ store, context, dockerfileText: text, tags: [tag], onEvent: (e) => events.push(e) });
    return { tag, events };
  }
  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${(counter += 1)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }
  function memoEntries(): number {
    const root = store.paths.memo;
    if (!existsSync(root)) return 0;
    // content entries only: a context's selection table (`*.selections.json`) is beside its content table
    return readdirSync(root).reduce((n, d) => n + readdirSync(join(root, d)).filter((f) => !f.endsWith('.selections.json')).length, 0);
  }
  const mountsUnder = (path: string) => readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(path));
  /** Whether the final stage's COPY (step 2, after FROM) ran or was a cache hit. */
  const copyStep = (events: BuildEvent[]) =>
    events.find((e) => (e.type === 'step-completed' || e.type === 'step-cached') && e.stage === 'final' && e.index === 2)?.type;

  it('copies every file, folder, hardlink and symlink of the stage, and writes no memo entry for them', async () => {
    await buildText(`${source}\n`);
    const before = memoEntries();
    const { tag } = await buildText(`${source}\nFROM ${base} AS final\nCOPY --from=src /data /d\n`);
    expect(memoEntries()).toBe(before);
    expect(mountsUnder(store.root)).toEqual([]);
    const d = join(unpack(tag), 'd');
    const names = readdirSync(d).sort();
    expect(names).toEqual([...Array.from({ length: files }, (_, i) => `f${i}`), 'link', 'sub'].sort());
    for (let i = 0; i < files; i += 1) expect(readFileSync(join(d, `f${i}`), 'utf8')).toBe(`file ${i}\n`);
    expect(readFileSync(join(d, 'sub/deep'), 'utf8')).toBe('deep\n');
    expect(readlinkSync(join(d, 'link'))).toBe('f2');
    expect(lstatSync(join(d, 'f3')).mode & 0o7777).toBe(0o640);
    // the second name of a file stays a hardlink to the first copy
    expect(lstatSync(join(d, 'sub/hard')).ino).toBe(lstatSync(join(d, 'f1')).ino);
  });

  it('is keyed by the stage files’ content: a changed file runs the step again, the same content is a hit', async () => {
    const text = (word: string) => `FROM ${base} AS src\nRUN mkdir /data && echo ${word} > /data/w\nFROM ${base} AS final\nCOPY --from=src /data/w /w\n`;
    const first = await buildText(text('one'));
    expect(copyStep(first.events)).toBe('step-completed');
    const again = await buildText(text('one'));
    expect(copyStep(again.events)).toBe('step-cached');
    const changed = await buildText(text('two'));
    expect(copyStep(changed.events)).toBe('step-completed');
    expect(readFileSync(join(unpack(changed.tag), 'w'), 'utf8')).toBe('two\n');
  });

  it('still memoizes the build context: a rebuild reads no context file again', async () => {
    const before = memoEntries();
    const text = `FROM ${base} AS final\nCOPY ctx.txt /ctx.txt\n`;
    await buildText(text);
    expect(memoEntries()).toBe(before + 1);
    const rebuilt = await buildText(text);
    expect(copyStep(rebuilt.events)).toBe('step-cached');
    expect(memoEntries()).toBe(before + 1);
  });
});
