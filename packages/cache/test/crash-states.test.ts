// The states a killed writer can leave between temp write, fsync and rename,
// laid out by hand: the next open must clean them up and the store must verify clean.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MediaType, Store, verifyStore, type StoreEvent } from '../src/index.js';
import { tempRoot } from './helpers.js';

// A pid above the default pid_max range: no live process has it.
const DEAD = '4194303.777';

describe('leftovers of a killed writer', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(async () => {
    ({ dir, cleanup } = tempRoot());
    await Store.open(dir);
  });
  afterEach(() => cleanup());

  it('are swept on open, and the store verifies clean', async () => {
    const tmp = join(dir, 'tmp');
    writeFileSync(join(tmp, `blob-${DEAD}-0a1b2c`), 'half a la');
    writeFileSync(join(tmp, `file-${DEAD}-0a1b2d`), '{"schemaVersion": 2, "manif');
    mkdirSync(join(tmp, `snap-${DEAD}-0a1b2e`, 'fs', 'etc'), { recursive: true });
    writeFileSync(join(tmp, `snap-${DEAD}-0a1b2e`, 'fs', 'etc', 'passwd'), 'root:x:0:0');
    mkdirSync(join(tmp, `trash-${DEAD}-0a1b2f`, 'fs'), { recursive: true });
    writeFileSync(join(tmp, `token-${DEAD}-0a1b30`), `${DEAD} lock\n`);
    const events: StoreEvent[] = [];
    const store = await Store.open(dir, { onEvent: (e) => events.push(e) });
    expect(events).toContainEqual({ type: 'tmp-swept', count: 5 });
    expect(readdirSync(tmp)).toEqual([]);
    expect(await store.blobs.listBlobs()).toEqual([]);
    await expect(verifyStore(store)).resolves.toMatchObject({ ok: true, problems: [] });
  });

  it("leave a live writer's temp files alone", async () => {
    const store = await Store.open(dir);
    // This process is alive: its own in-flight name must survive another open.
    const mine = `blob-${process.pid}.${readFileStart()}-0a1b2c`;
    writeFileSync(join(dir, 'tmp', mine), 'in flight');
    await Store.open(dir);
    expect(existsSync(join(dir, 'tmp', mine))).toBe(true);
    expect(await store.sweepTemp()).toBe(0);
  });

  it('a dead holder of the index lock does not block tagging', async () => {
    writeFileSync(join(dir, 'locks', 'index.lock'), `${DEAD} lock-${DEAD}-abc\n`);
    const events: StoreEvent[] = [];
    const store = await Store.open(dir, { onEvent: (e) => events.push(e), lockTimeoutMs: 2000 });
    const config = await store.putJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }, MediaType.ociConfig);
    const manifest = await store.putJson({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] }, MediaType.ociManifest);
    await expect(store.tag('after/crash:1', manifest)).resolves.toBe('docker.io/after/crash:1');
    expect(events).toContainEqual({ type: 'lock-broken', lock: 'index', holder: DEAD });
    expect(existsSync(join(dir, 'locks', 'index.lock'))).toBe(false);
  });
});

function readFileStart(): string {
  const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '0';
}
