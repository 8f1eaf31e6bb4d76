// RUN --mount=type=cache as BuildKit has it: sharing=shared|locked|private
// between two `strata build` processes on one store (the RUNs write /proc/uptime
// stamps into the cache), and uid/gid/mode for a cache a non-root USER writes.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Store } from '@strata/cache';
import { runStrata, STRATA } from './support/cli-json.js';
import { loadTestImage, testImage } from './support/test-images.js';

jest.setTimeout(180_000);

const base = 'localhost/test/busybox:latest';
let dir: string;
let root: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync('/dev/shm/strata-cache-sharing-');
  root = join(dir, 'store');
  await loadTestImage(await Store.open(root), testImage('busybox', 'amd64'), base);
  env = { PATH: process.env.PATH, HOME: dir, STRATA_ROOT: root };
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The host folder of instance `n` of a cache mount with this id and no base (cache-mounts-v1/<base64url id>[.n]). */
const instanceDir = (id: string, n = 0) => join(root, 'cache-mounts-v1', Buffer.from(id).toString('base64url') + (n === 0 ? '' : `.${n}`));

function context(name: string, dockerfile: string): string {
  const ctx = join(dir, name);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  return ctx;
}

async function build(ctx: string, ...args: string[]): Promise<void> {
  const run = await runStrata(['build', '--progress=plain', ...args, ctx], { env, cwd: dir });
  if (run.code !== 0) throw new Error(`strata build failed (${run.code}):\n${run.out}\n${run.err}`);
}

/** `strata build --progress=plain` whose output can be watched while it runs. */
function buildWatched(ctx: string, ...args: string[]): { done: Promise<void>; output: () => string } {
  let output = '';
  const child = spawn(STRATA, ['build', '--progress=plain', ...args, ctx], { env, cwd: dir });
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const done = new Promise<void>((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`strata build failed (${code}):\n${output}`)))),
  );
  return { done, output: () => output };
}

async function until(what: string, ready: () => boolean): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `promise`, or a failure saying `why` after `ms`. */
async function within<T>(ms: number, promise: Promise<T>, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

const holds = (path: string, text: string) => () => existsSync(path) && readFileSync(path, 'utf8').includes(text);

/** Seconds since boot (the clock the RUNs read too) at each `WHO start|end` line of the cache's log. */
function stamps(log: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of log.trim().split('\n')) {
    const [who, what, up] = line.split(' ');
    out[`${who} ${what}`] = Number(up);
  }
  return out;
}

/** A RUN that stamps its start and end into the cache's log, and first runs `hold` (its own shell code). */
const stampedRun = (id: string, sharing: string, hold: string) =>
  `RUN --mount=type=cache,target=/c,id=${id},sharing=${sharing} sh -c 'read up rest < /proc/uptime; echo "$WHO start $up" >> /c/log; ${hold} read up rest < /proc/uptime; echo "$WHO end $up" >> /c/log'`;

/** Waits in a RUN (at most 60 s, then fails) until the shell condition holds. */
const waitIn = (condition: string) => `n=0; until ${condition}; do sleep 0.1; n=$((n+1)); [ $n -lt 600 ] || exit 1; done;`;

