// Several strata processes on one store and one registry at once: four
// builds (two different Dockerfiles, two identical ones) produce correct
// images; pushes of the same blobs to one registry at once all succeed.
// Each command is a separate bin/strata process, as users run them.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { startRegistry, type TestRegistry } from './support/registry.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(300_000);

const BIN = join(__dirname, '..', 'bin', 'strata');
const base = 'localhost/test/busybox:latest';
let dir: string;
let root: string;
let registry: TestRegistry;

function strata(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, STRATA_ROOT: root }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

function unpack(ref: string): string {
  const out = join(dir, `rootfs-${createHash('sha256').update(ref).digest('hex').slice(0, 8)}-${Math.random().toString(36).slice(2)}`);
  execFileSync('umoci', ['raw', 'unpack', '--image', `${root}:${ref}`, out], { stdio: 'pipe' });
  return out;
}

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-sec-concurrency-');
  root = join(dir, 'store');
  const store = await Store.open(root);
  await loadTestImage(store, testImage('busybox', 'amd64'), base);
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('one store, several processes at once', () => {
  it('four builds (two different, two identical Dockerfiles) all produce correct images', async () => {
    const contexts = ['a', 'b'].map((name) => {
      const ctx = join(dir, `ctx-${name}`);
      mkdirSync(join(ctx, 'src'), { recursive: true });
      for (let i = 0; i < 20; i += 1) writeFileSync(join(ctx, 'src', `f${i}`), `${name} file ${i}\n`.repeat(i + 1));
      writeFileSync(join(ctx, 'Dockerfile'), [
        `FROM ${base}`,
        `RUN echo ${name} > /which && head -c 100000 /dev/zero > /zeros`,
        'COPY src /src',
        `RUN cat /src/* | wc -l > /lines && echo done-${name} > /done`,
        '',
      ].join('\n'));
      return ctx;
    });
    const [ctxA, ctxB] = contexts as [string, string];
    const runs = await Promise.all([
      strata(['build', '-q', '-t', 'localhost/conc/a:1', ctxA]),
      strata(['build', '-q', '-t', 'localhost/conc/b:1', ctxB]),
      strata(['build', '-q', '-t', 'localhost/conc/a:2', ctxA]),
      strata(['build', '-q', '-t', 'localhost/conc/a:3', ctxA]),
    ]);
    for (const r of runs) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    for (const [ref, which] of [['localhost/conc/a:1', 'a'], ['localhost/conc/b:1', 'b'], ['localhost/conc/a:2', 'a'], ['localhost/conc/a:3', 'a']] as const) {
      const rootfs = unpack(ref);
      expect(readFileSync(join(rootfs, 'which'), 'utf8')).toBe(`${which}\n`);
      expect(readFileSync(join(rootfs, 'done'), 'utf8')).toBe(`done-${which}\n`);
      expect(readFileSync(join(rootfs, 'lines'), 'utf8').trim()).toBe('210');
      expect(readdirSync(join(rootfs, 'src'))).toHaveLength(20);
      expect(readFileSync(join(rootfs, 'src', 'f3'), 'utf8')).toBe(`${which} file 3\n`.repeat(4));
    }
    expect((await strata(['verify'])).code).toBe(0);
    expect(readdirSync(join(root, 'tmp'))).toEqual([]);
    // what the concurrent builds recorded serves the next one: every step cached
    const again = await strata(['build', '--progress=plain', '-t', 'localhost/conc/a:4', ctxA]);
    expect(again.code).toBe(0);
    expect(again.err.match(/CACHED/g)?.length).toBe(3);
  });

  it('four pushes of the same blobs to one registry at once all succeed and read back by digest', async () => {
    const refs = ['same/one:1', 'same/one:2', 'same/two:1', 'other/three:1'].map((r) => `${registry.host}/${r}`);
    for (const ref of refs) expect((await strata(['tag', 'localhost/conc/a:1', ref])).code).toBe(0);
    const pushes = await Promise.all(refs.map((ref) => strata(['push', ref])));
    for (const r of pushes) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    // the store keeps the built layers uncompressed; every push sends the one export form (gzip, compressed once)
    const pushed = new Set<string>();
    for (const ref of refs) {
      const raw = execFileSync('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`]);
      pushed.add(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
      const manifest = JSON.parse(raw.toString('utf8')) as { layers: { mediaType: string }[] };
      expect(manifest.layers.every((l) => l.mediaType.endsWith('+gzip'))).toBe(true);
      // every blob is whole: skopeo copies the image out, verifying each digest
      execFileSync('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'copied')}:${ref.split('/').pop() ?? 'x'}`], { stdio: 'pipe' });
    }
    expect(pushed.size).toBe(1);
  });
});
