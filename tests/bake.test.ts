import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Store } from '@strata/cache';
import { main, type CliIo } from '@strata/cli';
import { loadTestImage, testImage } from './support/test-images.js';

// strata bake end to end: a chain of three targets (base -> mid through a
// target: context -> app through a BASE_IMAGE arg naming mid's tag) and an
// independent one, built in one process on one store; the rerun is all
// cached; a change in base's context rebuilds its dependents and nothing
// else; independent targets build at once; a failing middle target stops its
// dependent and not the independent one.
interface BakeEvent {
  readonly type: string;
  readonly target?: string;
  readonly stage?: string;
  readonly index?: number;
  readonly timestamp: number;
  readonly instruction?: { readonly text: string };
  readonly targets?: readonly { target: string; result: string; imageId?: string; cachedSteps: number; totalSteps: number }[];
}

describe('strata bake', () => {
  let dir: string;
  let store: Store;
  const base = 'localhost/test/busybox:latest';

  beforeAll(async () => {
    dir = mkdtempSync('/dev/shm/strata-bake-');
    store = await Store.open(join(dir, 'store'));
    await loadTestImage(store, testImage('busybox', 'amd64'), base);
    const file = (path: string, text: string) => {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), text);
    };
    file('base/Dockerfile', `FROM ${base}\nCOPY base.txt /base.txt\nRUN cat /base.txt > /from-base\n`);
    file('base/base.txt', 'base one\n');
    file('mid/Dockerfile', 'FROM base\nRUN echo mid > /mid\n');
    file('app/Dockerfile', 'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN cat /from-base /mid > /app\n');
    file('other/Dockerfile', `FROM ${base}\nCOPY other.txt /other.txt\nRUN wc -c /other.txt > /count\n`);
    file('other/other.txt', 'independent\n');
    file(
      'docker-bake.hcl',
      `group "default" { targets = ["base", "mid", "app", "other"] }
target "base" {
  context = "base"
  tags = ["localhost/bake/base:1"]
}
target "mid" {
  context = "mid"
  contexts = { base = "target:base" }
  tags = ["localhost/bake/mid:1"]
}
target "app" {
  context = "app"
  args = { BASE_IMAGE = "localhost/bake/mid:1" }
  tags = ["localhost/bake/app:1"]
}
target "other" {
  context = "other"
  tags = ["localhost/bake/other:1"]
}
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function bake(args: string[], command = 'bake'): Promise<{ code: number; out: string; err: string; events: BakeEvent[] }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = '';
    let err = '';
    stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const stdin = new PassThrough();
    stdin.end();
    const io: CliIo = { stdout, stderr, stdin, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', STRATA_ROOT: store.root }, cwd: dir, isTty: false };
    const code = await main([command, ...args], io);
    const events = args.includes('--progress=json') ? out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as BakeEvent) : [];
    return { code, out, err, events };
  }
  const summary = (events: BakeEvent[]) => Object.fromEntries((events.find((e) => e.type === 'bake-completed')?.targets ?? []).map((t) => [t.target, t]));
  function unpack(ref: string): string {
    const out = join(dir, `unpacked-${Math.random().toString(36).slice(2)}`);
    execFileSync('umoci', ['raw', 'unpack', '--image', `${store.root}:${ref}`, out], { stdio: 'pipe' });
    return out;
  }

  it('builds a chain of three in order and an independent target; the rerun is all cached', async () => {
    const first = await bake(['--progress=json']);
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    const built = summary(first.events);
    expect(Object.keys(built).sort()).toEqual(['app', 'base', 'mid', 'other']);
    for (const t of Object.values(built)) expect(t.result).toBe('built');
    // every event is tagged with its target; mid starts after base completed, app after mid
    expect(first.events.filter((e) => e.type.startsWith('step-')).every((e) => e.target !== undefined)).toBe(true);
    const startOf = (t: string) => first.events.find((e) => e.type === 'build-started' && e.target === t)?.timestamp ?? 0;
    const endOf = (t: string) => first.events.find((e) => e.type === 'build-completed' && e.target === t)?.timestamp ?? Infinity;
    expect(startOf('mid')).toBeGreaterThanOrEqual(endOf('base'));
    expect(startOf('app')).toBeGreaterThanOrEqual(endOf('mid'));
    expect(readFileSync(join(unpack('localhost/bake/app:1'), 'app'), 'utf8')).toBe('base one\nmid\n');

    const again = await bake(['--progress=json']);
    expect(again.code).toBe(0);
    const cached = summary(again.events);
    for (const name of ['base', 'mid', 'app', 'other']) {
      expect(cached[name]?.result).toBe('cached');
      expect(cached[name]?.cachedSteps).toBe(cached[name]?.totalSteps);
      expect(cached[name]?.imageId).toBe(built[name]?.imageId);
    }
  });

  it("a change in base's context rebuilds base and its dependents, and nothing else", async () => {
    writeFileSync(join(dir, 'base', 'base.txt'), 'base two\n');
    const { code, events } = await bake(['--progress=json']);
    expect(code).toBe(0);
    const s = summary(events);
    expect([s.base?.result, s.mid?.result, s.app?.result, s.other?.result]).toEqual(['built', 'built', 'built', 'cached']);
    expect(readFileSync(join(unpack('localhost/bake/app:1'), 'app'), 'utf8')).toBe('base two\nmid\n');
  });

  it('builds independent targets at once (their steps overlap in time)', async () => {
    const token = `${Date.now()}`;
    writeFileSync(
      join(dir, 'parallel.hcl'),
      ['one', 'two'].map((n) => `target "${n}" {\n  context = "other"\n  dockerfile-inline = "FROM ${base}\\nRUN sleep 1 && echo ${n}-${token} > /x\\n"\n}\n`).join(''),
    );
    const { code, events } = await bake(['-f', 'parallel.hcl', '--progress=json', 'one', 'two']);
    expect(code).toBe(0);
    const run = (t: string) => ({
      start: events.find((e) => e.type === 'step-started' && e.target === t && e.index === 2)?.timestamp ?? NaN,
      end: events.find((e) => e.type === 'step-completed' && e.target === t && e.index === 2)?.timestamp ?? NaN,
    });
    const one = run('one');
    const two = run('two');
    expect(one.start).toBeLessThan(two.end);
    expect(two.start).toBeLessThan(one.end);
  });

  it('strata build --build-context NAME=VALUE: a folder relative to the current directory, an image by docker-image://', async () => {
    writeFileSync(join(dir, 'named.Dockerfile'), 'FROM base\nCOPY --from=extra other.txt /from-extra.txt\n');
    const built = await bake(['-f', 'named.Dockerfile', '--build-context', 'extra=other', '--build-context', `base=docker-image://${base}`, '-t', 'localhost/bake/named:1', '--progress=plain', 'mid'], 'build');
    expect(built.err).not.toMatch(/error/i);
    expect(built.code).toBe(0);
    expect(readFileSync(join(unpack('localhost/bake/named:1'), 'from-extra.txt'), 'utf8')).toBe('independent\n');
    const bad = await bake(['--build-context', 'extra=target:mid', 'mid'], 'build');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/target: names a bake target/);
  });

  it('a failing middle target stops its dependent, not the independent one; the exit code and summary say which', async () => {
    writeFileSync(
      join(dir, 'failing.hcl'),
      `target "base2" {
  context = "base"
}
target "mid2" {
  context = "mid"
  contexts = { base = "target:base2" }
  dockerfile-inline = "FROM base\\nRUN echo broken >&2 && exit 3\\n"
}
target "app2" {
  context = "mid"
  contexts = { base = "target:mid2" }
  dockerfile-inline = "FROM base\\nRUN echo never > /never\\n"
}
target "other2" {
  context = "other"
}
`,
    );
    const { code, err } = await bake(['-f', 'failing.hcl', '--progress=plain', 'app2', 'other2']);
    expect(code).toBe(1);
    expect(err).toMatch(/^\[mid2\] ERROR: BUILD_STEP_FAILED: /m);
    expect(err).toMatch(/^\[mid2\] .*broken/m);
    expect(err).toMatch(/^\[app2\] SKIPPED: it needs mid2, which did not build$/m);
    expect(err).toMatch(/^\[other2\] #\d+ \[0 2\/3\] COPY other.txt \/other.txt$/m);
    const table = err.slice(err.indexOf('TARGET'));
    expect(table).toMatch(/^base2 +(built|cached) +[0-9a-f]{12} /m);
    expect(table).toMatch(/^mid2 +failed +- /m);
    expect(table).toMatch(/^app2 +skipped \(mid2 failed\) +- +- +-$/m);
    expect(table).toMatch(/^other2 +(built|cached) +[0-9a-f]{12} /m);
  });
});