describe('RUN --mount=type=cache,sharing=', () => {
  it('shared (the default): the second build writes the cache while the first does', async () => {
    // a's RUN ends only once b's RUN has written into the same folder
    const ctx = context('pair-shared', `FROM ${base}\nARG WHO\n${stampedRun('pair-shared', 'shared', `[ "$WHO" = b ] || { ${waitIn('grep -q "b start" /c/log')} };`)}\n`);
    const a = build(ctx, '--build-arg', 'WHO=a');
    await until('a to start', holds(join(instanceDir('pair-shared'), 'log'), 'a start'));
    await Promise.all([a, build(ctx, '--build-arg', 'WHO=b')]);
    const t = stamps(readFileSync(join(instanceDir('pair-shared'), 'log'), 'utf8'));
    expect(t['b start']).toBeLessThan(t['a end'] as number);
  });

  it('locked: the second build waits until the first RUN has released the cache', async () => {
    // a's RUN holds the cache until the test writes /c/go, which it does once b says it waits
    const cache = instanceDir('pair-locked');
    const ctx = context('pair-locked', `FROM ${base}\nARG WHO\n${stampedRun('pair-locked', 'locked', `${waitIn('[ -e /c/go ]')} sleep 0.5;`)}\n`);
    const a = build(ctx, '--build-arg', 'WHO=a');
    await until('a to start', holds(join(cache, 'log'), 'a start'));
    const b = buildWatched(ctx, '--build-arg', 'WHO=b');
    await until('b to wait', () => b.output().includes('waiting for cache mount pair-locked (sharing=locked): another RUN is using it'));
    expect(readFileSync(join(cache, 'log'), 'utf8')).not.toContain('b start');
    writeFileSync(join(cache, 'go'), '');
    await Promise.all([a, b.done]);
    const t = stamps(readFileSync(join(cache, 'log'), 'utf8'));
    expect(t['b start']).toBeGreaterThanOrEqual(t['a end'] as number);
    expect(t['b end']).toBeGreaterThanOrEqual(t['b start'] as number);
  });

  it('locked: a RUN that mounts one cache twice holds it once (it does not wait for itself)', async () => {
    const ctx = context('twice', `FROM ${base}\nRUN --mount=type=cache,id=twice,target=/a,sharing=locked --mount=type=cache,id=twice,target=/b,sharing=locked sh -c 'echo hi > /a/f && cat /b/f'\n`);
    const b = buildWatched(ctx);
    await within(20_000, b.done, () => `the RUN waits for itself:\n${b.output()}`);
    expect(b.output()).not.toContain('waiting for cache mount');
    expect(readFileSync(join(instanceDir('twice'), 'f'), 'utf8')).toBe('hi\n');
  });

  it('locked: caches are held in one order, so RUNs listing them in opposite orders cannot deadlock', async () => {
    // h holds x; b mounts y then x and waits for x: it must not hold y meanwhile, so d (y alone) runs now
    const x = instanceDir('order-x');
    const h = build(context('order-h', `FROM ${base}\nARG WHO\n${stampedRun('order-x', 'locked', `${waitIn('[ -e /c/go ]')}`)}\n`), '--build-arg', 'WHO=h');
    await until('h to start', holds(join(x, 'log'), 'h start'));
    const b = buildWatched(context('order-b', [
      `FROM ${base}`,
      'RUN --mount=type=cache,id=order-y,target=/y,sharing=locked --mount=type=cache,id=order-x,target=/x,sharing=locked sh -c \'echo b >> /y/log; echo b >> /x/log\'',
      '',
    ].join('\n')));
    await until('b to wait', () => b.output().includes('waiting for cache mount order-x (sharing=locked)'));
    const d = build(context('order-d', `FROM ${base}\nRUN --mount=type=cache,id=order-y,target=/y,sharing=locked sh -c 'echo d >> /y/log'\n`));
    await within(20_000, d, () => 'd waited for y, which b holds while it waits for x');
    writeFileSync(join(x, 'go'), '');
    await Promise.all([h, b.done]);
    expect(readFileSync(join(instanceDir('order-y'), 'log'), 'utf8')).toBe('d\nb\n');
  });

  it('private: a concurrent user gets a fresh copy of its own; the next user takes the first again', async () => {
    const id = 'solo';
    const ctx = context('private', [
      `FROM ${base}`,
      'ARG WHO',
      // a holds its copy until the test writes /c/go, after b's whole build
      `RUN --mount=type=cache,target=/c,id=${id},sharing=private sh -c 'list=$(ls /c); echo "$list" > /c/seen-by-$WHO; echo $WHO > /c/owner; [ "$WHO" != a ] || { ${waitIn('[ -e /c/go ]')} }; rm -f /c/go'`,
      '',
    ].join('\n'));
    const a = build(ctx, '--build-arg', 'WHO=a');
    await until('a to start', holds(join(instanceDir(id), 'owner'), 'a'));
    await build(ctx, '--build-arg', 'WHO=b');
    writeFileSync(join(instanceDir(id), 'go'), '');
    await a;
    expect(readFileSync(join(instanceDir(id, 1), 'owner'), 'utf8')).toBe('b\n');
    // b's copy started empty: nothing of a's
    expect(readFileSync(join(instanceDir(id, 1), 'seen-by-b'), 'utf8')).toBe('\n');
    expect(readFileSync(join(instanceDir(id), 'owner'), 'utf8')).toBe('a\n');
    // nobody holds either now: the next build takes the first instance
    await build(ctx, '--build-arg', 'WHO=c');
    expect(readFileSync(join(instanceDir(id), 'seen-by-c'), 'utf8').split('\n')).toEqual(['owner', 'seen-by-a', '']);
    expect(readdirSync(join(root, 'cache-mounts-v1')).filter((n) => n.startsWith(Buffer.from(id).toString('base64url'))).length).toBe(2);
  });
});

