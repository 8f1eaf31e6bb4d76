// A layer written from the last version's blob and index (an incremental
// COPY's commit) must be byte for byte the layer a write from the files
// makes; these change a tree in one way each, write it both ways and compare.
import { chmodSync, cpSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { createHash } from 'node:crypto';
import { parseLayerIndex, serializeLayerIndex, TAR_FORMAT, type LayerIndex } from '../../src/layer/layer-index.js';
import { encodeHeader, type TarHeader } from '../../src/layer/tar-header.js';
import { writeLayer, type LayerWriteResult } from '../../src/layer/write-layer.js';

let work: string;
let seq = 0;
beforeAll(() => {
  work = mkdtempSync('/dev/shm/strata-layer-index-');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const T = 1_700_000_000;

/** A tree like a COPY's: folders, files of several sizes (one larger than the read chunk), a symlink. */
function makeTree(dir: string): void {
  for (const d of ['app', 'app/a', 'app/b', 'app/b/deep']) mkdirSync(join(dir, d), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(dir, `app/${i % 2 === 0 ? 'a' : 'b'}/f${i}.txt`), `file ${i}\n`.repeat(i * 7));
  writeFileSync(join(dir, 'app/b/deep/big.bin'), Buffer.alloc(3 << 20, 7));
  writeFileSync(join(dir, 'app/empty'), '');
  symlinkSync('a/f0.txt', join(dir, 'app/link'));
  stamp(dir);
}

/** Every entry's mtime to T (symlinks too), as a copy that keeps source times leaves them. */
function stamp(dir: string): void {
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(dir, rel))) {
      const child = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(join(dir, child));
      if (st.isDirectory()) walk(child);
      if (!st.isSymbolicLink()) utimesSync(join(dir, child), T, T);
      else lutimesSync(join(dir, child), T, T);
    }
  };
  walk('');
}

async function write(dir: string, previous?: { result: LayerWriteResult; file: string; kept: (p: string) => boolean }, epoch?: number): Promise<{ result: LayerWriteResult; file: string; bytes: Buffer }> {
  const file = join(work, `layer-${seq++}.tar`);
  const result = await writeLayer(dir, {
    output: file,
    compression: 'none',
    ...(epoch === undefined ? {} : { sourceDateEpoch: epoch }),
    ...(previous === undefined ? {} : { previous: { blob: previous.file, index: previous.result.index as LayerIndex, kept: previous.kept } }),
  });
  return { result, file, bytes: readFileSync(file) };
}

/**
 * Writes `tree`, changes a copy of it with `change`, and writes the copy from
 * the files and from the first layer; `touched` are the files the change
 * made or changed in any way (an incremental copy keeps only files whose
 * facts match the index, and writes the rest anew). Returns the writes.
 */
async function both(change: (dir: string) => void, touched: readonly string[] = [], epoch?: number) {
  const dir = join(work, `tree-${seq++}`);
  mkdirSync(dir);
  makeTree(dir);
  const first = await write(dir, undefined, epoch);
  change(dir);
  const cold = await write(dir, undefined, epoch);
  const incremental = await write(dir, { ...first, kept: (p) => !touched.includes(p) }, epoch);
  return { first, cold, incremental };
}

describe('a layer written from its last version', () => {
  test('nothing changed: every byte comes from the old blob', async () => {
    const { first, incremental } = await both(() => undefined);
    expect(incremental.bytes.equals(first.bytes)).toBe(true);
    // all but the two end-of-archive blocks
    expect(incremental.result.reusedBytes).toBe(first.bytes.length - 1024);
  });

  const shapes: Array<[string, (dir: string) => void, string[]]> = [
    [
      'a file changed (same size and mtime: only `kept` tells)',
      (d) => {
        writeFileSync(join(d, 'app/a/f2.txt'), 'FILE 2\n'.repeat(14));
        utimesSync(join(d, 'app/a/f2.txt'), T, T);
      },
      ['app/a/f2.txt'],
    ],
    ['a file added', (d) => writeFileSync(join(d, 'app/a/new.txt'), 'new\n'), ['app/a/new.txt']],
    ['a file deleted', (d) => unlinkSync(join(d, 'app/b/f3.txt')), []],
    ['a mode changed', (d) => chmodSync(join(d, 'app/a/f4.txt'), 0o755), ['app/a/f4.txt']],
    ['an mtime changed', (d) => utimesSync(join(d, 'app/b/deep/big.bin'), T + 5, T + 5), ['app/b/deep/big.bin']],
    ['a folder renamed', (d) => renameSync(join(d, 'app/b/deep'), join(d, 'app/b/deeper')), ['app/b/deeper/big.bin']],
    [
      'a symlink retargeted',
      (d) => {
        unlinkSync(join(d, 'app/link'));
        symlinkSync('b/f1.txt', join(d, 'app/link'));
        lutimesSync(join(d, 'app/link'), T, T);
      },
      [],
    ],
    ['a second name for a file (hardlink)', (d) => linkSync(join(d, 'app/a/f6.txt'), join(d, 'app/b/f6-again.txt')), ['app/a/f6.txt', 'app/b/f6-again.txt']],
    ['an extended attribute added', (d) => setAttributeSync(join(d, 'app/a/f8.txt'), 'user.note', Buffer.from('x')), ['app/a/f8.txt']],
  ];
  test.each(shapes)('%s: the same bytes as a write from the files', async (_name, change, touched) => {
    const { cold, incremental } = await both((d) => {
      change(d);
      // a cold copy gives folders new mtimes; so does this
      for (const f of ['app', 'app/a', 'app/b']) utimesSync(join(d, f), T + 1, T + 1);
    }, touched);
    expect(incremental.result.diffId).toBe(cold.result.diffId);
    expect(incremental.bytes.equals(cold.bytes)).toBe(true);
    // most of the layer (the 3 MiB file, unless it moved or changed) still came from the old blob
    expect(incremental.result.reusedBytes ?? 0).toBeGreaterThan(0);
  });

  test('a file the copy rewrote is read from the folder even when its facts match', async () => {
    const { cold, incremental } = await both((d) => {
      writeFileSync(join(d, 'app/b/deep/big.bin'), Buffer.alloc(3 << 20, 9));
      utimesSync(join(d, 'app/b/deep/big.bin'), T, T);
      utimesSync(join(d, 'app/b/deep'), T, T);
    }, ['app/b/deep/big.bin']);
    expect(incremental.bytes.equals(cold.bytes)).toBe(true);
    expect(incremental.result.reusedBytes ?? 0).toBeLessThan(cold.bytes.length - (3 << 20));
  });

  test('another SOURCE_DATE_EPOCH writes from the files (the index says which epoch clamped it)', async () => {
    const dir = join(work, `tree-${seq++}`);
    mkdirSync(dir);
    makeTree(dir);
    const first = await write(dir, undefined, T - 10);
    const cold = await write(dir, undefined, T - 20);
    const incremental = await write(dir, { ...first, kept: () => true }, T - 20);
    expect(incremental.bytes.equals(cold.bytes)).toBe(true);
    expect(incremental.result.reusedBytes).toBeUndefined();
  });

  test('an old blob shorter than its index (damaged, replaced) writes from the files', async () => {
    const dir = join(work, `tree-${seq++}`);
    mkdirSync(dir);
    makeTree(dir);
    const first = await write(dir);
    const short = join(work, `short-${seq++}.tar`);
    writeFileSync(short, first.bytes.subarray(0, 4096));
    const incremental = await write(dir, { result: first.result, file: short, kept: () => true });
    expect(incremental.bytes.equals(first.bytes)).toBe(true);
    expect(incremental.result.reusedBytes).toBeUndefined();
  });
});

