// examples/embed: the library-use example runs as a user runs it (node, the
// built workspace packages), against a temp store holding the busybox test
// image; both images land in the store, readable by skopeo, and a second run
// finds every step in the cache.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Store } from '@strata/cache';
import { loadTestImage, testImage } from './support/test-images.js';

const execFileAsync = promisify(execFile);
const EXAMPLE = resolve(__dirname, '..', 'examples', 'embed', 'embed.mjs');

describe('examples/embed', () => {
  let dir: string;
  let storeRoot: string;
  const base = 'localhost/test/busybox:latest';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-embed-');
    storeRoot = join(dir, 'store');
    const store = await Store.open(storeRoot);
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async () => {
    const { stdout } = await execFileAsync(process.execPath, [EXAMPLE, '--store', storeRoot, '--base', base, '--tag-prefix', 'localhost/embed'], {
      env: { PATH: process.env.PATH, HOME: dir },
    });
    return stdout.split('\n');
  };
  const summary = (lines: string[], name: string): string[] => (lines.find((l) => l.startsWith(`${name} `)) ?? '').trim().split(/\s{2,}/);

  it('builds both images at once, rendering each with its prefix and a summary', async () => {
    const lines = await run();
    // each image's own lines: the steps that ran, the RUN output under them
    expect(lines).toContain('[greeter]   | greeting is hello from code');
    expect(lines).toContain('[counter]   | counted to 5');
    expect(lines.filter((l) => l.startsWith('[greeter] + ')).map((l) => l.split(' ').slice(3, 5).join(' '))).toEqual(['3/6 WORKDIR', '4/6 COPY', '5/6 RUN']);
    expect(lines.filter((l) => l.startsWith('[counter] + ')).map((l) => l.split(' ').slice(2, 5).join(' '))).toEqual([
      'count 2/2 RUN',
      '1 2/5 COPY',
      '1 3/5 COPY',
    ]);
    expect(lines).toContain('[counter]   1 4/5 LABEL org.example.role=counter');
    expect(lines.find((l) => l.startsWith('IMAGE '))?.split(/\s{2,}/)).toEqual(['IMAGE', 'TAG', 'IMAGE ID', 'RAN', 'CACHED', 'NEW LAYERS', 'STATUS']);
    const greeter = summary(lines, 'greeter');
    expect(greeter.slice(0, 2)).toEqual(['greeter', 'localhost/embed/greeter:latest']);
    expect(greeter.slice(3, 5)).toEqual(['3', '0']);
    expect(greeter[6]).toBe('ok');
    expect(summary(lines, 'counter')[6]).toBe('ok');

    // the images are in the store, as the program said
    const inspect = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci:${storeRoot}:localhost/embed/greeter:latest`], { encoding: 'utf8' })) as {
      config: { Entrypoint: string[]; WorkingDir: string };
    };
    expect(inspect.config).toMatchObject({ Entrypoint: ['/app/greet.sh'], WorkingDir: '/app' });
    const configDigest = `sha256:${execFileSync('sha256sum', { input: execFileSync('skopeo', ['inspect', '--raw', '--config', `oci:${storeRoot}:localhost/embed/greeter:latest`]) }).toString().slice(0, 12)}`;
    expect(`sha256:${greeter[2]}`).toBe(configDigest);
    const counter = JSON.parse(execFileSync('skopeo', ['inspect', `oci:${storeRoot}:localhost/embed/counter:latest`], { encoding: 'utf8' })) as {
      Labels: Record<string, string>;
    };
    expect(counter.Labels).toEqual({ 'org.example.role': 'counter' });
  });

  it('a second run finds every step in the cache', async () => {
    const lines = await run();
    expect(lines.filter((l) => / \+ /.test(l))).toEqual([]);
    expect(summary(lines, 'greeter').slice(3, 5)).toEqual(['0', '3']);
    expect(summary(lines, 'counter').slice(3, 5)).toEqual(['0', '3']);
  });
});