describe('RUN --mount=type=cache,uid=,gid=,mode=', () => {
  it('makes the cache folder with that owner and mode, writable by USER 1000', async () => {
    const ctx = context('uid', [
      `FROM ${base}`,
      'USER 1000:1000',
      "RUN --mount=type=cache,target=/home/app/.cache,uid=1000,gid=1000,mode=0750 sh -c 'id -u > /home/app/.cache/who && mkdir /home/app/.cache/pip'",
      "RUN --mount=type=cache,target=/home/app/.cache,id=/home/app/.cache,uid=1000,gid=1000,mode=0750 sh -c 'cat /home/app/.cache/who > /dev/null && touch /home/app/.cache/again'",
      '',
    ].join('\n'));
    await build(ctx);
    const name = Buffer.from(JSON.stringify(['/home/app/.cache', 'scratch', '/cache', 1000, 1000, 0o750])).toString('base64url');
    const folder = join(root, 'cache-mounts-v1', name);
    const facts = statSync(folder);
    expect([facts.uid, facts.gid, facts.mode & 0o7777]).toEqual([1000, 1000, 0o750]);
    expect(readFileSync(join(folder, 'who'), 'utf8')).toBe('1000\n');
    expect(statSync(join(folder, 'pip')).uid).toBe(1000);
    // the same id and settings is the same cache
    expect(existsSync(join(folder, 'again'))).toBe(true);
  });

  it('with from= and the source at the root: the stage\'s /cache, else a new folder with the settings (BuildKit\'s mkdir /cache)', async () => {
    const ctx = context('uid-from', [
      `FROM ${base} AS seed`,
      'RUN mkdir /cache && echo seeded > /cache/s && chmod 0711 /cache',
      `FROM ${base} AS bare`,
      `FROM ${base}`,
      "RUN --mount=type=cache,from=seed,target=/x,uid=1000,mode=0700 sh -c 'cat /x/s > /from-seed.txt; stat -c %a /x >> /from-seed.txt'",
      "RUN --mount=type=cache,from=bare,target=/y,uid=1000,mode=0700 sh -c 'stat -c \"%u %a\" /y > /from-bare.txt; ls -A /y >> /from-bare.txt'",
      "RUN cat /from-seed.txt /from-bare.txt",
      '',
    ].join('\n'));
    const run = await runStrata(['build', '--progress=plain', ctx], { env, cwd: dir });
    expect(run.code).toBe(0);
    // the seed's own /cache, as it was (its mode kept); a new folder owned and moded as asked
    expect(run.err + run.out).toMatch(/ seeded\n#\d+ [0-9.]+ 711\n#\d+ [0-9.]+ 1000 700\n/);
  });
});