describe('the layer index as text', () => {
  test('round-trips, and refuses another tar format or damage', async () => {
    const dir = join(work, `tree-${seq++}`);
    mkdirSync(dir);
    makeTree(dir);
    const { result } = await write(dir);
    const text = serializeLayerIndex(result.index as LayerIndex);
    const back = parseLayerIndex(text) as LayerIndex;
    expect(back.diffId).toBe(result.diffId);
    expect([...back.entries.values()]).toEqual([...(result.index as LayerIndex).entries.values()]);
    expect(back.entries.get('app/link')).toMatchObject({ type: 'symlink', linkname: 'a/f0.txt', plain: true });
    expect(parseLayerIndex(text.replace(TAR_FORMAT, 'other-tar-0'))).toBeUndefined();
    expect(parseLayerIndex(text.slice(0, -10))).toBeUndefined();
    expect(parseLayerIndex(text.replace(/"entries":\[\["app",/, '"entries":[["app",-1,'))).toBeUndefined();
  });

  test('a folder copied elsewhere keeps its index valid: paths are relative', async () => {
    const dir = join(work, `tree-${seq++}`);
    mkdirSync(dir);
    makeTree(dir);
    const first = await write(dir);
    const moved = join(work, `moved-${seq++}`);
    cpSync(dir, moved, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
    stamp(moved);
    const again = await write(moved, { ...first, kept: () => true });
    expect(again.bytes.equals(first.bytes)).toBe(true);
  });
});

describe('TAR_FORMAT names the header encoding', () => {
  // An index's facts stand for header bytes only while encodeHeader writes the bytes it wrote when the
  // index was made. When this digest changes, the encoding changed: give TAR_FORMAT a new name (old
  // indexes are then never used) and put the new digest here.
  const PINNED = { format: 'strata-tar-1', digest: 'sha256:f2713a57068fd717da5f5ff8212e0ce9f01c2e80690caa407cbe7ae077bc7717' };
  test('the encoding of a fixed set of headers is the one TAR_FORMAT was named for', () => {
    const headers: TarHeader[] = [
      { path: 'app/file.txt', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 5, mtime: 1_700_000_000 },
      { path: 'app', type: 'dir', mode: 0o755, uid: 1000, gid: 1000, size: 0, mtime: 1_700_000_001 },
      { path: 'app/link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1_700_000_002, linkname: 'file.txt' },
      { path: `deep/${'d'.repeat(120)}/name-${'n'.repeat(90)}`, type: 'file', mode: 0o4755, uid: 3_000_000, gid: 4_000_000, size: 1, mtime: -86_400 },
      { path: 'app/naïve-ünïcode', type: 'file', mode: 0o600, uid: 7, gid: 8, size: 2 ** 34, mtime: 1_700_000_003 },
    ];
    const digest = `sha256:${createHash('sha256').update(Buffer.concat(headers.map((h) => encodeHeader(h)))).digest('hex')}`;
    expect({ format: TAR_FORMAT, digest }).toEqual(PINNED);
  });

  test('an index of a layer with mtimes before 1970 is read back and used', async () => {
    const dir = join(work, `tree-${seq++}`);
    mkdirSync(dir);
    makeTree(dir);
    utimesSync(join(dir, 'app/a/f0.txt'), new Date(-86_400_000), new Date(-86_400_000));
    const first = await write(dir);
    const index = parseLayerIndex(serializeLayerIndex(first.result.index as LayerIndex)) as LayerIndex;
    expect(index.entries.get('app/a/f0.txt')?.mtime).toBe(-86_400);
    const again = await write(dir, { result: { ...first.result, index }, file: first.file, kept: () => true });
    expect(again.bytes.equals(first.bytes)).toBe(true);
    expect(again.result.reusedBytes).toBe(first.bytes.length - 1024);
  });
});
